//! Bad peers of a TLS node (fault matrix rows S1–S4, S12, S13 and the
//! refusals of the TLS issue): each is refused within the handshake timeout,
//! the node logs a line that says what to fix, and the node still serves a
//! good peer afterwards. For S12, clients that stall inside the TLS
//! handshake and after it are closed at the handshake timeout, and
//! connections beyond the cap on handshakes in progress are closed at once.

mod common;
mod tls_fixtures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use beamlink::certs::KeyPurpose;
use beamlink::node::Limits;
use beamlink::pki::{load_certs, load_private_key};
use beamlink::transport::tls::{TlsConfig, TlsTransport};
use common::erl::OtpEpmd;
use common::hostile::client_hello;
use common::rust::TestNode;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tls_fixtures::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(20);
/// The distribution handshake limit of the server node in these tests.
const HANDSHAKE: Duration = Duration::from_secs(1);
/// The most a refusal may take: the handshake limit plus scheduling slack.
const REFUSED_WITHIN: Duration = Duration::from_secs(4);

/// A TLS node that only dials, giving each handshake [`HANDSHAKE`].
fn impatient_client(name: &str, epmd_port: u16, tls: &TlsTransport) -> TestNode {
    tls_node(name, epmd_port, tls, |b| {
        b.no_listen().hidden(true).connect_timeout(Duration::from_secs(5)).handshake_timeout(HANDSHAKE)
    })
}

/// A TLS server node with a short handshake timeout, its PKI and EPMD.
struct Server {
    pki: Pki,
    epmd: OtpEpmd,
    name: String,
    node: TestNode,
}

impl Server {
    fn start() -> Server {
        capture_logs();
        let epmd = OtpEpmd::start();
        let pki = Pki::new();
        let name = short("srv");
        pki.issue(&name);
        let tls = TlsTransport::new(pki.config(&name)).unwrap();
        let node = tls_node(&name, epmd.port, &tls, |b| b.handshake_timeout(HANDSHAKE));
        Server { pki, epmd, name, node }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.node.node.listen_addr().unwrap().port()))
    }

    /// A TLS node named `name` with the TLS configuration `config` dials the
    /// server; returns the dial's error and how long the refusal took.
    fn dial_with(&self, name: &str, config: TlsConfig) -> (String, Duration) {
        let tls = TlsTransport::new(config).unwrap();
        let client = impatient_client(name, self.epmd.port, &tls);
        let started = Instant::now();
        let outcome = client.run(T, client.node.ping_detailed(&self.name));
        let took = started.elapsed();
        let err = outcome.expect_err("the server must refuse this peer");
        (err.to_string(), took)
    }

    fn still_serves(&self) {
        good_peer_reaches(&self.pki, &self.name, self.epmd.port);
    }
}

fn roots(ca: &std::path::Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for der in load_certs(ca).unwrap() {
        roots.add(der).unwrap();
    }
    roots
}

/// A bare rustls client: trusts `ca`, presents `identity` (cert, key) if given.
fn raw_client_config(
    ca: &std::path::Path,
    identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca));
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            builder.with_client_auth_cert(load_certs(&cert).unwrap(), load_private_key(&key).unwrap()).unwrap()
        }
    };
    Arc::new(config)
}

/// Runs `f` on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Opens a raw TLS connection to `addr`; once TLS is up (if it comes up), reads
/// until the server closes. Returns our local address and how long until the close.
fn raw_tls_until_closed(addr: SocketAddr, config: Arc<ClientConfig>) -> (SocketAddr, Duration) {
    block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let local = tcp.local_addr().unwrap();
        let started = Instant::now();
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from("localhost").unwrap();
        if let Ok(mut tls) = connector.connect(name, tcp).await {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(T, tls.read(&mut buf)).await.expect("the server closes the connection");
            assert!(!matches!(read, Ok(n) if n > 0), "the server sent data to a peer it should refuse");
        }
        (local, started.elapsed())
    })
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let server = Server::start();
    let (local, took) = raw_tls_until_closed(server.addr(), raw_client_config(&server.pki.ca(), None));
    assert!(took < REFUSED_WITHIN, "took {took:?}");
    let line = wait_log(&[&format!("TLS client at {local}"), "presented no certificate"], T);
    assert!(line.contains("beamlink requires mutual TLS"), "{line}");
    server.still_serves();
}

