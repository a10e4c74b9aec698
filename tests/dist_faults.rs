//! Peers that die or stop answering are noticed: killed peers at once,
//! paused peers within the tick time, in both directions.

mod common;

use std::time::{Duration, Instant};

use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::{BeamlinkProcess, TestNode};

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_killed_erl_node_is_noticed_at_once() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "f1", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "f1", epmd.port);
    let mut events = rust.node.events();
    assert!(rust.run(Duration::from_secs(30), rust.node.ping(&erl.node)));
    let started = Instant::now();
    erl.kill();
    rust.wait_down(&mut events, &erl.node, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_paused_erl_node_is_declared_down_within_the_tick_time() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("rust"));
    let ticktime = Duration::from_secs(4);
    let rust = TestNode::start(&name, "f2", epmd.port, |b| b.ticktime(ticktime));
    let erl = ErlNode::start_short(&common::unique_name("erl"), "f2", epmd.port);
    let mut events = rust.node.events();
    assert!(rust.run(Duration::from_secs(30), rust.node.ping(&erl.node)));
    signal(erl.os_pid(), "STOP");
    let started = Instant::now();
    let reason = rust.wait_down(&mut events, &erl.node, ticktime * 3);
    signal(erl.os_pid(), "CONT");
    let took = started.elapsed();
    assert!(reason.contains("net_ticktime"), "{reason}");
    assert!(took >= ticktime / 2 && took <= ticktime * 2, "declared down after {took:?} with ticktime {ticktime:?}");
}

fn erl_with_ticktime(epmd: &OtpEpmd, seconds: u32) -> ErlNode {
    ErlNode::start(ErlOptions {
        name: ErlName::Short(common::unique_name("erl")),
        cookie: "f3".into(),
        epmd_port: epmd.port,
        extra_args: vec!["-kernel".into(), "net_ticktime".into(), seconds.to_string()],
    })
}

#[test]
fn erl_notices_a_killed_rust_node() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let mut serve = BeamlinkProcess::start(
        &["serve", "--sname", &format!("{}@localhost", common::unique_name("srv")), "--cookie", "f3"],
        epmd.port,
    );
    let mut erl = erl_with_ticktime(&epmd, 60);
    let r = serve.node.clone();
    assert_eq!(erl.eval(&format!("net_adm:ping('{r}')")), "pong");
    erl.eval(&format!("monitor_node('{r}', true)"));
    serve.kill();
    assert_eq!(erl.eval(&format!("receive {{nodedown, '{r}'}} -> down after 10000 -> still_up end")), "down");
}

#[test]
fn erl_declares_a_paused_rust_node_down_within_its_tick_time() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &format!("{}@localhost", common::unique_name("srv")), "--cookie", "f3"],
        epmd.port,
    );
    let mut erl = erl_with_ticktime(&epmd, 4);
    let r = serve.node.clone();
    assert_eq!(erl.eval(&format!("net_adm:ping('{r}')")), "pong");
    erl.eval(&format!("monitor_node('{r}', true)"));
    // While the Rust node runs, erl keeps it: our ticks satisfy OTP's checks.
    assert_eq!(
        erl.eval_timeout(&format!("receive {{nodedown, '{r}'}} -> down after 9000 -> up end"), Duration::from_secs(15)),
        "up"
    );
    serve.signal("STOP");
    let started = Instant::now();
    let verdict = erl.eval_timeout(
        &format!("receive {{nodedown, '{r}'}} -> down after 15000 -> still_up end"),
        Duration::from_secs(20),
    );
    serve.signal("CONT");
    assert_eq!(verdict, "down");
    assert!(started.elapsed() <= Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn a_silent_client_is_dropped_at_the_handshake_timeout() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("rust"));
    let rust = TestNode::start(&name, "f4", epmd.port, |b| b.handshake_timeout(Duration::from_millis(500)));
    let addr = rust.node.listen_addr().unwrap();
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut silent, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the node closes the connection without a word");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    // And serves an honest peer afterwards.
    let other = TestNode::short("other", "f4", epmd.port);
    assert!(other.run(Duration::from_secs(30), other.node.ping(&name)));
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn idle_beamlink_nodes_tick_without_answering_each_others_answers() {
    let epmd = OtpEpmd::start();
    let tick = Duration::from_secs(1);
    let a = TestNode::start(&format!("{}@localhost", common::unique_name("ta")), "f5", epmd.port, |b| b.ticktime(tick));
    let b = TestNode::start(&format!("{}@localhost", common::unique_name("tb")), "f5", epmd.port, |b| b.ticktime(tick));
    assert!(a.run(Duration::from_secs(30), a.node.ping(&b.name())));
    let before = cpu_seconds();
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_seconds() - before;
    // Both ends tick every 250 ms: a handful of 4-byte writes. A tick storm
    // (each side answering the other's answers) burns whole cores.
    assert!(used < 0.5, "idle connection used {used:.2} CPU seconds in 3 s");
    assert_eq!(a.node.connected_nodes().len(), 1, "the connection stayed up on ticks alone");
    assert_eq!(b.node.connected_nodes().len(), 1);
}

