//! Cheap attacks on a TLS node from one address, against `beamlink serve` as
//! a child process so its CPU time can be read:
//!
//! - H2 over TLS: a client presenting a certificate from another CA, a
//!   thousand times. After K refusals the address is put in back-off and its
//!   connections are closed before any TLS is spoken.
//! - S11: a whole ClientHello followed by a `close_notify` alert, and
//!   handshakes cut short by a half-close; each connection is closed at
//!   once (long before the handshake timeout) and the node spends next to no
//!   CPU on them.
//!
//! The attacker connects from 127.0.0.2, so the good peer that checks the
//! node afterwards (from 127.0.0.1) is not in the attacker's back-off.

mod common;
mod tls_fixtures;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use beamlink::node::Limits;
use common::hostile::{PROMPT, client_hello, cpu_seconds, tcp_connect_from, tls_client_config};
use common::rust::{BeamlinkProcess, beamlink_exe};
use tls_fixtures::*;

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// `beamlink serve` on mutual TLS with default limits (a 7 s handshake
/// timeout, back-off after 5 authentication failures), with its own EPMD
/// on a private port.
struct TlsServe {
    pki: Pki,
    epmd_port: u16,
    name: String,
    addr: SocketAddr,
    process: BeamlinkProcess,
}

impl TlsServe {
    fn start(prefix: &str) -> TlsServe {
        let epmd_port = common::free_port();
        let pki = Pki::new();
        let name = short(prefix);
        pki.issue(&name);
        let (cert, key) = pki.files(&name);
        let port = common::free_port();
        let mut command = Command::new(beamlink_exe());
        command
            .args(["serve", "--sname", &name, "--cookie", COOKIE, "--port", &port.to_string(), "--no-epmd-daemon"])
            .arg("--ca")
            .arg(pki.ca())
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            // Every refusal is a warning; keep the test output to errors.
            .env("RUST_LOG", "error");
        let process = BeamlinkProcess::spawn(command);
        TlsServe { pki, epmd_port, name, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), process }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.process.pid())
    }

    fn still_serves(&self) {
        good_peer_reaches(&self.pki, &self.name, self.epmd_port);
    }
}

/// A TCP stream that counts the bytes read from it.
struct Counting {
    tcp: TcpStream,
    read: usize,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// What became of one attempt with a refused certificate.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// The node ran the TLS handshake and refused us; the error we saw.
    Refused(String),
    /// The node closed before sending a single byte.
    ClosedAtOnce,
}

/// Runs a TLS handshake with `config` over `tcp`, then reads until the node
/// closes (bounded by [`PROMPT`]).
fn attempt(config: Arc<rustls::ClientConfig>, tcp: TcpStream) -> Attempt {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut io = Counting { tcp, read: 0 };
    io.tcp.set_read_timeout(Some(PROMPT)).unwrap();
    let mut stream = rustls::Stream::new(&mut conn, &mut io);
    let mut buf = [0u8; 256];
    // Under TLS 1.3 our side of the handshake ends before the node has
    // checked our certificate: its verdict comes as an alert on this read.
    let end = match stream.read(&mut buf) {
        Ok(0) => "closed".to_string(),
        Ok(_) => panic!("the node sent data to a client whose certificate it must refuse"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no verdict and no close within {PROMPT:?}")
        }
        Err(e) => e.to_string(),
    };
    if io.read == 0 { Attempt::ClosedAtOnce } else { Attempt::Refused(end) }
}

