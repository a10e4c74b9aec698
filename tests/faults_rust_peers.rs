//! A Rust node watching a Rust peer that runs as a child process (`beamlink
//! serve`) while the peer is paused, killed, reset and restarted:
//!
//! - F3: a paused peer (SIGSTOP) is declared down within the tick window;
//!   links and monitors of its processes fire `noconnection`, node monitors
//!   get `nodedown`; once it runs again the next ping reconnects.
//! - N1: a killed peer (SIGKILL) is noticed at once, well inside the tick
//!   time; restarted under the same name, the first ping reaches it.
//! - N2: after that restart (a new creation), a link or monitor to a pid of
//!   the old incarnation gets `noproc` and messages to it are dropped, from a
//!   Rust peer and from an `erl` peer.
//! - N5: a connection that ends in a TCP reset (the peer dies with unread
//!   data, or the socket is destroyed under a live pair) is down at once on
//!   both sides, and the next call sets up a clean new connection.

mod common;

use std::time::{Duration, Instant};

use beamlink::epmd::EpmdClient;
use beamlink::node::{CallError, Process};
use beamlink::term::{Pid, Reference, Term};
use common::erl::{ErlNode, OtpEpmd};
use common::rust::{BeamlinkProcess, TestNode};

const T: Duration = Duration::from_secs(30);
const COOKIE: &str = "rust_peers";

fn serve_args(name: &str, ticktime: u64) -> Vec<String> {
    ["serve", "--sname", name, "--cookie", COOKIE, "--ticktime", &ticktime.to_string()].map(String::from).to_vec()
}

fn start_serve(epmd: &OtpEpmd, name: &str, ticktime: u64) -> BeamlinkProcess {
    let args = serve_args(name, ticktime);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    BeamlinkProcess::start_retrying(&args, epmd.port)
}

/// `rpc:call(Node, erlang, Function, Args)`.
fn rpc(rust: &TestNode, node: &str, function: &str, args: Vec<Term>) -> Term {
    let n = rust.node.clone();
    let (node, f) = (node.to_string(), function.to_string());
    let result = rust.run(T, async move { n.rpc_call(&node, "erlang", &f, args, T).await });
    result.unwrap_or_else(|e| panic!("rpc erlang:{function}: {e}"))
}

fn whereis(rust: &TestNode, node: &str, name: &str) -> Pid {
    match rpc(rust, node, "whereis", vec![Term::atom(name)]) {
        Term::Pid(p) => p,
        other => panic!("whereis({name}): {other}"),
    }
}

/// A process on the observer that traps exits, is linked to `target`,
/// monitors it, and monitors its node.
struct Watcher {
    p: Process,
    target: Pid,
    mref: Reference,
}

impl Watcher {
    fn start(rust: &TestNode, target: &Pid) -> Watcher {
        let p = rust.node.process();
        p.trap_exit(true);
        p.link(target);
        let mref = p.monitor(target);
        p.monitor_node(target.node.as_str());
        // A round trip on the same connection: the link and monitor requests
        // have been handled before the test goes on.
        let n = rust.node.clone();
        let peer = target.node.to_string();
        rust.run(T, async move { n.rpc_call(&peer, "erlang", "node", vec![], T).await }).expect("round trip");
        Watcher { p, target: target.clone(), mref }
    }

