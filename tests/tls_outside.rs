//! The TLS endpoint checked from outside, with tools that did not come from
//! this project (fault matrix S10): `openssl s_client` finds only TLS 1.2 and
//! 1.3, only AEAD suites among every TLS 1.2 suite it knows, a client
//! certificate required, and a renegotiation request refused; SSLv3, TLS 1.0
//! and 1.1 are refused wherever the local openssl can still offer them. Hand-made
//! ClientHellos cover what a modern openssl no longer sends (SSLv3, RC4, 3DES,
//! export and NULL suites) and need no openssl. A client that sends part of a
//! ClientHello and hangs up, or closes right after it, costs the node no CPU
//! and leaves it serving (S11).

mod common;
mod tls_fixtures;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::erl::OtpEpmd;
use common::rust::TestNode;
use tls_fixtures::*;

fn openssl_available() -> bool {
    let found = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    if !found {
        common::skip("", "openssl is not installed");
    }
    found
}

/// Whether the local `openssl s_client` has the option `flag` (builds
/// without SSLv3, for one, have no `-ssl3`).
fn s_client_has_option(flag: &str) -> bool {
    let help = Command::new("openssl").args(["s_client", "-help"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&help.stdout), String::from_utf8_lossy(&help.stderr));
    text.split_whitespace().any(|w| w == flag)
}

/// Runs `openssl s_client` against `port` with `args`; true when a TLS
/// session was established and survived the first exchange.
fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    s_client_wait(port, args, Duration::from_millis(500))
}

fn s_client_command(port: u16, args: &[&str]) -> Command {
    let mut command = Command::new("openssl");
    command.args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"]).args(args);
    command
}

fn established(text: &str) -> bool {
    text.contains("Cipher is") && !text.contains("Cipher is (NONE)") && !text.contains("alert")
}