#[test]
fn h2_certificate_failures_from_one_address_are_throttled_and_cheap() {
    let serve = TlsServe::start("h2tls");
    let limits = Limits::default();
    let k = limits.auth_failures_before_backoff as usize;
    // A certificate from another CA; the intruder trusts the node's CA, so it
    // is the node that refuses.
    let other = Pki::new();
    let intruder = short("intruder");
    other.issue(&intruder);
    let (cert, key) = other.files(&intruder);
    let config = tls_client_config(&serve.pki.ca(), Some((&cert, &key)));

    let attempts = 1000;
    let budget = Duration::from_secs(20);
    let cpu_before = serve.cpu_seconds();
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(attempts);
    for i in 0..attempts {
        assert!(started.elapsed() < budget, "only {i} of {attempts} attempts within {budget:?}");
        let tcp = tcp_connect_from(ATTACKER, serve.addr).expect("connect from 127.0.0.2");
        outcomes.push(attempt(config.clone(), tcp));
    }
    let took = started.elapsed();
    let used = serve.cpu_seconds() - cpu_before;

    for (i, o) in outcomes[..k].iter().enumerate() {
        // The node's verdict reaches us as a TLS alert.
        assert!(matches!(o, Attempt::Refused(e) if e.contains("alert")), "attempt {i}: {o:?}");
    }
    assert_eq!(outcomes[k], Attempt::ClosedAtOnce, "attempt {} came right after {k} refusals", k + 1);
    let engaged = outcomes.iter().filter(|o| matches!(o, Attempt::Refused(_))).count();
    // Each back-off that runs out (1 s, doubling) lets one more attempt through.
    let expiries = (took.as_secs_f64() / limits.auth_backoff.as_secs_f64() + 1.0).log2().ceil() as usize + 1;
    assert!(engaged <= k + expiries, "{engaged} of {attempts} TLS handshakes were run within {took:?} (K = {k})");
    assert!(used < 1.0, "{attempts} attempts with a refused certificate cost the node {used:.2} CPU seconds");
    serve.still_serves();
}

/// A `close_notify` alert record (warning level).
const CLOSE_NOTIFY: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00];

/// Reads until the node closes; panics unless that happens within `within`.
/// Returns how long that took and how many bytes the node sent meanwhile.
fn closed_within(tcp: &mut TcpStream, within: Duration, what: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let mut received = 0;
    loop {
        let left = within.saturating_sub(started.elapsed());
        assert!(!left.is_zero(), "{what}: the node kept the connection open for {within:?}");
        tcp.set_read_timeout(Some(left)).unwrap();
        match tcp.read(&mut buf) {
            Ok(0) => return (started.elapsed(), received),
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (started.elapsed(), received),
        }
    }
}

#[test]
fn s11_client_hellos_ended_by_close_notify_and_truncated_handshakes_are_closed_at_once() {
    let serve = TlsServe::start("s11");
    let client = short("hello");
    serve.pki.issue(&client);
    let (cert, key) = serve.pki.files(&client);
    let hello = client_hello(tls_client_config(&serve.pki.ca(), Some((&cert, &key))));
    // (what, bytes, half-close after them)
    let cases: [(&str, Vec<u8>, bool); 3] = [
        ("a whole ClientHello, then close_notify", [&hello[..], &CLOSE_NOTIFY[..]].concat(), false),
        ("half a ClientHello, then a half-close", hello[..hello.len() / 2].to_vec(), true),
        ("a record header alone, then a half-close", hello[..5].to_vec(), true),
    ];
    // Well under the node's 7 s handshake timeout: the close is a reaction, not the timeout.
    let promptly = Duration::from_secs(2);
    let rounds = 200;
    let cpu_before = serve.cpu_seconds();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let (what, bytes, half_close) = &cases[round % cases.len()];
        let mut tcp = tcp_connect_from(ATTACKER, serve.addr).expect("connect from 127.0.0.2");
        // The node may close while we write; that is a close too.
        let _ = tcp.write_all(bytes);
        if *half_close {
            let _ = tcp.shutdown(Shutdown::Write);
        }
        let (took, received) = closed_within(&mut tcp, promptly, &format!("round {round}: {what}"));
        slowest = slowest.max(took);
        if round % cases.len() == 0 {
            // The node did answer the ClientHello (so the close is its reaction
            // to the alert): aborted handshakes are not authentication
            // failures and put the address in no back-off.
            assert!(received > 0, "round {round}: the node did not answer a whole ClientHello");
        }
    }
    let used = serve.cpu_seconds() - cpu_before;
    assert!(started.elapsed() < Duration::from_secs(30), "{rounds} rounds took {:?}", started.elapsed());
    assert!(used < 1.0, "{rounds} aborted handshakes cost the node {used:.2} CPU seconds (slowest close {slowest:?})");
    serve.still_serves();
}