    /// Waits (at most `limit`) for the EXIT, the DOWN and the nodedown;
    /// returns their reasons and when the last of them arrived.
    fn fired(&mut self, rust: &TestNode, limit: Duration) -> (Term, Term, Instant) {
        let (target, mref) = (self.target.clone(), self.mref.clone());
        let node = Term::Atom(target.node.clone());
        let p = &mut self.p;
        rust.run(limit + Duration::from_secs(1), async move {
            let deadline = tokio::time::Instant::now() + limit;
            let (mut exit, mut down, mut nodedown) = (None, None, false);
            while exit.is_none() || down.is_none() || !nodedown {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let msg = match p.recv_timeout(left).await {
                    Ok(Some(m)) => m,
                    Ok(None) => panic!("within {limit:?}: exit {exit:?}, down {down:?}, nodedown {nodedown}"),
                    Err(e) => panic!("the watcher died: {e:?}"),
                };
                match msg.as_tuple() {
                    Some([tag, Term::Pid(from), reason]) if tag.is_atom("EXIT") && *from == target => {
                        exit = Some(reason.clone())
                    }
                    Some([tag, Term::Ref(r), kind, Term::Pid(who), reason])
                        if tag.is_atom("DOWN") && **r == mref && kind.is_atom("process") && *who == target =>
                    {
                        down = Some(reason.clone())
                    }
                    Some([tag, who]) if tag.is_atom("nodedown") && *who == node => nodedown = true,
                    _ => {}
                }
            }
            (exit.unwrap(), down.unwrap(), Instant::now())
        })
    }
}

/// Sends `{self(), Payload}` to `echo` and waits (at most `limit`) for `Payload` back.
fn echoed(rust: &TestNode, echo: &Pid, payload: Term, limit: Duration) -> bool {
    let n = rust.node.clone();
    let echo = echo.clone();
    rust.run(limit + Duration::from_secs(5), async move {
        let mut p = n.process();
        let me = Term::Pid(p.pid().clone());
        p.send(&echo, Term::Tuple(vec![me, payload.clone()])).await.expect("send");
        p.receive(Some(limit), |m| (*m == payload).then_some(())).await.expect("receive").is_some()
    })
}

#[test]
fn f3_a_paused_rust_peer_is_declared_down_within_the_tick_window_and_links_fire_noconnection() {
    let epmd = OtpEpmd::start();
    let tick = 2;
    let ticktime = Duration::from_secs(tick);
    let serve = start_serve(&epmd, &format!("{}@localhost", common::unique_name("paused")), tick);
    let rust = TestNode::start(&format!("{}@localhost", common::unique_name("watch")), COOKIE, epmd.port, |b| {
        b.ticktime(ticktime)
    });
    let peer = serve.node.clone();
    assert!(rust.run(T, rust.node.ping(&peer)));
    let echo = whereis(&rust, &peer, "echo");
    let mut watcher = Watcher::start(&rust, &echo);
    let mut events = rust.node.events();

    serve.signal("STOP");
    let stopped = Instant::now();
    let (exit, down, at) = watcher.fired(&rust, ticktime * 3);
    let took = at - stopped;
    let reason = rust.wait_down(&mut events, &peer, T);
    assert_eq!(exit, Term::atom("noconnection"));
    assert_eq!(down, Term::atom("noconnection"));
    assert!(reason.contains("net_ticktime"), "{reason}");
    // Silence is measured from the last tick, which came at most a quarter
    // of the tick time before the pause.
    assert!(took >= ticktime / 2 && took <= ticktime * 2, "declared down after {took:?} with ticktime {ticktime:?}");
    assert!(rust.node.connected_nodes().is_empty());

    // Running again, the peer is reached by the first ping: the new
    // connection replaces the one the peer has not yet seen fail.
    serve.signal("CONT");
    assert!(rust.run(T, rust.node.ping(&peer)), "the first ping after SIGCONT failed");
    // The peer broke the link too: `echo` (not trapping exits) died with noconnection.
    assert_eq!(
        rpc(&rust, &peer, "whereis", vec![Term::atom("echo")]),
        Term::atom("undefined"),
        "the linked echo survived"
    );
}

