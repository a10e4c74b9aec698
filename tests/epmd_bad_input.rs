//! The EPMD rows of the fault matrix (E1–E6, E8, E9) against our daemon on a
//! private loopback port, with raw sockets. E7 (non-local peers) is tested as
//! a pure function in `epmd::access`, E10 as codec tests in `epmd::codec`,
//! E11 with an injected accept error in `epmd::daemon`.

mod common;

use std::time::{Duration, Instant};

use beamlink::epmd::codec::{Alive2Response, NodeInfo, Request};
use beamlink::epmd::{DaemonConfig, DaemonHandle, EpmdClient, EpmdDaemon, EpmdError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short enough to keep the suite fast, long enough to tell a timeout from an immediate close.
const PACKET_TIMEOUT: Duration = Duration::from_millis(400);

async fn daemon_with(config: DaemonConfig) -> DaemonHandle {
    let config = DaemonConfig { port: common::free_port(), ..config };
    EpmdDaemon::bind(config).await.expect("bind our epmd").spawn()
}

async fn daemon() -> DaemonHandle {
    daemon_with(DaemonConfig { packet_timeout: PACKET_TIMEOUT, ..DaemonConfig::default() }).await
}

/// A daemon whose packet timeout is far longer than any wait in these tests,
/// so a close observed within the wait is not the timeout.
async fn patient_daemon() -> DaemonHandle {
    daemon_with(DaemonConfig { packet_timeout: Duration::from_secs(60), ..DaemonConfig::default() }).await
}

fn client(d: &DaemonHandle) -> EpmdClient {
    EpmdClient::new("127.0.0.1", d.port()).with_timeout(Duration::from_secs(5))
}

async fn connect(d: &DaemonHandle) -> TcpStream {
    TcpStream::connect(("127.0.0.1", d.port())).await.expect("connect to our epmd")
}

/// Everything the daemon sends until it closes; panics if it does not close within `limit`.
async fn read_until_close(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut reply = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut reply)).await {
        Ok(Ok(_)) => reply,
        // A reset is a close too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => reply,
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("the daemon did not close the connection within {limit:?}"),
    }
}

/// Sends `bytes` and returns the reply and how long the daemon took to close.
async fn exchange(d: &DaemonHandle, bytes: &[u8], limit: Duration) -> (Vec<u8>, Duration) {
    let mut stream = connect(d).await;
    let start = Instant::now();
    stream.write_all(bytes).await.expect("send");
    let reply = read_until_close(&mut stream, limit).await;
    (reply, start.elapsed())
}

/// Polls `check` every 20 ms without blocking the runtime; panics with `what` after 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until_idle(d: &DaemonHandle) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.connection_count() > 0 {
        assert!(Instant::now() < deadline, "{} connections still open", d.connection_count());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive2(name: &str) -> Vec<u8> {
    Request::Alive2(NodeInfo::new(name, 4000)).encode().expect("encode ALIVE2_REQ")
}