/// [`s_client`], hanging up after `wait`.
fn s_client_wait(port: u16, args: &[&str], wait: Duration) -> (bool, String) {
    let mut child = s_client_command(port, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    // Say nothing and hang up: the handshake (and, under TLS 1.3, the server's
    // verdict on our certificate) happens meanwhile.
    std::thread::sleep(wait);
    drop(child.stdin.take());
    let text = finish(child, Duration::from_secs(10));
    (established(&text), text)
}

/// Waits (bounded) for `child` to exit, kills it past `limit`, and returns its output.
fn finish(mut child: std::process::Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// What became of one `s_client -msg` attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A session was set up.
    Accepted,
    /// Our ClientHello went out and the server answered with a fatal alert.
    RefusedByServer,
    /// openssl would not send a ClientHello at all (a PSK or SRP suite
    /// without a PSK or SRP login, say): this probe says nothing.
    NotOffered,
}

/// Classifies the `-msg` transcript of one attempt; panics on anything else.
fn outcome(text: &str) -> Outcome {
    let sent_hello = text.lines().any(|l| l.starts_with(">>> ") && l.ends_with("ClientHello"));
    let fatal_from_server = text.lines().any(|l| l.starts_with("<<< ") && l.contains("Alert") && l.contains("fatal"));
    if !sent_hello {
        Outcome::NotOffered
    } else if fatal_from_server {
        Outcome::RefusedByServer
    } else if established(text) {
        Outcome::Accepted
    } else {
        panic!("neither accepted nor refused with an alert:\n{text}")
    }
}

/// A TLS node for openssl to probe, and a client certificate it accepts.
struct Outside {
    epmd: OtpEpmd,
    pki: Pki,
    name: String,
    server: TestNode,
    cert: String,
    key: String,
    ca: String,
}

impl Outside {
    fn start(configure: impl FnOnce(beamlink::node::NodeBuilder) -> beamlink::node::NodeBuilder) -> Outside {
        let epmd = OtpEpmd::start();
        let pki = Pki::new();
        let name = short("outside");
        pki.issue(&name);
        let server = tls_node(&name, epmd.port, &pki.transport(&name), configure);
        let client = short("client");
        pki.issue(&client);
        let (cert, key) = pki.files(&client);
        let (cert, key, ca) = (cert.display().to_string(), key.display().to_string(), pki.ca().display().to_string());
        Outside { epmd, pki, name, server, cert, key, ca }
    }

    fn port(&self) -> u16 {
        self.server.node.listen_addr().unwrap().port()
    }

    /// `-cert`, `-key` and `-CAfile`, then `more`.
    fn with_cert<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        [&["-cert", self.cert.as_str(), "-key", self.key.as_str(), "-CAfile", self.ca.as_str()][..], more].concat()
    }

    /// One TLS 1.2 attempt offering only `suite`, with a `-msg` transcript.
    /// TLS 1.2 settles within the handshake, so stdin is closed from the start.
    /// A PSK or SRP suite is sent only with a PSK or an SRP login to go with
    /// it (made up: the server has neither).
    fn probe_tls12_suite(&self, suite: &Suite) -> (Outcome, String) {
        let cipher = format!("{}:@SECLEVEL=0", suite.name);
        let mut args = self.with_cert(&["-tls1_2", "-msg", "-cipher", &cipher]);
        if suite.kx.contains("PSK") {
            args.extend(["-psk", "0123456789abcdef0123456789abcdef"]);
        }
        if suite.kx == "SRP" {
            args.extend(["-srpuser", "probe", "-srppass", "probe-password"]);
        }
        let child = s_client_command(self.port(), &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        let text = finish(child, Duration::from_secs(10));
        let result = outcome(&text);
        if result == Outcome::Accepted {
            assert!(
                text.contains(&format!("Cipher is {}", suite.name)),
                "{} asked, another settled:\n{text}",
                suite.line
            );
        }
        (result, text)
    }
}

/// One line of `openssl ciphers -v`: the suite, and whether openssl calls it AEAD.
struct Suite {
    name: String,
    /// The key exchange (`Kx=`).
    kx: String,
    aead: bool,
    line: String,
}

/// Every suite the local openssl knows that can run under TLS 1.2 (those of
/// SSLv3 and TLS 1.0 included), at security level 0, NULL ciphers and all.
fn tls12_suites() -> Vec<Suite> {
    let out = Command::new("openssl").args(["ciphers", "-v", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"]).output().unwrap();
    assert!(out.status.success(), "openssl ciphers: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, protocol) = (*fields.first()?, *fields.get(1)?);
            let kx = fields.iter().find_map(|f| f.strip_prefix("Kx="))?;
            (protocol != "TLSv1.3").then(|| Suite {
                name: name.to_string(),
                kx: kx.to_string(),
                aead: fields.contains(&"Mac=AEAD"),
                line: line.split_whitespace().collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

#[test]
fn only_modern_protocols_and_aead_suites_and_a_client_certificate_is_required() {
    if !openssl_available() {
        return;
    }
    let o = Outside::start(|b| b);
    let port = o.port();

    // With a client certificate: TLS 1.3 and TLS 1.2 work.
    let (ok, text) = s_client(port, &o.with_cert(&["-tls1_3"]));
    assert!(ok && text.contains("TLSv1.3"), "TLS 1.3 with a certificate:\n{text}");
    let (ok, text) = s_client(port, &o.with_cert(&["-tls1_2"]));
    assert!(ok && text.contains("TLSv1.2"), "TLS 1.2 with a certificate:\n{text}");

    // Old protocol versions are refused, each one the local openssl can still send.
    for (flag, version, on_the_wire) in
        [("-ssl3", "SSLv3", "SSL 3.0"), ("-tls1", "TLS 1.0", "TLS 1.0"), ("-tls1_1", "TLS 1.1", "TLS 1.1")]
    {
        if !s_client_has_option(flag) {
            eprintln!(
                "{version} not probed with openssl: the local openssl has no {flag} (the raw ClientHello test covers it)"
            );
            continue;
        }
        let (ok, text) = s_client(port, &o.with_cert(&[flag, "-msg", "-cipher", "ALL:@SECLEVEL=0"]));
        let hello = format!(">>> {on_the_wire}, Handshake");
        if !text.lines().any(|l| l.starts_with(&hello) && l.ends_with("ClientHello")) {
            eprintln!("{version} not probed with openssl: the local openssl sent no {version} ClientHello:\n{text}");
            continue;
        }
        assert!(!ok && outcome(&text) == Outcome::RefusedByServer, "{version} was not refused:\n{text}");
    }

    // Every TLS 1.2 suite the local openssl knows, one at a time: the ones
    // accepted are all AEAD suites (as openssl classifies them).
    let suites = tls12_suites();
    let (mut accepted, mut refused, mut not_offered) = (Vec::new(), Vec::new(), Vec::new());
    for suite in &suites {
        let (result, text) = o.probe_tls12_suite(suite);
        match result {
            Outcome::Accepted => {
                assert!(suite.aead, "non-AEAD suite accepted: {}\n{text}", suite.line);
                accepted.push(suite);
            }
            Outcome::RefusedByServer => refused.push(suite),
            Outcome::NotOffered => not_offered.push(suite),
        }
    }
    assert!(!accepted.is_empty(), "no TLS 1.2 suite accepted at all");
    let names = |list: &[&Suite]| list.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert!(
        accepted.iter().all(|s| s.name.contains("GCM") || s.name.contains("CHACHA20")),
        "accepted: {:?}",
        names(&accepted)
    );
    // openssl sent a ClientHello for every suite but, at most, PSK and SRP
    // ones its build cannot send.
    assert!(
        not_offered.iter().all(|s| s.kx.contains("PSK") || s.kx == "SRP"),
        "openssl did not send these suites: {:?}",
        names(&not_offered)
    );
    // The refusals span what matters: CBC with SHA-1 and SHA-2 MACs, RSA key
    // exchange, and no encryption at all.
    for (what, found) in [
        (
            "a CBC suite with a SHA-1 MAC",
            refused.iter().any(|s| s.line.contains("Enc=AES(") && s.line.contains("Mac=SHA1")),
        ),
        ("a CBC suite with a SHA-256 MAC", refused.iter().any(|s| s.line.contains("Mac=SHA256"))),
        ("an RSA key exchange suite", refused.iter().any(|s| s.line.contains("Kx=RSA "))),
        ("a NULL cipher suite", refused.iter().any(|s| s.line.contains("Enc=None"))),
    ] {
        assert!(found, "no {what} was offered and refused; refused: {:?}", names(&refused));
    }
    if !suites.iter().any(|s| s.line.contains("RC4") || s.line.contains("3DES") || s.line.contains("DES-CBC3")) {
        eprintln!(
            "RC4 and 3DES not probed with openssl: the local openssl knows no such suite (the raw ClientHello test covers them)"
        );
    }
    eprintln!(
        "{} TLS 1.2 suites: accepted {:?}; {} refused by the server; not sent by openssl: {:?}",
        suites.len(),
        names(&accepted),
        refused.len(),
        names(&not_offered)
    );
    // The server still accepts after all those refusals: they were about the suites.
    let (result, text) = o.probe_tls12_suite(accepted[0]);
    assert_eq!(result, Outcome::Accepted, "{text}");

    // Without a client certificate the server refuses, under either version.
    for version in ["-tls1_3", "-tls1_2"] {
        let (ok, text) = s_client(port, &["-CAfile", o.ca.as_str(), version]);
        assert!(!ok, "no client certificate, {version}, was accepted:\n{text}");
    }
    good_peer_reaches(&o.pki, &o.name, o.epmd.port);
}

#[test]
fn a_renegotiation_request_is_refused() {
    if !openssl_available() {
        return;
    }
    // The node drops a TLS client that never starts the distribution
    // handshake after this long; the renegotiation is asked well before.
    let o = Outside::start(|b| b.handshake_timeout(Duration::from_secs(3)));
    let mut child = s_client_command(o.port(), &o.with_cert(&["-tls1_2", "-msg"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    // Both streams, as they come (`RENEGOTIATING` goes to stderr).
    let transcript = Arc::new(Mutex::new(String::new()));
    let collect = |mut from: Box<dyn Read + Send>| {
        let transcript = transcript.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                transcript.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let readers = [collect(Box::new(child.stdout.take().unwrap())), collect(Box::new(child.stderr.take().unwrap()))];
    let text = || transcript.lock().unwrap().clone();
    // Once the session is up, `R` on s_client's stdin asks for a renegotiation.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text().contains("Verify return code") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(text().contains("Cipher is ECDHE-"), "no TLS 1.2 session:\n{}", text());
    child.stdin.as_mut().unwrap().write_all(b"R\n").unwrap();
    // The node closes the connection by its handshake timeout (no distribution handshake came).
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    readers.into_iter().for_each(|r| r.join().unwrap());
    let text = text();
    assert!(exited, "the connection stayed open 10 s after the renegotiation request:\n{text}");

    let count = |from: &str, what: &str| text.lines().filter(|l| l.starts_with(from) && l.ends_with(what)).count();
    assert!(text.contains("RENEGOTIATING"), "s_client did not ask:\n{text}");
    assert_eq!(count(">>> ", "ClientHello"), 2, "the renegotiating ClientHello was not sent:\n{text}");
    assert_eq!(count("<<< ", "ServerHello"), 1, "the server answered the renegotiation:\n{text}");
    assert_eq!(count("<<< ", "Certificate"), 1, "the server sent its certificate again:\n{text}");
    good_peer_reaches(&o.pki, &o.name, o.epmd.port);
}

// --- Hand-made ClientHellos (no openssl needed) ---------------------------

const ECDHE_ECDSA_AES128_GCM_SHA256: u16 = 0xc02b;

/// A ClientHello record: record-layer version `record`, `client_version`,
/// the cipher `suites`, no compression, and the extensions an ECDHE-ECDSA
/// TLS 1.2 server needs (supported groups, point formats, signature
/// algorithms, extended master secret, renegotiation info).
fn client_hello(record: u16, client_version: u16, suites: &[u16]) -> Vec<u8> {
    fn u16s(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }
    fn with_len16(body: &[u8]) -> Vec<u8> {
        [&(body.len() as u16).to_be_bytes()[..], body].concat()
    }
    fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
        [&kind.to_be_bytes()[..], &with_len16(body)].concat()
    }
    let extensions = [
        extension(0x000a, &with_len16(&u16s(&[0x001d, 0x0017]))),
        extension(0x000b, &[1, 0]),
        extension(0x000d, &with_len16(&u16s(&[0x0403, 0x0804, 0x0401]))),
        extension(0x0017, &[]),
        extension(0xff01, &[0]),
    ]
    .concat();
    let mut random = [0u8; 32];
    random.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let body = [
        &client_version.to_be_bytes()[..],
        &random,
        &[0],
        &with_len16(&u16s(suites)),
        &[1, 0],
        &with_len16(&extensions),
    ]
    .concat();
    let handshake = [&[1u8][..], &(body.len() as u32).to_be_bytes()[1..], &body].concat();
    [&[0x16u8][..], &record.to_be_bytes(), &with_len16(&handshake)].concat()
}

/// The server's first record in answer to `hello`: (content type, its first two bytes).
fn first_answer(addr: std::net::SocketAddr, hello: &[u8]) -> (u8, [u8; 2]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(hello).unwrap();
    let mut head = [0u8; 7];
    s.read_exact(&mut head).unwrap_or_else(|e| panic!("no answer to the ClientHello: {e}"));
    (head[0], [head[5], head[6]])
}

const ALERT: u8 = 0x15;
const HANDSHAKE: u8 = 0x16;
const FATAL: u8 = 2;
const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;
const SERVER_HELLO: u8 = 2;

#[test]
fn hand_made_hellos_for_old_versions_and_legacy_suites_are_refused() {
    let pki = Pki::new();
    let name = short("rawhello");
    pki.issue(&name);
    let localhost = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = tls_node(&name, common::free_port(), &pki.transport(&name), |b| b.publish(false).listen(localhost));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.node.listen_addr().unwrap().port()));

    // The control: the same hello with an AEAD suite gets a ServerHello.
    let good = client_hello(0x0301, 0x0303, &[ECDHE_ECDSA_AES128_GCM_SHA256]);
    assert_eq!(first_answer(addr, &good), (HANDSHAKE, [SERVER_HELLO, 0]));

    // SSLv3, TLS 1.0 and 1.1, even with the AEAD suite on offer.
    for (version, name) in [(0x0300u16, "SSLv3"), (0x0301, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        let hello = client_hello(version, version, &[ECDHE_ECDSA_AES128_GCM_SHA256, 0x002f, 0x000a, 0x0005]);
        assert_eq!(first_answer(addr, &hello), (ALERT, [FATAL, PROTOCOL_VERSION]), "{name}");
    }

    // TLS 1.2 offering only legacy suites, one at a time.
    for (suite, name) in [
        (0x0004u16, "RC4-MD5"),
        (0x0005, "RC4-SHA"),
        (0xc007, "ECDHE-ECDSA-RC4-SHA"),
        (0xc011, "ECDHE-RSA-RC4-SHA"),
        (0x000a, "DES-CBC3-SHA"),
        (0xc008, "ECDHE-ECDSA-DES-CBC3-SHA"),
        (0xc012, "ECDHE-RSA-DES-CBC3-SHA"),
        (0x0003, "EXP-RC4-MD5"),
        (0x0008, "EXP-DES-CBC-SHA"),
        (0x0009, "DES-CBC-SHA"),
        (0x0001, "NULL-MD5"),
        (0x0002, "NULL-SHA"),
        (0xc006, "ECDHE-ECDSA-NULL-SHA"),
        (0x002f, "AES128-SHA"),
        (0x009c, "AES128-GCM-SHA256 (RSA key exchange)"),
        (0xc009, "ECDHE-ECDSA-AES128-SHA"),
        (0xc023, "ECDHE-ECDSA-AES128-SHA256"),
        (0xc0ac, "ECDHE-ECDSA-AES128-CCM"),
    ] {
        let hello = client_hello(0x0301, 0x0303, &[suite]);
        assert_eq!(first_answer(addr, &hello), (ALERT, [FATAL, HANDSHAKE_FAILURE]), "{name}");
    }

    // And the node still answers a good hello.
    assert_eq!(first_answer(addr, &good), (HANDSHAKE, [SERVER_HELLO, 0]));
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
    // Count the node's CPU no sooner than 2 s on, and only once it has let
    // go of all 200 (bounded by its TLS handshake timeout of 5 s, with room):
    // none of its ends of them is still open, or closed by us and not yet by
    // the node.
    std::thread::sleep(Duration::from_secs(2));
    common::wait_for("the node to close the truncated handshakes", Duration::from_secs(15), || {
        let held = common::tcp_sockets().into_iter().filter(|s| {
            s.local_port == info.port && [common::TCP_ESTABLISHED, common::TCP_CLOSE_WAIT].contains(&s.state)
        });
        (held.count() == 0).then_some(())
    });
    let used = cpu_seconds(serve.pid()) - before;
    assert!(used < 1.0, "200 truncated handshakes cost the node {used:.2} CPU seconds");
    good_peer_reaches(&pki, &name, epmd.port);
    drop(serve);
}