#[test]
fn n1_a_killed_rust_peer_is_noticed_at_once_and_reached_again_after_a_restart() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("killed"));
    let mut serve = start_serve(&epmd, &name, 60);
    // A long tick time on both sides: only the kill itself can bring the connection down quickly.
    let rust = TestNode::start(&format!("{}@localhost", common::unique_name("watch")), COOKIE, epmd.port, |b| {
        b.ticktime(Duration::from_secs(60))
    });
    assert!(rust.run(T, rust.node.ping(&name)));
    let old_creation = rust.node.peer_info(&name).expect("connected").creation;
    let echo = whereis(&rust, &name, "echo");
    let mut watcher = Watcher::start(&rust, &echo);

    let killed = Instant::now();
    serve.kill();
    let (exit, down, at) = watcher.fired(&rust, Duration::from_secs(10));
    assert_eq!(exit, Term::atom("noconnection"));
    assert_eq!(down, Term::atom("noconnection"));
    assert!(at - killed < Duration::from_secs(2), "noticed after {:?}", at - killed);
    // A call to the dead node fails with noconnection, quickly.
    let started = Instant::now();
    let mut p = rust.node.process();
    let err = rust.run(T, p.call_named("echo", &name, Term::atom("x"), T)).unwrap_err();
    // Whether the DOWN of the call's monitor or the failed connection
    // attempt comes first, an unreachable node is `noconnection`.
    assert!(matches!(err, CallError::NoConnection { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the failed call took {:?}", started.elapsed());
    // The same when the request cannot even be queued (a name this node cannot dial).
    let err = rust.run(T, p.call_named("echo", "x@not.a.short.name", Term::atom("x"), T)).unwrap_err();
    assert!(matches!(err, CallError::NoConnection { .. }), "{err:?}");

    // Restarted under the same name: reconnect on demand, first try.
    let _serve = start_serve(&epmd, &name, 60);
    assert!(rust.run(T, rust.node.ping(&name)), "the first ping after the restart failed");
    let new_creation = rust.node.peer_info(&name).expect("connected").creation;
    assert_ne!(new_creation, old_creation, "a restarted node has a new creation");
    assert!(echoed(&rust, &whereis(&rust, &name, "echo"), Term::atom("after_restart"), T));
}

/// Links and monitors `old` (a pid of a node's previous incarnation) and
/// expects `noproc` for both.
fn expect_noproc(rust: &TestNode, old: &Pid) {
    let n = rust.node.clone();
    let old = old.clone();
    rust.run(T, async move {
        let mut p = n.process();
        p.trap_exit(true);
        p.link(&old);
        let exit = p
            .receive(Some(T), |m| match m.as_tuple() {
                Some([tag, Term::Pid(from), reason]) if tag.is_atom("EXIT") && *from == old => Some(reason.clone()),
                _ => None,
            })
            .await
            .expect("receive");
        assert_eq!(exit, Some(Term::atom("noproc")), "link to a pid of the previous incarnation");
        let mref = p.monitor(&old);
        let down = p
            .receive(Some(T), |m| match m.as_tuple() {
                Some([tag, Term::Ref(r), _, Term::Pid(who), reason])
                    if tag.is_atom("DOWN") && **r == mref && *who == old =>
                {
                    Some(reason.clone())
                }
                _ => None,
            })
            .await
            .expect("receive");
        assert_eq!(down, Some(Term::atom("noproc")), "monitor of a pid of the previous incarnation");
    });
}

#[test]
fn n2_pids_of_a_restarted_rust_peers_previous_incarnation_are_dead() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("reborn"));
    let rust = TestNode::short("watch", COOKIE, epmd.port);
    let mut serve = start_serve(&epmd, &name, 60);
    assert!(rust.run(T, rust.node.ping(&name)));
    let old_echo = whereis(&rust, &name, "echo");
    serve.kill();
    common::wait_for("the old connection to drop", T, || rust.node.connected_nodes().is_empty().then_some(()));
    let _serve = start_serve(&epmd, &name, 60);
    assert!(rust.run(T, rust.node.ping(&name)));
    let new_echo = whereis(&rust, &name, "echo");
    assert_ne!(new_echo.creation, old_echo.creation, "a new creation");
    // Services start in the same order, so only the creation tells the two
    // echo processes apart: the restarted node must not take the old pid for the new.
    assert_eq!((old_echo.id, old_echo.serial), (new_echo.id, new_echo.serial), "same number, new creation");

    expect_noproc(&rust, &old_echo);
    assert!(
        !echoed(&rust, &old_echo, Term::atom("to_the_old_one"), Duration::from_millis(500)),
        "the old pid answered"
    );
    assert!(echoed(&rust, &new_echo, Term::atom("to_the_new_one"), T));
    assert_eq!(rust.node.connected_nodes().len(), 1, "the connection survived talking to dead pids");
}

