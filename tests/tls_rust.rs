//! Rust nodes over mutual TLS with each other: messages, calls and pings in
//! both directions, the node-identity policies (strict, host, none), key
//! types and TLS versions, configuration errors, and certificate expiry.

mod common;
mod tls_fixtures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use beamlink::certs::KeyAlgorithm;
use beamlink::node::RpcException;
use beamlink::pki::{CertInfo, VerifyName, load_certs};
use beamlink::proto::NodeName;
use beamlink::term::Term;
use beamlink::transport::tls::{TlsConfig, TlsError, TlsSuite, TlsTransport, TlsVersion};
use beamlink::transport::{PeerIdentity, SetupTimeouts, Transport};
use common::erl::OtpEpmd;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(20);

/// Sends `{self(), Msg}` to `echo` on `to` from `from` and returns the reply.
fn echo(from: &common::rust::TestNode, to: &str, msg: Term) -> Term {
    let node = from.node.clone();
    let to = to.to_string();
    from.run(T, async move {
        let mut p = node.process();
        let me = Term::Pid(p.pid().clone());
        p.send_named("echo", &to, Term::Tuple(vec![me, msg])).await.expect("send");
        p.recv_timeout(T).await.expect("alive").expect("an echo within the limit")
    })
}

#[test]
fn two_rust_tls_nodes_talk_in_both_directions() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (a, b) = (short("rta"), short("rtb"));
    pki.issue(&a);
    pki.issue_with(&b, |o| o.key(KeyAlgorithm::Ed25519));
    let node_a = tls_node(&a, epmd.port, &pki.transport(&a), |b| b);
    let node_b = tls_node(&b, epmd.port, &pki.transport(&b), |b| b);
    assert_eq!(node_a.node.transport_name(), "tls");
    beamlink::node::services::echo::start(&node_a.node, "echo").unwrap();
    beamlink::node::services::echo::start(&node_b.node, "echo").unwrap();
    node_b.node.register_rpc("calc", "add", 2, |args: Vec<Term>| async move {
        match (args[0].as_i64(), args[1].as_i64()) {
            (Some(x), Some(y)) => Ok(Term::from(x + y)),
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        }
    });

    // a dials b (an ECDSA node and an Ed25519 node; RSA is covered below).
    assert!(node_a.run(T, node_a.node.ping(&b)), "a -> b ping");
    let msg = Term::Tuple(vec![Term::atom("hello"), Term::binary(vec![7u8; 100_000])]);
    assert_eq!(echo(&node_a, &b, msg.clone()), msg);
    let sum = node_a.run(T, node_a.node.rpc_call(&b, "calc", "add", vec![Term::from(40), Term::from(2)], T));
    assert_eq!(sum.unwrap(), Term::from(42));

    // Close that connection; now b dials a.
    assert!(node_a.node.disconnect(&b));
    common::wait_for("both sides to drop the connection", T, || {
        let gone =
            |n: &common::rust::TestNode, peer: &str| !n.node.connected_nodes().iter().any(|p| p.as_str() == peer);
        (gone(&node_a, &b) && gone(&node_b, &a)).then_some(())
    });
    assert!(node_b.run(T, node_b.node.ping(&a)), "b -> a ping");
    assert_eq!(echo(&node_b, &a, Term::atom("back")), Term::atom("back"));
}

/// The leaf and chain of `node`'s certificate as a TLS peer would present it.
fn identity_of(pki: &Pki, node: &str) -> PeerIdentity {
    let (cert, _) = pki.files(node);
    let chain: Vec<Vec<u8>> = load_certs(&cert).unwrap().iter().map(|c| c.as_ref().to_vec()).collect();
    PeerIdentity::Certificate(Arc::new(chain))
}