/// An ALIVE2_REQ body with the given name bytes and length fields, framed.
fn raw_alive2(name: &[u8], name_len: u16, extra: &[u8], extra_len: u16) -> Vec<u8> {
    let mut body = vec![120, 0x0f, 0xa0, 77, 0, 0, 6, 0, 5];
    body.extend_from_slice(&name_len.to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&extra_len.to_be_bytes());
    body.extend_from_slice(extra);
    let mut framed = (body.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

// E1: connect, send nothing.
#[tokio::test]
async fn silent_client_is_closed_after_the_packet_timeout() {
    let d = daemon().await;
    let mut stream = connect(&d).await;
    let start = Instant::now();
    let reply = read_until_close(&mut stream, Duration::from_secs(5)).await;
    assert!(reply.is_empty());
    assert!(start.elapsed() >= PACKET_TIMEOUT / 2, "closed before the timeout: {:?}", start.elapsed());
    wait_until_idle(&d).await;
}

// E1, many at once: tasks and descriptors are bounded and released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_silent_clients_are_all_released() {
    let d = daemon().await;
    let mut streams = Vec::new();
    for _ in 0..200 {
        streams.push(connect(&d).await);
    }
    for mut s in streams {
        assert!(read_until_close(&mut s, Duration::from_secs(5)).await.is_empty());
    }
    wait_until_idle(&d).await;
}

// E2: one byte; the length only; a partial packet.
#[tokio::test]
async fn partial_requests_are_closed_after_the_packet_timeout() {
    let d = daemon().await;
    for bytes in [&[0u8][..], &[0, 100], &[0, 100, b'z', b'a', b'b']] {
        let (reply, took) = exchange(&d, bytes, Duration::from_secs(5)).await;
        assert!(reply.is_empty(), "reply to partial {bytes:?}: {reply:?}");
        assert!(took >= PACKET_TIMEOUT / 2, "partial {bytes:?} closed before the timeout ({took:?})");
    }
    wait_until_idle(&d).await;
}

// E2 variant: a client that dribbles a byte at a time cannot extend its time.
#[tokio::test]
async fn slow_clients_get_no_extension() {
    let d = daemon().await;
    let mut stream = connect(&d).await;
    let start = Instant::now();
    for b in [0u8, 50, b'z', b'a', b'b', b'c'] {
        if stream.write_all(&[b]).await.is_err() {
            break;
        }
        tokio::time::sleep(PACKET_TIMEOUT / 4).await;
    }
    let reply = read_until_close(&mut stream, Duration::from_secs(5)).await;
    assert!(reply.is_empty());
    assert!(start.elapsed() < PACKET_TIMEOUT * 4);
}

// E3: length 0.
#[tokio::test]
async fn zero_length_is_closed_at_once() {
    let d = patient_daemon().await;
    let (reply, _) = exchange(&d, &[0, 0], Duration::from_secs(5)).await;
    assert!(reply.is_empty());
}

// E4: huge length fields followed by junk: closed on the header, and the daemon keeps serving.
#[tokio::test]
async fn oversized_lengths_are_closed_at_once() {
    let d = patient_daemon().await;
    for len in [63_000u16, 65_535, 2054] {
        let mut stream = connect(&d).await;
        stream.write_all(&len.to_be_bytes()).await.expect("send header");
        // The junk may hit a closed socket; that is the point.
        let _ = stream.write_all(&vec![b'j'; 8192]).await;
        assert!(read_until_close(&mut stream, Duration::from_secs(5)).await.is_empty(), "length {len}");
    }
    let names = client(&d).names().await.expect("NAMES after the junk");
    assert!(names.nodes.is_empty());
    wait_until_idle(&d).await;
}

#[tokio::test]
async fn unknown_requests_and_trailing_bytes_are_closed() {
    let d = patient_daemon().await;
    for bytes in [&[0u8, 1, b'Q'][..], &[0, 1, b'a'], &[0, 1, 110, 0, 1, 110]] {
        let (reply, _) = exchange(&d, bytes, Duration::from_secs(5)).await;
        assert!(reply.is_empty(), "reply to {bytes:?}: {reply:?}");
    }
}

// E5: malformed ALIVE2_REQs: an error reply or a close, and the registry unchanged.
#[tokio::test]
async fn malformed_registrations_change_nothing() {
    let d = patient_daemon().await;
    let long = vec![b'a'; 256];
    let closed: Vec<(&str, Vec<u8>)> = vec![
        ("too short", vec![0, 4, 120, 0, 1, 77]),
        ("name length past the end", raw_alive2(b"ab", 300, b"", 0)),
        ("extra length past the end", raw_alive2(b"ab", 2, b"x", 2)),
        ("NUL inside the name", raw_alive2(b"a\0b", 3, b"", 0)),
        ("NUL at the end of the name", raw_alive2(b"ab\0", 3, b"", 0)),
    ];
    for (what, bytes) in closed {
        let (reply, _) = exchange(&d, &bytes, Duration::from_secs(5)).await;
        assert!(reply.is_empty(), "{what}: got {reply:?}");
    }
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("a 256-byte name", raw_alive2(&long, 256, b"", 0)),
        ("an invalid UTF-8 name", raw_alive2(&[0xc3, 0x28], 2, b"", 0)),
        ("1021 bytes of extra", raw_alive2(b"ab", 2, &[7; 1021], 1021)),
    ];
    for (what, bytes) in refused {
        let (reply, _) = exchange(&d, &bytes, Duration::from_secs(5)).await;
        assert_eq!(reply, [0x76, 0x01, 0x00, 0x00, 0x00, 0x63], "{what}");
    }
    assert!(client(&d).names().await.expect("NAMES").nodes.is_empty());
    assert!(d.registered_names().is_empty());
    wait_until_idle(&d).await;
}

// E5: thousands of hostile requests, 64 at a time; the daemon keeps serving and releases everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_hostile_requests() {
    let d = patient_daemon().await;
    let registered = client(&d).register(&NodeInfo::new("survivor", 4242)).await.expect("register");
    let port = d.port();
    let hostile: Vec<Vec<u8>> = vec![
        raw_alive2(b"ab", 300, b"", 0),
        raw_alive2(b"ab", 2, b"x", 65535),
        raw_alive2(b"a\0", 2, b"", 0),
        vec![0, 0],
        vec![0xff, 0xff, 1, 2, 3],
        vec![0, 1, 0xee],
        vec![0, 3, 122, 0, 0],
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2000usize {
        let bytes = hostile[i % hostile.len()].clone();
        tasks.spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
            let _ = s.write_all(&bytes).await;
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut sink)).await;
            sink
        });
        if tasks.len() >= 64 {
            let reply = tasks.join_next().await.expect("task").expect("task ran");
            assert!(reply.is_empty(), "hostile request got {reply:?}");
        }
    }
    while let Some(reply) = tasks.join_next().await {
        assert!(reply.expect("task ran").is_empty());
    }
    let c = client(&d);
    assert_eq!(c.port_please("survivor").await.expect("lookup").map(|n| n.port), Some(4242));
    assert_eq!(c.names().await.expect("NAMES").nodes, [("survivor".to_string(), 4242)]);
    drop(registered);
    wait_until_idle(&d).await;
}

