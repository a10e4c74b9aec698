//! N6 at the packet level, without `sch_netem`: two nodes in network
//! namespaces made by the test, joined by TUN devices whose packets this
//! process carries with a delay of 200 ms ± 50, 5% loss, and a quarter of
//! them held back another 100 ms so that later packets overtake them
//! (tests/common/tun.rs). TCP sees real loss and reordering: it resends and
//! reorders, and the nodes must ride it out. Numbered messages flow both
//! ways for longer than the tick time: no nodedown, and every number arrives
//! exactly once and in order.
//!
//! The schedule of drops and delays is seeded; a failing run prints its seed,
//! and `BEAMLINK_IMPAIR_SEED=N` replays that schedule. The tests that need
//! namespaces skip, with a printed reason, without root, `ip` or
//! `/dev/net/tun`.

mod common;
#[path = "common/numbered.rs"]
mod numbered;
#[path = "common/tun.rs"]
mod tun;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use beamlink::node::{Node, NodeEvent};
use beamlink::transport::StaticResolver;
use tun::{ADDR_A, ADDR_B, Fate, ImpairedLink, Impairment, Netns, Schedule};

const COOKIE: &str = "impaired";
/// Both nodes listen on this port, each in its own namespace.
const PORT: u16 = 4370;
/// A peer silent for 8 s is down. The impairment adds at most 350 ms to a
/// packet, but a lost segment stalls everything behind it until TCP resends
/// it: about 1 s later (400–700 ms round trips), then 2 s, 4 s... Three
/// losses of the same segment in a row (1 in 8,000 losses) cost about 7 s and
/// still fit; four (1 in 160,000) do not.
const TICKTIME: Duration = Duration::from_secs(8);
/// How long numbered messages flow: well past the tick time.
const TRAFFIC: Duration = Duration::from_secs(14);
/// One message each way every this long.
const EVERY: Duration = Duration::from_millis(20);

/// The matrix's N6 impairment, with the seed from `BEAMLINK_IMPAIR_SEED` if set.
fn n6_impairment() -> Impairment {
    let seed = std::env::var("BEAMLINK_IMPAIR_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6e36);
    Impairment {
        delay: Duration::from_millis(200),
        jitter: Duration::from_millis(50),
        loss_percent: 5,
        reorder_percent: 25,
        hold_back: Duration::from_millis(100),
        seed,
    }
}

#[test]
fn the_impairment_schedule_is_the_one_asked_for_and_replays() {
    let imp = n6_impairment();
    let fates: Vec<Fate> = {
        let mut s = Schedule::new(imp, 0);
        (0..20_000).map(|_| s.next_fate()).collect()
    };
    let mut again = Schedule::new(imp, 0);
    assert!(fates.iter().all(|f| *f == again.next_fate()), "the same seed gave another schedule");
    let mut other = Schedule::new(imp, 1);
    assert!(fates.iter().take(100).any(|f| *f != other.next_fate()), "both directions share one schedule");

    let dropped = fates.iter().filter(|f| **f == Fate::Dropped).count();
    assert!((800..=1200).contains(&dropped), "{dropped} of 20,000 dropped, not about 5%");
    let delivered: Vec<(Duration, bool)> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Delayed { delay, held_back } => Some((*delay, *held_back)),
            Fate::Dropped => None,
        })
        .collect();
    let held = delivered.iter().filter(|(_, h)| *h).count();
    let share = held * 100 / delivered.len();
    assert!((22..=28).contains(&share), "{share}% held back, not about 25%");
    let ms = |d: Duration| d.as_millis() as u64;
    for (delay, held_back) in &delivered {
        let base = ms(*delay) - if *held_back { 100 } else { 0 };
        assert!((150..=250).contains(&base), "a delay of {delay:?} (held back: {held_back})");
    }
    let on_time: Vec<u64> = delivered.iter().filter(|(_, h)| !h).map(|(d, _)| ms(*d)).collect();
    let mean = on_time.iter().sum::<u64>() / on_time.len() as u64;
    assert!((195..=205).contains(&mean), "mean delay {mean} ms");
    assert!(on_time.iter().any(|d| *d < 160) && on_time.iter().any(|d| *d > 240), "no jitter");
}

/// Why the namespace tests cannot run here, printed when they skip.
fn skip_reason(test: &str) -> Option<String> {
    let reason = tun::unavailable()?;
    common::skip(test, &format!("cannot make namespaces with TUN devices ({reason})"));
    Some(reason)
}

