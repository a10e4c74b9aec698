//! The TLS endpoint checked from outside, with a tool that did not come from
//! this project (`openssl s_client`): only TLS 1.2 and 1.3, only AEAD suites,
//! a client certificate required (fault matrix S10); and a client that sends
//! part of a ClientHello and hangs up, or closes right after it, costs the
//! node no CPU and leaves it serving (S11).

mod common;
mod tls_fixtures;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::erl::OtpEpmd;
use tls_fixtures::*;

fn openssl_available() -> bool {
    let found = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    if !found {
        eprintln!("skipping: openssl is not installed");
    }
    found
}

/// Runs `openssl s_client` against `port` with `args`; true when a TLS
/// session was established and survived the first exchange.
fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    s_client_wait(port, args, Duration::from_millis(500))
}

/// [`s_client`], hanging up after `wait`.
fn s_client_wait(port: u16, args: &[&str], wait: Duration) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    // Say nothing and hang up: the handshake (and, under TLS 1.3, the server's
    // verdict on our certificate) happens meanwhile.
    std::thread::sleep(wait);
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let established = text.contains("Cipher is") && !text.contains("Cipher is (NONE)") && !text.contains("alert");
    (established, text)
}

#[test]
fn only_modern_protocols_and_aead_suites_and_a_client_certificate_is_required() {
    if !openssl_available() {
        return;
    }
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let name = short("outside");
    pki.issue(&name);
    let server = tls_node(&name, epmd.port, &pki.transport(&name), |b| b);
    let port = server.node.listen_addr().unwrap().port();
    let client = short("client");
    let (cert, key) = {
        pki.issue(&client);
        pki.files(&client)
    };
    let (cert, key, ca) = (cert.display().to_string(), key.display().to_string(), pki.ca().display().to_string());
    let with_cert = ["-cert", cert.as_str(), "-key", key.as_str(), "-CAfile", ca.as_str()];

    // With a client certificate: TLS 1.3 and TLS 1.2 work.
    let (ok, text) = s_client(port, &[&with_cert[..], &["-tls1_3"]].concat());
    assert!(ok && text.contains("TLSv1.3"), "TLS 1.3 with a certificate:\n{text}");
    let (ok, text) = s_client(port, &[&with_cert[..], &["-tls1_2"]].concat());
    assert!(ok && text.contains("TLSv1.2"), "TLS 1.2 with a certificate:\n{text}");

    // Old protocol versions are refused.
    for old in ["-tls1_1", "-tls1"] {
        let (ok, text) = s_client(port, &[&with_cert[..], &[old, "-cipher", "ALL:@SECLEVEL=0"]].concat());
        assert!(!ok, "{old} was accepted:\n{text}");
    }
    // Every TLS 1.2 suite the server accepts is an AEAD suite (GCM or ChaCha20-Poly1305).
    let list = Command::new("openssl").args(["ciphers", "ALL:@SECLEVEL=0"]).output().unwrap();
    let suites: Vec<String> = String::from_utf8_lossy(&list.stdout).trim().split(':').map(str::to_string).collect();
    let mut accepted = Vec::new();
    for suite in suites.iter().filter(|s| s.starts_with("ECDHE-")) {
        // TLS 1.2 settles within the handshake itself: no need to linger.
        let args = [&with_cert[..], &["-tls1_2", "-cipher", suite.as_str()]].concat();
        let (ok, _) = s_client_wait(port, &args, Duration::from_millis(100));
        if ok {
            accepted.push(suite.clone());
        }
    }
    assert!(!accepted.is_empty(), "no TLS 1.2 suite accepted at all");
    for suite in &accepted {
        assert!(suite.contains("GCM") || suite.contains("CHACHA20"), "non-AEAD suite {suite} accepted (all: {accepted:?})");
    }

    // Without a client certificate the server refuses, under either version.
    for version in ["-tls1_3", "-tls1_2"] {
        let (ok, text) = s_client(port, &["-CAfile", ca.as_str(), version]);
        assert!(!ok, "no client certificate, {version}, was accepted:\n{text}");
    }
    good_peer_reaches(&pki, &name, epmd.port);
}

/// CPU seconds used so far by process `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
fn truncated_handshakes_and_early_closes_cost_nothing() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let name = short("trunc");
    pki.issue(&name);
    let (cert, key) = pki.files(&name);
    let serve = common::rust::BeamlinkProcess::start(
        &[
            "serve",
            "--sname",
            &name,
            "--cookie",
            COOKIE,
            "--ca",
            &pki.ca().display().to_string(),
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
        ],
        epmd.port,
    );
    // Where does it listen? Ask EPMD.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alive = name.split('@').next().unwrap().to_string();
    let info = rt
        .block_on(beamlink::epmd::client::EpmdClient::new("127.0.0.1", epmd.port).port_please(&alive))
        .unwrap()
        .expect("registered");
    // A real ClientHello's first bytes: a TLS record header announcing 512 bytes, then a few of them.
    let partial: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    let before = cpu_seconds(serve.pid());
    // From 127.0.0.2: the node puts that address in back-off after a few
    // failures, and the good peer below comes from 127.0.0.1.
    rt.block_on(async {
        for round in 0..200 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let Ok(mut s) = socket.connect(([127, 0, 0, 1], info.port).into()).await else { continue };
            if round % 2 == 0 {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, partial).await;
            }
            // Half-close (like a close_notify with no session) or hang up at once.
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut s).await;
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(serve.pid()) - before;
    assert!(used < 1.0, "200 truncated handshakes cost the node {used:.2} CPU seconds");
    good_peer_reaches(&pki, &name, epmd.port);
    drop(serve);
}