// E6: a duplicate name gets result 1, creation 99.
#[tokio::test]
async fn duplicate_registration_is_refused() {
    let d = patient_daemon().await;
    let first = client(&d).register(&NodeInfo::new("twin", 4000)).await.expect("first registration");
    let mut stream = connect(&d).await;
    stream.write_all(&alive2("twin")).await.expect("send");
    let reply = read_until_close(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(reply, Alive2Response::refused(6).encode());
    assert_eq!(reply, [0x76, 0x01, 0x00, 0x00, 0x00, 0x63]);
    let err = client(&d).register(&NodeInfo::new("twin", 4001)).await.expect_err("duplicate accepted");
    assert!(matches!(err, EpmdError::RegistrationRefused { result: 1, .. }), "{err}");
    // The first registration is untouched.
    let found = client(&d).port_please("twin").await.expect("lookup").expect("twin registered");
    assert_eq!(found.port, 4000);
    drop(first);
}

// E8: a registration flood is capped; existing entries and lookups keep working.
#[tokio::test]
async fn registration_flood_is_capped() {
    let d = daemon_with(DaemonConfig { max_names: 5, packet_timeout: PACKET_TIMEOUT, ..DaemonConfig::default() }).await;
    let c = client(&d);
    let mut held = Vec::new();
    for i in 0..5u16 {
        held.push(c.register(&NodeInfo::new(format!("n{i}"), 5000 + i)).await.expect("under the cap"));
    }
    let err = c.register(&NodeInfo::new("n5", 5005)).await.expect_err("registered past the cap");
    assert!(matches!(err, EpmdError::RegistrationRefused { .. }), "{err}");
    assert_eq!(c.names().await.expect("NAMES").nodes.len(), 5);
    assert_eq!(c.port_please("n3").await.expect("lookup").map(|n| n.port), Some(5003));
    // Room again once one leaves.
    held.remove(0);
    eventually("n0 to be unregistered", || d.registered_names().len() == 4).await;
    held.push(c.register(&NodeInfo::new("n5", 5005)).await.expect("room after an unregistration"));
}

// Thousands of connections against a small connection cap: past the per-address cap each new one
// displaces the oldest idle one, the count never exceeds the caps, every idle one is closed in the
// end, and the registration is untouched. (E12 in tests/hostile_epmd.rs floods from other addresses.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_is_bounded() {
    let d =
        daemon_with(DaemonConfig { max_connections: 50, packet_timeout: PACKET_TIMEOUT, ..DaemonConfig::default() })
            .await;
    let registered = client(&d).register(&NodeInfo::new("steady", 4100)).await.expect("register");
    let mut streams = Vec::new();
    for _ in 0..1500 {
        match TcpStream::connect(("127.0.0.1", d.port())).await {
            Ok(s) => streams.push(s),
            Err(e) => panic!("connect failed: {e}"),
        }
        assert!(d.connection_count() <= 50, "{} connections open, cap is 50", d.connection_count());
    }
    for mut s in streams {
        assert!(read_until_close(&mut s, Duration::from_secs(10)).await.is_empty());
    }
    // Only the registration remains, and it still works.
    eventually("idle connections to close", || d.connection_count() == 1).await;
    let found = client(&d).port_please("steady").await.expect("lookup after the flood");
    assert_eq!(found.map(|n| n.port), Some(4100));
    drop(registered);
}

// E9: a client that resets right after ALIVE2_REQ leaves no zombie entry.
#[tokio::test]
async fn reset_after_alive2_leaves_no_zombie() {
    let d = patient_daemon().await;
    for i in 0..20 {
        let name = format!("ghost{i}");
        let stream = connect(&d).await;
        stream.set_zero_linger().expect("SO_LINGER 0");
        let mut stream = stream;
        stream.write_all(&alive2(&name)).await.expect("send");
        if i % 2 == 1 {
            // Half of them wait for the reply first.
            let mut reply = [0u8; 6];
            let _ = stream.read_exact(&mut reply).await;
        }
        drop(stream); // RST
    }
    eventually("reset registrations to disappear", || d.registered_names().is_empty()).await;
    assert!(client(&d).names().await.expect("NAMES").nodes.is_empty());
    // Each name can register again.
    let again = client(&d).register(&NodeInfo::new("ghost0", 4000)).await.expect("re-register after RST");
    drop(again);
    wait_until_idle(&d).await;
}

// Anything sent on a registration connection ends the registration, as OTP's epmd does.
#[tokio::test]
async fn data_on_a_registration_unregisters() {
    let d = patient_daemon().await;
    let mut stream = connect(&d).await;
    stream.write_all(&alive2("chatty")).await.expect("send");
    let mut reply = [0u8; 6];
    stream.read_exact(&mut reply).await.expect("ALIVE2_X_RESP");
    assert_eq!(reply[..2], [118, 0]);
    assert_eq!(d.registered_names(), [("chatty".to_string(), 4000)]);
    stream.write_all(b"hello").await.expect("send junk");
    assert!(read_until_close(&mut stream, Duration::from_secs(5)).await.is_empty());
    eventually("chatty to be unregistered", || d.registered_names().is_empty()).await;
}