#[test]
fn identity_policies_bind_the_claimed_name_to_the_certificate() {
    let pki = Pki::new();
    pki.issue("judge@localhost");
    pki.issue("alice@localhost");
    pki.issue("alice@otherhost");
    pki.issue("ip@127.0.0.1");
    pki.issue_with("cnonly@localhost", |o| o.without_subject_alt_names());
    let judge = |policy| TlsTransport::new(pki.config("judge@localhost").verify_name(policy)).unwrap();
    let (strict, host, none) = (judge(VerifyName::Strict), judge(VerifyName::Host), judge(VerifyName::None));
    let name = |n: &str| NodeName::new(n).unwrap();

    // (certificate, claimed name, strict, host, none)
    let table = [
        ("alice@localhost", "alice@localhost", true, true, true),
        ("alice@localhost", "mallory@localhost", false, true, true),
        ("alice@otherhost", "mallory@localhost", false, false, true),
        ("alice@otherhost", "alice@localhost", false, false, true),
        ("ip@127.0.0.1", "ip@127.0.0.1", true, true, true),
        ("ip@127.0.0.1", "other@127.0.0.1", false, true, true),
        ("ip@127.0.0.1", "ip@127.0.0.2", false, false, true),
        // No subjectAltName: the subject commonName is not a node name (fault matrix S8).
        ("cnonly@localhost", "cnonly@localhost", false, false, true),
    ];
    for (cert, claimed, want_strict, want_host, want_none) in table {
        let id = identity_of(&pki, cert);
        for (transport, want, policy) in
            [(&strict, want_strict, "strict"), (&host, want_host, "host"), (&none, want_none, "none")]
        {
            let got = transport.authorize(&id, &name(claimed));
            assert_eq!(got.is_ok(), want, "{cert} claiming {claimed} under {policy}: {got:?}");
            if let Err(e) = got {
                let text = e.to_string();
                assert!(text.contains(&format!("peer {claimed} presented a certificate for")), "{text}");
                assert!(text.contains(&format!("(verify-name {policy})")), "{text}");
                assert!(text.contains(&format!("\"CN={cert}\"")) && text.contains("serial"), "{text}");
            }
        }
    }
    let err = strict.authorize(&identity_of(&pki, "alice@localhost"), &name("mallory@localhost")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("peer mallory@localhost presented a certificate for alice@localhost (verify-name strict)"),
        "{err}"
    );
    // A certificate made for OTP names the host only: strict refuses it,
    // and points at host binding.
    dns_only_certificate(&pki, "otponly@localhost");
    let err = strict.authorize(&identity_of(&pki, "otponly@localhost"), &name("otponly@localhost")).unwrap_err();
    assert!(err.to_string().contains("names no node") && err.to_string().contains("--verify-name host"), "{err}");
    assert!(strict.authorize(&PeerIdentity::Unverified, &name("alice@localhost")).is_err());
    assert!(none.authorize(&PeerIdentity::Certificate(Arc::new(Vec::new())), &name("a@localhost")).is_ok());
    assert!(strict.authorize(&PeerIdentity::Certificate(Arc::new(Vec::new())), &name("a@localhost")).is_err());
}