#[test]
fn an_epmd_restart_leaves_connections_alone_and_nodes_re_register() {
    let epmd = OtpEpmd::start();
    let port = epmd.port;
    let a = TestNode::short("ea", "f6", port);
    let b_name = format!("{}@localhost", common::unique_name("eb"));
    let b = TestNode::start(&b_name, "f6", port, |x| x);
    assert!(a.run(Duration::from_secs(30), a.node.ping(&b_name)));

    drop(epmd); // kills OTP's epmd by pid
    // The established connection does not need EPMD.
    assert!(a.run(Duration::from_secs(30), a.node.ping(&b_name)));
    // A newcomer cannot look B up, and says why.
    let c = TestNode::start(&format!("{}@localhost", common::unique_name("ec")), "f6", port, |x| x.no_listen());
    let err = c.run(Duration::from_secs(30), c.node.ping_detailed(&b_name)).unwrap_err();
    assert!(err.to_string().contains("EPMD"), "{err}");

    // EPMD comes back on the same port: B re-registers by itself (with its old creation).
    let _epmd = common::erl::OtpEpmd::start_on(port);
    let creation = b.node.creation();
    common::wait_for("B to re-register and be found", Duration::from_secs(20), || {
        c.run(Duration::from_secs(10), c.node.ping(&b_name)).then_some(())
    });
    assert_eq!(b.node.creation(), creation);
    drop(a);
}

#[test]
fn a_stalled_peer_makes_senders_wait_instead_of_growing_memory() {
    let epmd = OtpEpmd::start();
    let serve = common::rust::BeamlinkProcess::start(
        &["serve", "--sname", &format!("{}@localhost", common::unique_name("stall")), "--cookie", "f7"],
        epmd.port,
    );
    let limit = 4 << 20;
    let a = TestNode::start(&format!("{}@localhost", common::unique_name("fast")), "f7", epmd.port, |b| {
        b.send_queue_limit(limit)
    });
    let peer = serve.node.clone();
    assert!(a.run(Duration::from_secs(30), a.node.ping(&peer)));
    serve.signal("STOP");
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let node = a.node.clone();
    let target = peer.clone();
    let sending = Instant::now();
    let sender = a.rt.spawn(async move {
        let p = node.process();
        loop {
            // A fresh 64 KiB payload each time: nothing is shared, so queued
            // messages really take memory.
            let payload =
                beamlink::term::Term::binary(vec![counter.load(std::sync::atomic::Ordering::Relaxed) as u8; 64 << 10]);
            if p.send_named("sink", &target, payload).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // How soon the queue and the socket buffers are full depends on how busy
    // the machine is: wait for the count to stop, then look again a second
    // later, and no sooner than 3 s after the sender started.
    let stopped = common::wait_still("the sender to stop", Duration::from_secs(30), Duration::from_secs(1), || {
        sent.load(std::sync::atomic::Ordering::Relaxed)
    });
    std::thread::sleep(Duration::from_secs(1).max(Duration::from_secs(3).saturating_sub(sending.elapsed())));
    let a_second_later = sent.load(std::sync::atomic::Ordering::Relaxed);
    // Everything accepted fits in the queue limit plus what the kernel's
    // socket buffers and the writer's own round hold.
    let accepted_bytes = a_second_later * (64 << 10);
    assert!(
        accepted_bytes < limit + (24 << 20),
        "{a_second_later} messages ({accepted_bytes} bytes) accepted by a stalled peer"
    );
    assert_eq!(stopped, a_second_later, "the sender keeps going although the peer reads nothing");
    // A non-waiting send says so.
    let p = a.node.process();
    let someone_there = beamlink::term::Pid::new(beamlink::term::Atom::new(&peer), 1, 0, 1);
    let busy = p.try_send(&someone_there, beamlink::term::Term::atom("x"));
    assert!(matches!(busy, Err(beamlink::node::SendError::Busy(_))), "{busy:?}");
    // Once the peer reads again, the sender moves on.
    serve.signal("CONT");
    common::wait_for("the sender to move on", Duration::from_secs(20), || {
        (sent.load(std::sync::atomic::Ordering::Relaxed) > a_second_later + 100).then_some(())
    });
    sender.abort();
}