#[test]
fn the_tun_link_carries_tcp_and_is_torn_down_even_when_the_test_fails() {
    if skip_reason("the TUN link check").is_some() {
        return;
    }
    let link = ImpairedLink::create(Impairment::none()).expect("make the link");
    let leftovers = link.leftovers();
    let listener = link.b.run(|| TcpListener::bind((ADDR_B, 0))).unwrap().expect("listen in B");
    let server_addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, from) = listener.accept()?;
        assert_eq!(from.ip(), ADDR_A);
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf)?;
        conn.write_all(&buf)
    });
    let mut client = link
        .a
        .run(move || TcpStream::connect_timeout(&server_addr, Duration::from_secs(10)))
        .unwrap()
        .expect("connect from A to B");
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    client.write_all(b"ping").unwrap();
    let mut answer = [0u8; 4];
    client.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"ping");
    server.join().unwrap().unwrap();
    // The echo can arrive before the forwarder that wrote it has counted it,
    // and the last ACKs and FINs are still on their way: count once every
    // packet read has met its fate and the link is quiet.
    let (there, back) = link.settled(Duration::from_secs(10));
    eprintln!("A to B {there:?}, B to A {back:?}");
    // SYN, ACK, data (and FIN); SYN-ACK, data: every one of them through this process.
    assert!(there.forwarded >= 3 && back.forwarded >= 2, "the TCP exchange did not pass the forwarders");
    // Nothing dropped, so every packet read was passed on, and in order.
    assert_eq!((there.read, back.read), (there.forwarded, back.forwarded), "packets read but not passed on");
    assert_eq!((there.dropped, back.dropped, there.reordered, back.reordered), (0, 0, 0, 0));
    assert_eq!((there.write_errors, back.write_errors), (0, 0));
    drop(client);
    drop(link);
    leftovers.check().expect("left behind after a normal drop");

    // A test that panics while the link is up still tears it down.
    let (tx, rx) = channel();
    let failed = std::panic::catch_unwind(move || {
        let link = ImpairedLink::create(n6_impairment()).expect("make the link");
        tx.send(link.leftovers()).unwrap();
        panic!("a test failing with the link up");
    });
    assert!(failed.is_err());
    let leftovers = rx.recv().unwrap();
    leftovers.check().expect("left behind after a panic");
}

/// A node whose runtime's threads all live in one namespace, so that its
/// sockets do too; stopped on drop.
struct NsNode {
    node: Node,
    rt: tokio::runtime::Runtime,
}

impl NsNode {
    fn start(ns: &Netns, name: &str) -> NsNode {
        let handle = ns.handle();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || tun::enter(&handle).expect("enter the node's namespace"))
            .build()
            .expect("runtime");
        let host: std::net::IpAddr = name.split('@').nth(1).unwrap().parse().unwrap();
        let builder = Node::builder(name)
            .cookie(COOKIE)
            .epmd_port(0)
            .auto_start_epmd(false)
            .publish(false)
            .listen(SocketAddr::new(host, PORT))
            .resolver(StaticResolver::with_port(PORT))
            .ticktime(TICKTIME);
        let task = rt.spawn(builder.start());
        let node = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
        let node = node.expect("start within 10 s").expect("start task").expect("start the node");
        NsNode { node, rt }
    }

    /// Runs `f` on the node's runtime (never on the calling thread, which is
    /// in another namespace), bounded by `limit`.
    fn run<F>(&self, limit: Duration, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.rt.spawn(f);
        let abort = task.abort_handle();
        match self.rt.block_on(async { tokio::time::timeout(limit, task).await }) {
            Ok(done) => done.expect("task"),
            Err(_) => {
                abort.abort();
                panic!("timed out after {limit:?}");
            }
        }
    }
}

impl Drop for NsNode {
    fn drop(&mut self) {
        let node = self.node.clone();
        self.rt.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await;
        });
    }
}

/// `got` is exactly 1..=`sent`; otherwise an error naming the first number out of place.
fn check_sequence(way: &str, got: &[u64], sent: u64) -> Result<(), String> {
    let mut expected = 1;
    for (i, &n) in got.iter().enumerate() {
        if n != expected {
            let what = if n < expected { "duplicated or reordered" } else { "lost or reordered" };
            return Err(format!("{way}: {n} came at position {i} where {expected} was due ({what}; {sent} sent)"));
        }
        expected += 1;
    }
    if expected <= sent {
        return Err(format!("{way}: {} of the {sent} messages arrived", expected - 1));
    }
    Ok(())
}

