//! N6 without netem: two nodes talk through a relay on loopback that holds
//! every chunk of bytes for 150–250 ms before passing it on, in order (what a
//! slow, jittery path looks like to TCP's reader once TCP has put the bytes
//! back in order). Numbered messages flow both ways for longer than twice
//! the tick time: no nodedown, nothing lost, nothing duplicated, order kept.
//!
//! This runs everywhere; the netem soak in tests/partition.rs adds real
//! packet loss and reordering where sch_netem is available.

mod common;
#[path = "common/numbered.rs"]
mod numbered;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use beamlink::node::NodeEvent;
use beamlink::proto::NodeName;
use beamlink::transport::StaticResolver;
use common::Rng;
use common::rust::TestNode;

const COOKIE: &str = "relay";
/// Ticks every 500 ms; a peer is down after 2 s of silence. The relay adds
/// at most 250 ms to any gap, which stays far below it.
const TICKTIME: Duration = Duration::from_secs(2);
/// How long the numbered messages flow.
const TRAFFIC: Duration = Duration::from_secs(5);
/// One message each way every this long.
const EVERY: Duration = Duration::from_millis(10);

/// A TCP relay on 127.0.0.1 to `target` that delays every chunk it reads
/// by 150–250 ms, never letting a chunk overtake the one before it.
struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    chunks: Arc<AtomicU64>,
}

impl Relay {
    fn start(target: SocketAddr, seed: u64) -> Relay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the relay");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let chunks = Arc::new(AtomicU64::new(0));
        let (stopping, held, counted) = (stop.clone(), sockets.clone(), chunks.clone());
        std::thread::spawn(move || {
            let mut seed = seed;
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(target) else { continue };
                        for s in [&client, &server] {
                            s.set_nodelay(true).unwrap();
                            held.lock().unwrap().push(s.try_clone().unwrap());
                        }
                        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                        pump(client.try_clone().unwrap(), server.try_clone().unwrap(), seed, counted.clone());
                        pump(server, client, seed ^ 0xabcdef, counted.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Relay { addr, stop, sockets, chunks }
    }
}

/// Copies `from` to `to`, holding each chunk 150–250 ms (at least as long
/// as the one before it, so bytes keep their order).
fn pump(mut from: TcpStream, mut to: TcpStream, seed: u64, chunks: Arc<AtomicU64>) {
    let (tx, rx) = channel::<Option<(Instant, Vec<u8>)>>();
    std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    let delay = Duration::from_millis(150 + rng.next() % 101);
                    last = last.max(Instant::now() + delay);
                    chunks.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Some((last, buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        while let Ok(Some((at, bytes))) = rx.recv() {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            if to.write_all(&bytes).is_err() {
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.sockets.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn a_slow_jittery_path_below_the_tick_limit_brings_no_nodedown_and_loses_or_reorders_nothing() {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let b_name = format!("{}@localhost", common::unique_name("far"));
    let b = TestNode::start(&b_name, COOKIE, 0, |x| x.listen(loopback).publish(false).ticktime(TICKTIME));
    let relay = Relay::start(b.node.listen_addr().unwrap(), 0x5eed);
    // A reaches B only through the relay; B answers on the same connection.
    let resolver = StaticResolver::default().insert(&NodeName::new(&b_name).unwrap(), relay.addr);
    let a = TestNode::start(&format!("{}@localhost", common::unique_name("near")), COOKIE, 0, |x| {
        x.listen(loopback).publish(false).ticktime(TICKTIME).resolver(resolver)
    });
    let (a_rx, b_rx) = (numbered::receiver(&a.node), numbered::receiver(&b.node));
    let (mut a_events, mut b_events) = (a.node.events(), b.node.events());
    assert!(a.run(Duration::from_secs(30), a.node.ping(&b_name)));
    // The relay is in the path: a ping is a request and a reply, each held at least 150 ms.
    let started = Instant::now();
    assert!(a.run(Duration::from_secs(30), a.node.ping(&b_name)));
    assert!(started.elapsed() >= Duration::from_millis(300), "a round trip took only {:?}", started.elapsed());

    let (to_b, to_a) = (
        a.rt.spawn(numbered::send(a.node.clone(), b_name.clone(), EVERY, TRAFFIC)),
        b.rt.spawn(numbered::send(b.node.clone(), a.name(), EVERY, TRAFFIC)),
    );
    let sent_to_b = a.rt.block_on(to_b).unwrap();
    let sent_to_a = b.rt.block_on(to_a).unwrap();
    let at_b = numbered::collect(&b_rx, sent_to_b, Duration::from_secs(10), Duration::from_millis(500));
    let at_a = numbered::collect(&a_rx, sent_to_a, Duration::from_secs(10), Duration::from_millis(500));

    assert!(sent_to_b >= 100 && sent_to_a >= 100, "sent {sent_to_b} and {sent_to_a}");
    assert_eq!(at_b, (1..=sent_to_b).collect::<Vec<_>>(), "A to B: lost, duplicated or reordered");
    assert_eq!(at_a, (1..=sent_to_a).collect::<Vec<_>>(), "B to A: lost, duplicated or reordered");
    for (who, events) in [("A", &mut a_events), ("B", &mut b_events)] {
        while let Ok(event) = events.try_recv() {
            assert!(!matches!(event, NodeEvent::Down { .. }), "{who} saw the connection go down: {event:?}");
        }
    }
    assert_eq!((a.node.connected_nodes().len(), b.node.connected_nodes().len()), (1, 1));
    assert!(relay.chunks.load(Ordering::Relaxed) > 100, "the traffic did not go through the relay");
}