#[test]
fn n2_pids_of_a_restarted_erl_peers_previous_incarnation_are_dead() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let erl_name = common::unique_name("erl_reborn");
    let rust = TestNode::short("watch", COOKIE, epmd.port);
    let start_erl = || {
        let mut erl = ErlNode::start_short(&erl_name, COOKIE, epmd.port);
        // The same spawn on every start; `echo` answers {From, X} with X.
        erl.eval("register(echo, spawn(fun L() -> receive {F, X} -> F ! X, L() end end))");
        erl
    };
    let mut erl = start_erl();
    let node = erl.node.clone();
    assert!(rust.run(T, rust.node.ping(&node)));
    let old_echo = whereis(&rust, &node, "echo");
    erl.kill();
    drop(erl);
    common::wait_for("the old connection to drop", T, || rust.node.connected_nodes().is_empty().then_some(()));
    let _erl = start_erl();
    assert!(rust.run(T, rust.node.ping(&node)));
    let new_echo = whereis(&rust, &node, "echo");
    assert_ne!(new_echo.creation, old_echo.creation, "a new creation");

    expect_noproc(&rust, &old_echo);
    assert!(
        !echoed(&rust, &old_echo, Term::atom("to_the_old_one"), Duration::from_millis(500)),
        "the old pid answered"
    );
    assert!(echoed(&rust, &new_echo, Term::atom("to_the_new_one"), T));
}

/// The port `alive` is registered on, from EPMD.
fn registered_port(epmd: &OtpEpmd, node: &str) -> u16 {
    let alive = node.split('@').next().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = EpmdClient::new("127.0.0.1", epmd.port).with_timeout(Duration::from_secs(5));
    rt.block_on(client.port_please(&alive)).expect("ask EPMD").expect("registered").port
}

/// Bytes waiting unread in the receive queue of the TCP socket on local
/// port `port` (from /proc/net/tcp and tcp6), if there is such a socket.
fn unread_bytes_on(port: u16) -> Option<u64> {
    common::tcp_sockets()
        .into_iter()
        .find(|s| s.local_port == port && s.state == common::TCP_ESTABLISHED)
        .map(|s| s.rx_queue)
}

#[test]
fn n5_a_peer_that_dies_with_unread_data_resets_the_connection_which_is_down_at_once() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("reset"));
    let mut serve = start_serve(&epmd, &name, 60);
    let rust = TestNode::start(&format!("{}@localhost", common::unique_name("watch")), COOKIE, epmd.port, |b| {
        b.ticktime(Duration::from_secs(60))
    });
    assert!(rust.run(T, rust.node.ping(&name)));
    let port = registered_port(&epmd, &name);
    let echo = whereis(&rust, &name, "echo");
    let mut watcher = Watcher::start(&rust, &echo);
    let mut events = rust.node.events();

    // Paused, the peer reads nothing: what we send stays in its socket's
    // receive queue, and a socket closed with unread data sends a reset.
    serve.signal("STOP");
    let n = rust.node.clone();
    let target = name.clone();
    rust.run(T, async move {
        for i in 0..10 {
            n.send_named("sink", &target, Term::from(i)).await.expect("queue a message");
        }
    });
    common::wait_for("unread data at the paused peer", T, || unread_bytes_on(port).filter(|n| *n > 0));
    let killed = Instant::now();
    serve.kill();
    let reason = rust.wait_down(&mut events, &name, Duration::from_secs(10));
    let (exit, down, at) = watcher.fired(&rust, Duration::from_secs(10));
    assert!(reason.to_lowercase().contains("reset"), "the connection did not end in a reset: {reason}");
    assert_eq!(exit, Term::atom("noconnection"));
    assert_eq!(down, Term::atom("noconnection"));
    assert!(at - killed < Duration::from_secs(2), "noticed after {:?}", at - killed);

    let _serve = start_serve(&epmd, &name, 60);
    assert!(rust.run(T, rust.node.ping(&name)), "the first ping after the reset failed");
    assert!(echoed(&rust, &whereis(&rust, &name, "echo"), Term::atom("clean"), T));
}