#[test]
fn a_certificate_from_another_ca_is_refused_naming_its_issuer() {
    let server = Server::start();
    let other = Pki::new();
    let name = short("intruder");
    other.issue(&name);
    // The intruder trusts both CAs, so it is the server that refuses.
    let bundle = other.dir().join("both.pem");
    let both = [std::fs::read(server.pki.ca()).unwrap(), std::fs::read(other.ca()).unwrap()].concat();
    std::fs::write(&bundle, both).unwrap();
    let (cert, key) = other.files(&name);
    let (err, took) = server.dial_with(&name, TlsConfig::from_files(&bundle, cert, key));
    assert!(took < REFUSED_WITHIN, "took {took:?}");
    assert!(err.contains("the peer does not trust the CA that issued our certificate"), "the dialler is told: {err}");
    let other_ca = beamlink::pki::CertInfo::from_file(&other.ca()).unwrap().subject;
    let line = wait_log(&[&format!("refused the client's certificate \"CN={name}\"")], T);
    assert!(line.contains(&format!("its issuer \"{other_ca}\" is not among the trust roots")), "{line}");
    assert!(line.contains("add its CA to the trust bundle"), "{line}");
    server.still_serves();
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused_with_their_dates() {
    let server = Server::start();
    let expired = short("expired");
    server.pki.issue_with(&expired, |o| o.validity(days_from_now(-30), days_from_now(-2)));
    let (err, took) = server.dial_with(&expired, server.pki.config(&expired));
    assert!(took < REFUSED_WITHIN, "took {took:?}");
    assert!(err.contains("expired or not yet valid"), "the dialler is told: {err}");
    let line = wait_log(&[&format!("refused the client's certificate \"CN={expired}\"")], T);
    assert!(line.contains("it expired on") && line.contains("beamlink certs renew"), "{line}");
    server.still_serves();

    let early = short("early");
    server.pki.issue_with(&early, |o| o.validity(days_from_now(2), days_from_now(30)));
    let (_, took) = server.dial_with(&early, server.pki.config(&early));
    assert!(took < REFUSED_WITHIN, "took {took:?}");
    let line = wait_log(&[&format!("refused the client's certificate \"CN={early}\"")], T);
    assert!(line.contains("it is not valid before") && line.contains("clocks"), "{line}");
    server.still_serves();
}

#[test]
fn a_certificate_without_client_auth_is_refused() {
    let server = Server::start();
    let name = short("serveronly");
    server.pki.issue_with(&name, |o| o.purposes(&[KeyPurpose::ServerAuth]));
    let (err, took) = server.dial_with(&name, server.pki.config(&name));
    assert!(took < REFUSED_WITHIN, "took {took:?}");
    assert!(err.contains("the peer refused the key usage of our certificate"), "the dialler is told: {err}");
    let line = wait_log(&[&format!("refused the client's certificate \"CN={name}\"")], T);
    assert!(line.contains("its extended key usage (serverAuth) does not allow TLS client authentication"), "{line}");
    server.still_serves();
}

#[test]
fn a_plain_tcp_node_dialling_the_tls_port_is_told_apart() {
    let server = Server::start();
    let plain = TestNode::start(&short("plain"), COOKIE, server.epmd.port, |b| b.no_listen().hidden(true));
    let started = Instant::now();
    assert!(!plain.run(T, plain.node.ping(&server.name)), "a plain-TCP peer must not get in");
    assert!(started.elapsed() < REFUSED_WITHIN, "took {:?}", started.elapsed());
    let line = wait_log(&["the peer does not speak TLS: it opened with a plain-TCP distribution handshake"], T);
    assert!(line.contains("-proto_dist inet_tls"), "{line}");
    server.still_serves();
}

#[test]
fn a_tls_node_dialling_a_plain_tcp_node_is_told_why() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let plain_name = short("plainsrv");
    let plain = TestNode::start(&plain_name, COOKIE, epmd.port, |b| b.handshake_timeout(Duration::from_secs(3)));
    let pki = Pki::new();
    let name = short("tlsdialler");
    pki.issue(&name);
    let tls = TlsTransport::new(pki.config(&name)).unwrap();
    let client = impatient_client(&name, epmd.port, &tls);
    let started = Instant::now();
    let err = client.run(T, client.node.connect(&plain_name)).unwrap_err().to_string();
    assert!(started.elapsed() < REFUSED_WITHIN, "took {:?}", started.elapsed());
    // Our plain node closes at once (a TLS record header is an oversized handshake frame).
    assert!(
        err.contains("closed the connection during the TLS handshake: it may be a plain-TCP distribution node"),
        "{err}"
    );
    // The plain node is unharmed.
    let other = TestNode::start(&short("plainpeer"), COOKIE, epmd.port, |b| b.no_listen());
    assert!(other.run(T, other.node.ping(&plain_name)));
    drop(plain);

    // OTP's plain carrier instead waits for the 5635 bytes the record header
    // announces as a frame length: the TLS handshake limit ends the attempt.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let peer = beamlink::proto::NodeName::new("otp@localhost").unwrap();
    let started = Instant::now();
    let timeouts = beamlink::transport::SetupTimeouts::new(T, HANDSHAKE);
    let err = block_on(beamlink::transport::Transport::connect(&tls, addr, &peer, timeouts)).unwrap_err().to_string();
    assert!(started.elapsed() < REFUSED_WITHIN, "took {:?}", started.elapsed());
    assert!(err.contains("no TLS handshake reply within 1s; it may be a plain-TCP distribution node"), "{err}");
}