#[test]
fn a_node_calling_itself_by_another_name_than_its_certificate_is_refused_both_ways() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let alice = short("alice");
    let mallory = short("mallory");
    let strict_name = short("strict");
    let host_name = short("host");
    pki.issue(&alice);
    pki.issue(&strict_name);
    pki.issue(&host_name);
    let server = |n: &str, policy| {
        let tls = TlsTransport::new(pki.config(n).verify_name(policy)).unwrap();
        tls_node(n, epmd.port, &tls, |b| b)
    };
    let strict = server(&strict_name, VerifyName::Strict);
    let host = server(&host_name, VerifyName::Host);

    // mallory listens and dials with alice's certificate.
    let (alice_cert, alice_key) = pki.files(&alice);
    let stolen = TlsTransport::new(TlsConfig::from_files(pki.ca(), &alice_cert, &alice_key)).unwrap();
    let mallory_node = tls_node(&mallory, epmd.port, &stolen, |b| b);

    // Incoming: the strict node refuses mallory, and says why.
    let _ = mallory_node.run(T, mallory_node.node.ping_detailed(&strict_name));
    let line = wait_log(&[&format!("peer {mallory} presented a certificate for {alice} (verify-name strict)")], T);
    assert!(line.contains("refused the peer's identity"), "{line}");
    assert!(!strict.node.connected_nodes().iter().any(|n| n.as_str() == mallory));
    // The host policy lets the same connection in: the host part matches.
    assert!(mallory_node.run(T, mallory_node.node.ping(&host_name)), "host policy accepts mallory@localhost");
    assert!(host.node.connected_nodes().iter().any(|n| n.as_str() == mallory));

    // Outgoing: the strict node dials mallory and refuses the answer.
    let err = strict.run(T, strict.node.connect(&mallory)).unwrap_err().to_string();
    assert!(err.contains(&format!("peer {mallory} presented a certificate for {alice} (verify-name strict)")), "{err}");
    assert!(err.contains(&format!("beamlink certs issue {mallory}")), "the error says what to do: {err}");

    good_peer_reaches(&pki, &strict_name, epmd.port);
}

async fn handshake_pair(
    server: &TlsTransport,
    client: &TlsTransport,
    server_name: &str,
) -> (Result<beamlink::transport::Established, String>, Result<beamlink::transport::Established, String>) {
    let listener = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let peer = NodeName::new(server_name).unwrap();
    let accept = async {
        let incoming = listener.accept().await.unwrap();
        incoming.finish().await.map_err(|e| e.to_string())
    };
    let connect = async { client.connect(addr, &peer, SetupTimeouts::new(T, T)).await.map_err(|e| e.to_string()) };
    let (accepted, connected) = tokio::join!(accept, connect);
    (accepted, connected)
}

fn leaf_serial(est: &beamlink::transport::Established) -> String {
    match &est.identity {
        PeerIdentity::Certificate(chain) => CertInfo::from_der(&chain[0]).unwrap().serial,
        PeerIdentity::Unverified => panic!("no certificate"),
    }
}

#[test]
fn every_key_type_and_tls_version_pairing_that_should_work_does() {
    let pki = Pki::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (node, key) in [
        ("p256@localhost", KeyAlgorithm::EcdsaP256),
        ("rsa@localhost", KeyAlgorithm::Rsa { bits: 2048 }),
        ("ed@localhost", KeyAlgorithm::Ed25519),
    ] {
        pki.issue_with(node, |o| o.key(key));
    }
    let transport =
        |node: &str, versions: &[TlsVersion]| TlsTransport::new(pki.config(node).versions(versions)).unwrap();
    let both = [TlsVersion::Tls13, TlsVersion::Tls12];
    for (server, client, sv, cv) in [
        ("p256@localhost", "rsa@localhost", &both[..], &both[..]),
        ("rsa@localhost", "ed@localhost", &both[..], &both[..]),
        ("p256@localhost", "rsa@localhost", &[TlsVersion::Tls12][..], &both[..]),
        ("rsa@localhost", "p256@localhost", &both[..], &[TlsVersion::Tls12][..]),
    ] {
        let (s, c) = (transport(server, sv), transport(client, cv));
        let (accepted, connected) = rt.block_on(handshake_pair(&s, &c, server));
        let (accepted, connected) = (accepted.unwrap(), connected.unwrap());
        assert_eq!(leaf_serial(&accepted), s_serial(&pki, client), "{server} sees {client}'s certificate");
        assert_eq!(leaf_serial(&connected), s_serial(&pki, server), "{client} sees {server}'s certificate");
    }

    // TLS 1.3 only against TLS 1.2 only: refused, and the message says so.
    let (s, c) = (transport("p256@localhost", &[TlsVersion::Tls13]), transport("rsa@localhost", &[TlsVersion::Tls12]));
    let (accepted, connected) = rt.block_on(handshake_pair(&s, &c, "p256@localhost"));
    let accepted = accepted.unwrap_err();
    assert!(accepted.contains("no TLS version in common"), "{accepted}");
    assert!(connected.is_err());
}

