//! N8: EPMD reports a stale port for a node (nothing listens there any more,
//! or something else does). The connect fails cleanly and quickly, leaves
//! nothing behind, and once EPMD reports the right port the next attempt
//! succeeds: an explicit retry, and a kept connection's background retries.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use beamlink::epmd::NodeInfo;
use beamlink::epmd::codec::Port2Response;
use common::rust::TestNode;

const COOKIE: &str = "stale";
const T: Duration = Duration::from_secs(30);

/// A fake EPMD on 127.0.0.1 that answers every PORT_PLEASE2 with whatever
/// port it currently holds, and counts the lookups.
struct FakeEpmd {
    port: u16,
    answer: Arc<AtomicU16>,
    lookups: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeEpmd {
    fn start(answer: u16) -> FakeEpmd {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the fake epmd");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(AtomicU16::new(answer));
        let lookups = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (current, counted, stopping) = (answer.clone(), lookups.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if s.read_exact(&mut body).is_err() || body.first() != Some(&122) {
                    continue;
                }
                counted.fetch_add(1, Ordering::Relaxed);
                let name = String::from_utf8_lossy(&body[1..]).into_owned();
                let reply =
                    Port2Response::Found(NodeInfo::new(&name, current.load(Ordering::Relaxed))).encode().unwrap();
                let _ = s.write_all(&reply);
            }
        });
        FakeEpmd { port, answer, lookups, stop }
    }

    fn answer(&self, port: u16) {
        self.answer.store(port, Ordering::Relaxed);
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }
}

impl Drop for FakeEpmd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A listener that is not a distribution node: it accepts, then either
/// closes at once or holds the connection without a word.
fn impostor(silent: bool) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(8).flatten() {
            if silent {
                held.push(s);
            }
        }
    });
    port
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn victim() -> (TestNode, String) {
    let name = format!("{}@localhost", common::unique_name("victim"));
    let node = TestNode::start(&name, COOKIE, 0, |b| b.listen(loopback()).publish(false));
    (node, name)
}

#[test]
fn a_stale_port_fails_the_connect_cleanly_and_the_retry_succeeds_once_epmd_is_right() {
    let (b, b_name) = victim();
    let nothing_there = common::free_port();
    let epmd = FakeEpmd::start(nothing_there);
    let a = TestNode::start(&format!("{}@localhost", common::unique_name("asker")), COOKIE, epmd.port, |x| {
        x.listen(loopback())
            .publish(false)
            .connect_timeout(Duration::from_secs(2))
            .handshake_timeout(Duration::from_secs(1))
    });

    // Nothing listens on the port any more; something else took it and hangs
    // up; something else took it and says nothing.
    let refused = format!("127.0.0.1:{nothing_there}");
    let cases: [(u16, &str, &[&str]); 3] = [
        (nothing_there, "a closed port", &[&refused]),
        // Closed with our first bytes unread, the socket may send a reset rather than a FIN.
        (impostor(false), "a port that hangs up", &["closed the connection", "reset"]),
        (impostor(true), "a silent port", &["handshake did not complete"]),
    ];
    for (stale, what, why) in cases {
        epmd.answer(stale);
        let started = Instant::now();
        let err = a.run(T, a.node.connect(&b_name)).expect_err(what).to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "{what}: failed after {:?}", started.elapsed());
        assert!(err.contains(&b_name), "{what}: the error does not name the peer: {err}");
        assert!(why.iter().any(|w| err.contains(w)), "{what}: the error should say one of {why:?}: {err}");
        assert!(a.node.connected_nodes().is_empty(), "{what}: a connection is listed after the failure");
    }
    let failed_lookups = epmd.lookups();
    assert_eq!(failed_lookups, 3, "each attempt asks EPMD again");

    // EPMD reports the right port: the next attempt succeeds.
    epmd.answer(b.node.listen_addr().unwrap().port());
    a.run(T, a.node.connect(&b_name)).expect("the retry with the right port");
    assert!(a.run(T, a.node.ping(&b_name)));
    assert_eq!(epmd.lookups(), failed_lookups + 1);
    assert_eq!(a.node.connected_nodes().len(), 1);
}

#[test]
fn a_kept_connection_retries_until_epmd_reports_the_right_port() {
    let (b, b_name) = victim();
    let epmd = FakeEpmd::start(common::free_port());
    let a = TestNode::start(&format!("{}@localhost", common::unique_name("keeper")), COOKIE, epmd.port, |x| {
        x.listen(loopback()).publish(false).connect_timeout(Duration::from_secs(2))
    });
    a.node.keep_connected(&b_name).unwrap();
    common::wait_for("background retries against the stale port", T, || (epmd.lookups() >= 3).then_some(()));
    assert!(a.node.connected_nodes().is_empty());
    epmd.answer(b.node.listen_addr().unwrap().port());
    common::wait_for("the kept connection", T, || (!a.node.connected_nodes().is_empty()).then_some(()));
    assert!(a.run(T, a.node.ping(&b_name)));
}