#[test]
fn a_peer_that_stalls_after_tls_is_dropped_at_the_handshake_timeout() {
    let server = Server::start();
    let name = short("staller");
    server.pki.issue(&name);
    let identity = server.pki.files(&name);
    let (local, took) = raw_tls_until_closed(server.addr(), raw_client_config(&server.pki.ca(), Some(identity)));
    assert!(took >= HANDSHAKE / 2 && took < REFUSED_WITHIN, "closed after {took:?}");
    let line = wait_log(&[&format!("peer_addr={local}"), "handshake did not complete within"], T);
    assert!(line.contains("refused an incoming connection"), "{line}");
    server.still_serves();
}

/// How a client stalls inside the TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stall {
    /// Connects and sends nothing.
    Silent,
    /// Sends a ClientHello one byte every 200 ms: steady traffic, never a whole message.
    Dribble,
    /// Sends a whole ClientHello, reads the server's answer, and sends nothing more.
    AfterClientHello,
}

/// Plays `stall` against `addr` with the ClientHello `hello`; returns our
/// local address, how long until the server closed, and how many bytes it sent.
fn stall_in_tls(addr: SocketAddr, stall: Stall, hello: &[u8]) -> (SocketAddr, Duration, usize) {
    use std::io::{ErrorKind, Read, Write};
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, T).unwrap();
    let local = tcp.local_addr().unwrap();
    let started = Instant::now();
    let mut sent = 0;
    if stall == Stall::AfterClientHello {
        tcp.write_all(hello).unwrap();
        sent = hello.len();
    }
    let mut received = 0;
    let mut buf = [0u8; 4096];
    loop {
        assert!(started.elapsed() < T, "{stall:?}: the server kept the connection for {T:?}");
        if stall == Stall::Dribble && sent < hello.len() {
            if tcp.write_all(&hello[sent..sent + 1]).is_err() {
                break;
            }
            sent += 1;
        }
        tcp.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    (local, started.elapsed(), received)
}

#[test]
fn a_client_that_stalls_inside_the_tls_handshake_is_dropped_at_the_timeout() {
    let server = Server::start();
    let name = short("tlsstaller");
    server.pki.issue(&name);
    let hello = client_hello(raw_client_config(&server.pki.ca(), Some(server.pki.files(&name))));
    let addr = server.addr();
    let runs: Vec<_> = [Stall::Silent, Stall::Dribble, Stall::AfterClientHello]
        .into_iter()
        .map(|stall| {
            let hello = hello.clone();
            std::thread::spawn(move || (stall, stall_in_tls(addr, stall, &hello)))
        })
        .collect();
    for run in runs {
        let (stall, (local, took, received)) = run.join().unwrap();
        assert!(took >= HANDSHAKE / 2 && took < REFUSED_WITHIN, "{stall:?}: closed after {took:?}");
        if stall == Stall::AfterClientHello {
            assert!(received > 0, "the server did not answer a whole ClientHello");
        } else {
            assert_eq!(received, 0, "{stall:?}: the server answered an incomplete ClientHello");
        }
        // The node's handshake timeout (HANDSHAKE here) ends it.
        let line = wait_log(&[&format!("peer_addr={local}"), "timed out"], T);
        assert!(line.contains("handshake"), "{stall:?}: {line}");
    }
    server.still_serves();
}

#[test]
fn a_correct_certificate_with_the_wrong_cookie_is_still_refused() {
    let server = Server::start();
    let name = short("badcookie");
    server.pki.issue(&name);
    let tls = TlsTransport::new(server.pki.config(&name)).unwrap();
    let client = TestNode::start(&name, "not-the-cookie", server.epmd.port, move |b| b.transport(tls).no_listen());
    assert!(!client.run(T, client.node.ping(&server.name)));
    assert!(!server.node.node.connected_nodes().iter().any(|n| n.as_str() == name));
    server.still_serves();
}

#[test]
fn handshakes_in_progress_are_capped() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let name = short("capped");
    pki.issue(&name);
    let tls = TlsTransport::new(pki.config(&name)).unwrap();
    let limits = Limits { handshake_timeout: Duration::from_secs(2), max_pending_handshakes: 2, ..Limits::default() };
    let node = tls_node(&name, epmd.port, &tls, |b| b.limits(limits));
    let addr = SocketAddr::from(([127, 0, 0, 1], node.node.listen_addr().unwrap().port()));
    block_on(async move {
        // Two silent connections fill the two slots ...
        let opened = Instant::now();
        let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // ... so a third is closed at once.
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = third.write_all(&[0x16, 3, 1]).await;
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the third connection is closed at once: {read:?}");
        // The two silent ones keep their slots only until the 2 s handshake timeout.
        for (which, silent) in [("first", &mut a), ("second", &mut b)] {
            let read = tokio::time::timeout(Duration::from_secs(2) + REFUSED_WITHIN, silent.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the {which} silent connection is closed: {read:?}");
            let held = opened.elapsed();
            assert!(held >= Duration::from_secs(1), "the {which} silent connection was closed after only {held:?}");
        }
    });
    wait_log(&["max_pending_handshakes reached", "limit=2"], T);
    // Once the silent ones time out, a good peer gets in.
    good_peer_reaches(&pki, &name, epmd.port);
}