/// `ss -K`: destroys the established TCP sockets matching `filter`. Returns
/// how many it listed as destroyed, or why it cannot.
fn ss_kill(filter: &[&str]) -> Result<usize, String> {
    let out = std::process::Command::new("ss")
        .args(["-K", "-t", "-n", "state", "established"])
        .args(filter)
        .output()
        .map_err(|e| format!("ss: {e}"))?;
    if !out.status.success() {
        return Err(format!("ss -K: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    // A header line, then one line per destroyed socket.
    Ok(String::from_utf8_lossy(&out.stdout).lines().skip(1).filter(|l| !l.trim().is_empty()).count())
}

#[test]
fn n5_a_reset_between_two_live_nodes_is_down_at_once_on_both_sides_and_reconnects_cleanly() {
    let epmd = OtpEpmd::start();
    let long = Duration::from_secs(60);
    let a =
        TestNode::start(&format!("{}@localhost", common::unique_name("ra")), COOKIE, epmd.port, |x| x.ticktime(long));
    let b =
        TestNode::start(&format!("{}@localhost", common::unique_name("rb")), COOKIE, epmd.port, |x| x.ticktime(long));
    let b_port = b.node.listen_addr().unwrap().port();
    // Only a socket of this test's own can match: the dialled side's
    // listening port is private to B.
    let dst = format!("127.0.0.1:{b_port}");
    match ss_kill(&["dst", &dst]) {
        Ok(0) => {}
        Ok(n) => panic!("{n} sockets to B before any connection"),
        Err(e) => {
            common::skip("", &format!("cannot destroy sockets ({e}); needs root and a kernel with INET_DIAG_DESTROY"));
            return;
        }
    }
    assert!(a.run(T, a.node.ping(&b.name())));
    let echo = || {
        b.node.spawn(|mut p| async move {
            while let Ok(m) = p.recv().await {
                if let Some([Term::Pid(from), x]) = m.as_tuple() {
                    let _ = p.send(from, x.clone()).await;
                }
            }
        })
    };
    let (linked_echo, other_echo) = (echo(), echo());
    let mut watcher = Watcher::start(&a, &linked_echo);
    let mut a_events = a.node.events();
    let mut b_events = b.node.events();

    let reset = Instant::now();
    assert_eq!(ss_kill(&["dst", &dst]), Ok(1), "exactly A's socket of the connection is destroyed");
    let a_reason = a.wait_down(&mut a_events, &b.name(), Duration::from_secs(5));
    let b_reason = b.wait_down(&mut b_events, &a.name(), Duration::from_secs(5));
    let (exit, down, _) = watcher.fired(&a, Duration::from_secs(5));
    let took = reset.elapsed();
    assert!(b_reason.to_lowercase().contains("reset"), "B did not see a reset: {b_reason}");
    assert!(a_reason.contains("abort") || a_reason.to_lowercase().contains("reset"), "{a_reason}");
    assert_eq!(exit, Term::atom("noconnection"));
    assert_eq!(down, Term::atom("noconnection"));
    assert!(took < Duration::from_secs(2), "both sides down after {took:?}");
    assert!(a.node.connected_nodes().is_empty() && b.node.connected_nodes().is_empty());

    // The next call sets up one new connection; nothing of the old one is left.
    assert!(a.run(T, a.node.ping(&b.name())), "the first ping after the reset failed");
    assert!(echoed(&a, &other_echo, Term::atom("clean"), T));
    // B broke its end of the link too: the linked echo died with noconnection.
    assert!(!echoed(&a, &linked_echo, Term::atom("linked"), Duration::from_millis(300)), "the linked echo survived");
    assert_eq!((a.node.connected_nodes().len(), b.node.connected_nodes().len()), (1, 1));
}