#[test]
fn the_sequence_check_refuses_gaps_duplicates_and_swaps() {
    assert_eq!(check_sequence("x", &[1, 2, 3], 3), Ok(()));
    for (got, sent) in [(&[1, 3][..], 3), (&[1, 2, 2, 3][..], 3), (&[2, 1, 3][..], 3), (&[1, 2][..], 3), (&[][..], 1)] {
        assert!(check_sequence("x", got, sent).is_err(), "{got:?} of {sent} passed");
    }
}

#[test]
fn latency_loss_and_reordering_on_a_tun_link_bring_no_nodedown_and_keep_order_both_ways() {
    if skip_reason("the impaired-link soak").is_some() {
        return;
    }
    let impairment = n6_impairment();
    eprintln!("impairment {impairment:?} (BEAMLINK_IMPAIR_SEED={} replays it)", impairment.seed);
    let link = ImpairedLink::create(impairment).expect("make the link");
    let (a_name, b_name) = (format!("a@{ADDR_A}"), format!("b@{ADDR_B}"));
    let b = NsNode::start(&link.b, &b_name);
    let a = NsNode::start(&link.a, &a_name);
    let (a_rx, b_rx) = (numbered::receiver(&a.node), numbered::receiver(&b.node));

    // The handshake runs under the impairment too: a lost SYN costs a second.
    let connect_started = Instant::now();
    let connected = (0..3).any(|_| {
        let (node, peer) = (a.node.clone(), b_name.clone());
        a.run(Duration::from_secs(20), async move { node.ping(&peer).await })
    });
    assert!(connected, "A could not reach B through the link");
    eprintln!("connected after {:?}", connect_started.elapsed());
    let (mut a_events, mut b_events) = (a.node.events(), b.node.events());
    // The impairment is in the path: a request and a reply, each delayed at least 150 ms.
    let ping_started = Instant::now();
    let (node, peer) = (a.node.clone(), b_name.clone());
    assert!(a.run(Duration::from_secs(20), async move { node.ping(&peer).await }));
    let round_trip = ping_started.elapsed();
    assert!(round_trip >= Duration::from_millis(300), "a round trip took only {round_trip:?}");

    let (to_b, to_a) = (
        a.rt.spawn(numbered::send(a.node.clone(), b_name.clone(), EVERY, TRAFFIC)),
        b.rt.spawn(numbered::send(b.node.clone(), a_name.clone(), EVERY, TRAFFIC)),
    );
    let sent_to_b = a.rt.block_on(to_b).unwrap();
    let sent_to_a = b.rt.block_on(to_a).unwrap();
    let at_b = numbered::collect(&b_rx, sent_to_b, TICKTIME, Duration::from_secs(1));
    let at_a = numbered::collect(&a_rx, sent_to_a, TICKTIME, Duration::from_secs(1));

    // Between ticks the link goes quiet: the counts then cover every packet
    // of the traffic, retransmissions and write errors included.
    let (there, back) = link.settled(TICKTIME);
    eprintln!(
        "messages: {sent_to_b} A to B, {sent_to_a} B to A; packets A to B {there:?}, B to A {back:?}; \
         ping round trip {round_trip:?}"
    );
    let min_sent = (TRAFFIC.as_millis() / EVERY.as_millis()) as u64 / 2;
    assert!(sent_to_b >= min_sent && sent_to_a >= min_sent, "sent only {sent_to_b} and {sent_to_a}");
    for (who, events) in [("A", &mut a_events), ("B", &mut b_events)] {
        while let Ok(event) = events.try_recv() {
            assert!(!matches!(event, NodeEvent::Down { .. }), "{who} saw the connection go down: {event:?}");
        }
    }
    check_sequence("A to B", &at_b, sent_to_b).unwrap();
    check_sequence("B to A", &at_a, sent_to_a).unwrap();
    assert_eq!((a.node.connected_nodes().len(), b.node.connected_nodes().len()), (1, 1));
    // The link really was impaired, both ways: TCP had losses to repair and
    // segments to put back in order.
    for (way, t) in [("A to B", there), ("B to A", back)] {
        assert!(t.forwarded > 200, "{way}: only {} packets passed the link", t.forwarded);
        assert!(t.dropped > 0 && t.reordered > 0, "{way}: the link was not impaired: {t:?}");
        assert_eq!(t.write_errors, 0, "{way}: {t:?}");
    }
}