fn s_serial(pki: &Pki, node: &str) -> String {
    serial_of(&pki.files(node).0)
}

#[test]
fn a_server_certificate_must_name_the_dialled_host_and_ip_hosts_match_either_san_form() {
    let pki = Pki::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    pki.issue("client@localhost");
    let client = TlsTransport::new(pki.config("client@localhost")).unwrap();

    // A certificate for another host: refused by the dialler, naming host and certificate.
    pki.issue("srv@otherhost");
    let server = TlsTransport::new(pki.config("srv@otherhost")).unwrap();
    let (_, connected) = rt.block_on(handshake_pair(&server, &client, "srv@localhost"));
    let err = connected.unwrap_err();
    assert!(err.contains("refused the server's certificate \"CN=srv@otherhost\""), "{err}");
    assert!(err.contains("it is not valid for the host localhost (it names otherhost)"), "{err}");

    // 127.0.0.1 as an iPAddress entry only (what rustls matches) ...
    pki.issue_with("iponly@localhost", |o| o.ip("127.0.0.1".parse().unwrap()));
    // ... and as a dNSName only (what OTP matches).
    dns_only_certificate(&pki, "dnsonly@127.0.0.1");
    let info = CertInfo::from_file(&pki.files("dnsonly@127.0.0.1").0).unwrap();
    assert_eq!((info.dns_names.as_slice(), info.ip_addresses.as_slice()), (&["127.0.0.1".to_string()][..], &[][..]));
    for server_node in ["iponly@localhost", "dnsonly@127.0.0.1"] {
        let server = TlsTransport::new(pki.config(server_node)).unwrap();
        let (accepted, connected) = rt.block_on(handshake_pair(&server, &client, "x@127.0.0.1"));
        assert!(connected.is_ok(), "{server_node} dialled as x@127.0.0.1: {connected:?}");
        assert!(accepted.is_ok());
    }
}

/// A certificate for `node` whose only SAN is a dNSName spelled as its host
/// (what an OTP-only PKI may hold), signed by the test CA.
fn dns_only_certificate(pki: &Pki, node: &str) {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let host = node.split_once('@').unwrap().1;
    let ca_pem = std::fs::read_to_string(pki.ca()).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(pki.dir().join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::DnsName(host.try_into().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = pki.files(node);
    std::fs::write(cert_path, cert.pem()).unwrap();
    std::fs::write(key_path, key.serialize_pem()).unwrap();
}

#[test]
fn configuration_errors_name_the_file_and_the_fix() {
    let pki = Pki::new();
    pki.issue("a@localhost");
    pki.issue("b@localhost");
    let (a_cert, a_key) = pki.files("a@localhost");
    let (_, b_key) = pki.files("b@localhost");

    let err = TlsTransport::new(TlsConfig::from_files(pki.ca(), &a_cert, &b_key)).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("is not the private key of the certificate in"), "{err}");

    let missing = pki.dir().join("nope.pem");
    let err = TlsTransport::new(TlsConfig::from_files(&missing, &a_cert, &a_key)).unwrap_err();
    assert!(err.to_string().ends_with("nope.pem: no such file"), "{err}");

    let err = TlsTransport::new(TlsConfig::from_files(&a_key, &a_cert, &a_key)).unwrap_err();
    assert!(err.to_string().contains("expected a CERTIFICATE block, found PRIVATE KEY"), "{err}");

    let err = TlsTransport::new(TlsConfig::from_files(pki.ca(), &a_key, &a_key)).unwrap_err();
    assert!(err.to_string().contains("a@localhost.key: expected a CERTIFICATE block"), "{err}");

    let err = TlsTransport::new(pki.config("a@localhost").versions(&[])).unwrap_err();
    assert!(err.to_string().contains("no TLS version enabled"), "{err}");

    let optfile = pki.dir().join("broken.conf");
    std::fs::write(&optfile, "[{server, [{certfile, \"/x\"}]}].").unwrap();
    let err = TlsConfig::from_ssl_dist_optfile(&optfile).unwrap_err();
    assert!(err.to_string().contains("broken.conf: cacertfile is in neither"), "{err}");
}

#[test]
fn the_optfile_beamlink_writes_for_erl_configures_a_rust_node_too() {
    let pki = Pki::new();
    pki.issue("opt@localhost");
    let optfile = pki.optfile("opt@localhost");
    let config = TlsConfig::from_ssl_dist_optfile(&optfile).unwrap();
    assert_eq!(config.cert_path(), pki.files("opt@localhost").0.canonicalize().unwrap());
    assert_eq!(config.name_policy(), VerifyName::Strict);
    let tls = TlsTransport::new(config).unwrap();
    assert_eq!(tls.certificate().node_names, ["opt@localhost"]);
    tls.check_local_name("opt@localhost").unwrap();
    assert!(tls.check_local_name("other@localhost").is_err());
}

#[test]
fn expiry_is_reported_and_warned_about() {
    capture_logs();
    let pki = Pki::new();
    let soon = short("soon");
    pki.issue_with(&soon, |o| o.validity(days_from_now(-1), days_from_now(10)));
    let tls = TlsTransport::new(pki.config(&soon)).unwrap();
    let left = tls.cert_expires_in().expect("not expired yet");
    assert!(left > DAY * 9 && left <= DAY * 10, "{left:?}");
    let line = wait_log(&[&format!("CN={soon}"), "expires in 9 days"], T);
    assert!(line.contains("WARN") && line.contains("beamlink certs renew"), "{line}");

    let gone = short("gone");
    pki.issue_with(&gone, |o| o.validity(days_from_now(-30), days_from_now(-1)));
    let tls = TlsTransport::new(pki.config(&gone)).unwrap();
    assert_eq!(tls.cert_expires_in(), None);
    wait_log(&[&format!("CN={gone}"), "expired on", "peers will refuse it"], T);

    let fine = short("fine");
    pki.issue(&fine);
    let tls = TlsTransport::new(pki.config(&fine)).unwrap();
    assert!(tls.cert_expires_in().unwrap() > DAY * 360);
    assert!(!logs().contains(&format!("CN={fine}\" (serial")), "no warning for a fresh certificate");
}

#[test]
fn a_client_sending_an_ip_literal_as_sni_is_served() {
    // `erl -name x@127.0.0.1` sends "127.0.0.1" as SNI, which RFC 6066 does not
    // allow; rustls proceeds as if no SNI had been sent. openssl does the same
    // as OTP here, so this runs without Erlang.
    let pki = Pki::new();
    pki.issue("srv@127.0.0.1");
    let client = pki.issue("cli@127.0.0.1");
    let server = TlsTransport::new(pki.config("srv@127.0.0.1")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(server.listen("127.0.0.1:0".parse().unwrap())).unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = rt.spawn(async move {
        let incoming = listener.accept().await.unwrap();
        incoming.finish().await.map_err(|e| e.to_string())
    });
    let s = |p: &std::path::Path| p.display().to_string();
    let output = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "127.0.0.1"])
        .args(["-CAfile", &s(&pki.ca()), "-cert", &s(&client.cert), "-key", &s(&client.key), "-verify_return_error"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let established = rt.block_on(async { tokio::time::timeout(T, accepted).await }).expect("in time").unwrap();
    let established =
        established.unwrap_or_else(|e| panic!("refused: {e}\nopenssl: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(leaf_serial(&established), client.info.serial);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
}

#[test]
fn session_resumption_is_off_by_default_and_when_on_keeps_the_peer_identity() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    pki.issue("rs@localhost");
    pki.issue("rc@localhost");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let peer = NodeName::new("rs@localhost").unwrap();
    for resumption in [false, true] {
        let server = TlsTransport::new(pki.config("rs@localhost").session_resumption(resumption)).unwrap();
        let client = TlsTransport::new(pki.config("rc@localhost").session_resumption(resumption)).unwrap();
        let (guard, captured) = capture_thread_logs("beamlink::transport::tls=debug");
        rt.block_on(async {
            let listener = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            for round in 0..3 {
                let accept = async { listener.accept().await.unwrap().finish().await.unwrap() };
                let (accepted, connected) = tokio::join!(accept, client.connect(addr, &peer, SetupTimeouts::new(T, T)));
                let (mut accepted, mut connected) = (accepted, connected.unwrap());
                let claimed = |n: &str| NodeName::new(n).unwrap();
                let on_server = server.authorize(&accepted.identity, &claimed("rc@localhost"));
                on_server.unwrap_or_else(|e| panic!("round {round}: {e}"));
                let on_client = client.authorize(&connected.identity, &claimed("rs@localhost"));
                on_client.unwrap_or_else(|e| panic!("round {round}: {e}"));
                // A byte each way, so the client also reads the session tickets.
                accepted.stream.write_all(b"x").await.unwrap();
                accepted.stream.flush().await.unwrap();
                let mut byte = [0u8; 1];
                connected.stream.read_exact(&mut byte).await.unwrap();
            }
        });
        drop(guard);
        let text = read_capture(&captured);
        let resumed = text
            .lines()
            .filter(|l| l.contains("TLS connection established") && l.contains("kind=Some(Resumed)"))
            .count();
        assert_eq!(resumed, if resumption { 2 } else { 0 }, "resumption {resumption}:\n{text}");
    }
}

#[test]
fn each_role_presents_its_own_certificate_and_offers_only_its_own_suites() {
    let pki = Pki::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (duo, peer) = ("duo@localhost", "peer@localhost");
    // Two certificates for one node: one it dials with, then the one it accepts with.
    pki.issue(duo);
    let spare = tempfile::tempdir().unwrap();
    let (cert, key) = pki.files(duo);
    let (client_cert, client_key) = (spare.path().join("client.pem"), spare.path().join("client.key"));
    std::fs::copy(&cert, &client_cert).unwrap();
    std::fs::copy(&key, &client_key).unwrap();
    pki.issue(duo);
    pki.issue(peer);
    let (server_serial, client_serial) = (s_serial(&pki, duo), serial_of(&client_cert));
    assert_ne!(server_serial, client_serial);
    let duo_tls = TlsTransport::new(pki.config(duo).client_certificate(&client_cert, &client_key)).unwrap();
    let peer_tls = pki.transport(peer);

    let (accepted, connected) = rt.block_on(handshake_pair(&peer_tls, &duo_tls, peer));
    assert_eq!(leaf_serial(&accepted.unwrap()), client_serial, "dialling, duo presents its client certificate");
    assert!(connected.is_ok());
    let (accepted, connected) = rt.block_on(handshake_pair(&duo_tls, &peer_tls, duo));
    assert!(accepted.is_ok());
    assert_eq!(leaf_serial(&connected.unwrap()), server_serial, "accepting, duo presents its server certificate");

    // Suites: a shared one connects; disjoint lists do not.
    let with = |node: &str, suites: &[TlsSuite]| TlsTransport::new(pki.config(node).cipher_suites(suites)).unwrap();
    let aes256 = [TlsSuite::Tls13Aes256GcmSha384];
    let (accepted, connected) = rt.block_on(handshake_pair(&with(duo, &aes256), &with(peer, &aes256), duo));
    assert!(accepted.is_ok() && connected.is_ok());
    let aes128 = [TlsSuite::Tls13Aes128GcmSha256];
    let (accepted, connected) = rt.block_on(handshake_pair(&with(duo, &aes256), &with(peer, &aes128), duo));
    assert!(accepted.is_err() && connected.is_err(), "no suite in common");
}
