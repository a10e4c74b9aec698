//! Cluster semantics: links, exit signals and monitors across nodes (Rust
//! and real Erlang, both ways), node monitoring, the beamlink mesh, and
//! reconnection.

mod common;

use std::time::Duration;

use beamlink::node::{Node, Process};
use beamlink::term::{Pid, Term, parse};
use common::erl::{ErlNode, OtpEpmd};
use common::rust::TestNode;

const T: Duration = Duration::from_secs(30);

/// Receives the next message matching `f` within `T`.
async fn expect<R>(p: &mut Process, what: &str, f: impl FnMut(&Term) -> Option<R>) -> R {
    match p.receive(Some(T), f).await {
        Ok(Some(r)) => r,
        Ok(None) => panic!("no {what} within {T:?}"),
        Err(e) => panic!("process exited while waiting for {what}: {e}"),
    }
}

fn exit_from<'a>(m: &'a Term, from: &Pid) -> Option<&'a Term> {
    match m.as_tuple() {
        Some([tag, Term::Pid(p), reason]) if tag.is_atom("EXIT") && p == from => Some(reason),
        _ => None,
    }
}

fn down_reason(m: &Term) -> Option<(Term, Term)> {
    match m.as_tuple() {
        Some([tag, _, kind, who, reason]) if tag.is_atom("DOWN") && kind.is_atom("process") => {
            Some((who.clone(), reason.clone()))
        }
        _ => None,
    }
}

/// An erl process that registers under `name`, optionally traps exits, and
/// forwards every message it gets to the agent (the eval process).
fn erl_relay(erl: &mut ErlNode, name: &str, trap: bool) -> String {
    erl.eval(&format!(
        "begin Me = self(), P = spawn(fun() -> process_flag(trap_exit, {trap}), (fun L() -> receive M -> Me ! {{relay, {name}, M}}, L() end end)() end), \
         register({name}, P), erlang:pid_to_list(P) end"
    ))
}

fn pid_of_erl(rust: &TestNode, erl_node: &str, name: &str) -> Pid {
    let node = rust.node.clone();
    let (e, n) = (erl_node.to_string(), name.to_string());
    match rust.run(T, async move { node.rpc_call(&e, "erlang", "whereis", vec![Term::atom(&n)], T).await }) {
        Ok(Term::Pid(p)) => p,
        other => panic!("whereis({name}) on {erl_node}: {other:?}"),
    }
}

#[test]
fn links_across_nodes_propagate_exits_both_ways() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "l1", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "l1", epmd.port);
    let r = rust.name();

    // An erl process linked to a Rust process dies when the Rust process exits abnormally.
    let victim = rust.node.spawn(|mut p| async move {
        let _ = p.receive(None, |m| m.is_atom("die").then_some(())).await;
        Err::<(), Term>(Term::atom("boom"))
    });
    rust.node.register("victim", &victim).unwrap();
    erl.eval(&format!(
        "begin V = rpc:call('{r}', erlang, whereis, [victim]), Me = self(), \
         E = spawn(fun() -> link(V), rpc:call('{r}', erlang, node, []), Me ! linked, receive never -> ok end end), \
         put(e_mon, erlang:monitor(process, E)), receive linked -> ok after 10000 -> not_linked end end"
    ));
    let node = rust.node.clone();
    rust.run(T, async move { node.send(&victim, Term::atom("die")).await.unwrap() });
    assert_eq!(erl.eval("receive {'DOWN', _, process, _, R} -> R after 10000 -> timeout end"), "boom");

    // A Rust process linked to an erl process dies when the erl process exits abnormally.
    erl.eval("register(doomed, spawn(fun() -> receive die -> exit(crash) end end))");
    let doomed = pid_of_erl(&rust, &erl.node, "doomed");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let mut watcher = node.process();
        let d = doomed.clone();
        let linked = node.spawn(move |p| async move {
            p.link(&d);
            let mut p = p;
            let _ = p.recv().await; // never returns normally: the exit signal kills it
        });
        let mref = watcher.monitor(&linked);
        // A round trip on the same connection: the link request is through.
        node.rpc_call(&e, "erlang", "node", vec![], T).await.unwrap();
        watcher.send_named("doomed", &e, Term::atom("die")).await.unwrap();
        let (_, reason) = expect(&mut watcher, "DOWN of the linked Rust process", down_reason).await;
        assert_eq!(reason, Term::atom("crash"));
        let _ = mref;
    });

    // Trapping exits: the signal arrives as a message.
    erl.eval("register(doomed2, spawn(fun() -> receive die -> exit(crash2) end end))");
    let doomed2 = pid_of_erl(&rust, &erl.node, "doomed2");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let mut p = node.process();
        p.trap_exit(true);
        p.link(&doomed2);
        node.rpc_call(&e, "erlang", "node", vec![], T).await.unwrap();
        p.send_named("doomed2", &e, Term::atom("die")).await.unwrap();
        let reason = expect(&mut p, "EXIT message", |m| exit_from(m, &doomed2).cloned()).await;
        assert_eq!(reason, Term::atom("crash2"));
    });
}

#[test]
fn exit_signals_and_unlink_across_nodes() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "l2", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "l2", epmd.port);
    let r = rust.name();

    // exit(Pid, Reason) from Rust to an erl process that traps exits, and one that does not.
    erl_relay(&mut erl, "trapper", true);
    erl.eval("begin register(plain, spawn(fun() -> receive never -> ok end end)), put(pm, erlang:monitor(process, plain)), ok end");
    let trapper = pid_of_erl(&rust, &erl.node, "trapper");
    let plain = pid_of_erl(&rust, &erl.node, "plain");
    let p = rust.node.process();
    p.exit(&trapper, Term::atom("please_stop"));
    p.exit(&plain, Term::atom("shot"));
    let relayed = erl.eval(&format!(
        "receive {{relay, trapper, {{'EXIT', P, please_stop}}}} when node(P) =:= '{r}' -> from_rust after 10000 -> timeout end"
    ));
    assert_eq!(relayed, "from_rust");
    assert_eq!(erl.eval("receive {'DOWN', _, process, _, R} -> R after 10000 -> timeout end"), "shot");

    // exit(RustPid, kill) from erl kills a Rust process that traps exits, with reason `killed`.
    let node = rust.node.clone();
    let target = rust.node.spawn(|mut p| async move {
        p.trap_exit(true);
        loop {
            if p.recv().await.is_err() {
                return;
            }
        }
    });
    rust.node.register("target", &target).unwrap();
    let mut w = node.process();
    let mref = w.monitor(&target);
    erl.eval(&format!("exit(rpc:call('{r}', erlang, whereis, [target]), kill)"));
    let (_, reason) = rust.run(T, async { expect(&mut w, "DOWN of the killed process", down_reason).await });
    assert_eq!(reason, Term::atom("killed"));
    let _ = mref;

    // unlink (UNLINK_ID): after unlinking, the exit does not propagate.
    erl.eval("register(unlinked, spawn(fun() -> receive die -> exit(crash) end end))");
    let unlinked = pid_of_erl(&rust, &erl.node, "unlinked");
    let e = erl.node.clone();
    rust.run(T, async move {
        let mut p = node.process();
        p.trap_exit(true);
        p.link(&unlinked);
        p.unlink(&unlinked);
        node.rpc_call(&e, "erlang", "node", vec![], T).await.unwrap();
        p.send_named("unlinked", &e, Term::atom("die")).await.unwrap();
        let got = p.receive(Some(Duration::from_millis(1500)), |m| exit_from(m, &unlinked).cloned()).await.unwrap();
        assert_eq!(got, None, "an unlinked process's exit arrived");
    });
}

#[test]
fn monitors_across_nodes_report_the_right_reasons() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "m1", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "m1", epmd.port);
    let r = rust.name();

    // Rust monitors erl processes: by pid, by {Name, Node}, a missing name (noproc), demonitor.
    erl.eval("register(mon_a, spawn(fun() -> receive die -> exit(reason_a) end end))");
    erl.eval("register(mon_b, spawn(fun() -> receive die -> exit(reason_b) end end))");
    let a = pid_of_erl(&rust, &erl.node, "mon_a");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let mut p = node.process();
        let ra = p.monitor(&a);
        let rb = p.monitor_named("mon_b", &e);
        let rmissing = p.monitor_named("nobody_here", &e);
        let (who, reason) = expect(&mut p, "noproc DOWN", |m| match m.as_tuple() {
            Some([_, Term::Ref(r), ..]) if **r == rmissing => down_reason(m),
            _ => None,
        })
        .await;
        assert_eq!((who, reason), (parse(&format!("{{nobody_here, '{e}'}}")).unwrap(), Term::atom("noproc")));
        p.send(&a, Term::atom("die")).await.unwrap();
        p.send_named("mon_b", &e, Term::atom("die")).await.unwrap();
        let (who, reason) = expect(&mut p, "DOWN for mon_a", |m| match m.as_tuple() {
            Some([_, Term::Ref(r), ..]) if **r == ra => down_reason(m),
            _ => None,
        })
        .await;
        assert_eq!((who, reason), (Term::Pid(a.clone()), Term::atom("reason_a")));
        let (who, reason) = expect(&mut p, "DOWN for mon_b", |m| match m.as_tuple() {
            Some([_, Term::Ref(r), ..]) if **r == rb => down_reason(m),
            _ => None,
        })
        .await;
        assert_eq!(who, parse(&format!("{{mon_b, '{e}'}}")).unwrap());
        assert_eq!(reason, Term::atom("reason_b"));
    });

    // erl monitors Rust processes: by pid, by {Name, Node}, a missing name.
    let quitter = rust.node.spawn(|mut p| async move {
        let _ = p.receive(None, |m| m.is_atom("quit").then_some(())).await;
        Err::<(), Term>(Term::atom("rust_reason"))
    });
    rust.node.register("quitter", &quitter).unwrap();
    let answer = erl.eval(&format!(
        "begin M = erlang:monitor(process, {{nobody, '{r}'}}), receive {{'DOWN', M, process, Who, R}} -> {{Who, R}} after 10000 -> timeout end end"
    ));
    assert_eq!(parse(&answer).unwrap(), parse(&format!("{{{{nobody, '{r}'}}, noproc}}")).unwrap());
    // The rpc round trip after the monitor request makes sure the request has
    // been handled before the process quits (signals on one connection keep their order).
    erl.eval(&format!(
        "begin put(qm, erlang:monitor(process, {{quitter, '{r}'}})), rpc:call('{r}', erlang, node, []) end"
    ));
    let node = rust.node.clone();
    rust.run(T, async move { node.send(&quitter, Term::atom("quit")).await.unwrap() });
    let answer = erl.eval("receive {'DOWN', _, process, Who, R} -> {Who, R} after 10000 -> timeout end");
    assert_eq!(parse(&answer).unwrap(), parse(&format!("{{{{quitter, '{r}'}}, rust_reason}}")).unwrap());
}

#[test]
fn a_lost_node_breaks_links_and_fires_monitors_with_noconnection() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "n1", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "n1", epmd.port);
    erl.eval("register(forever, spawn(fun() -> receive never -> ok end end))");
    let forever = pid_of_erl(&rust, &erl.node, "forever");
    let node = rust.node.clone();
    let e = erl.node.clone();
    let mut p = node.process();
    let mut nodes = node.process();
    p.trap_exit(true);
    p.link(&forever);
    let mref = p.monitor(&forever);
    p.monitor_node(&e);
    nodes.monitor_nodes(true);
    std::thread::sleep(Duration::from_millis(200));
    erl.kill();
    rust.run(T, async {
        let reason = expect(&mut p, "EXIT noconnection", |m| exit_from(m, &forever).cloned()).await;
        assert_eq!(reason, Term::atom("noconnection"));
        let (_, reason) = expect(&mut p, "DOWN noconnection", |m| match m.as_tuple() {
            Some([_, Term::Ref(r), ..]) if **r == mref => down_reason(m),
            _ => None,
        })
        .await;
        assert_eq!(reason, Term::atom("noconnection"));
        let down = parse(&format!("{{nodedown, '{e}'}}")).unwrap();
        expect(&mut p, "nodedown", |m| (*m == down).then_some(())).await;
        expect(&mut nodes, "nodedown (monitor_nodes)", |m| (*m == down).then_some(())).await;
    });
    // A call to the gone node fails with noconnection; it does not hang.
    let started = std::time::Instant::now();
    let err = rust.run(T, async { p.call_named("forever", &e, Term::atom("x"), T).await }).unwrap_err();
    assert!(err.to_string().contains("noconnection"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

fn rust_pair(epmd: &OtpEpmd, prefix: &str) -> (TestNode, TestNode) {
    let a = TestNode::short(&format!("{prefix}a"), "mesh", epmd.port);
    let b = TestNode::short(&format!("{prefix}b"), "mesh", epmd.port);
    assert!(a.run(T, a.node.ping(&b.name())));
    (a, b)
}

fn wait_for_mesh(nodes: &[&Node], expected: usize) {
    common::wait_for("a full mesh", T, || nodes.iter().all(|n| n.nodes().len() == expected).then_some(()));
}

#[test]
fn two_pairs_merge_into_a_mesh_of_four() {
    let epmd = OtpEpmd::start();
    let (a, b) = rust_pair(&epmd, "p1");
    let (c, d) = rust_pair(&epmd, "p2");
    wait_for_mesh(&[&a.node, &b.node], 1);
    wait_for_mesh(&[&c.node, &d.node], 1);
    // A meets D: everyone ends up connected to everyone.
    assert!(a.run(T, a.node.ping(&d.name())));
    wait_for_mesh(&[&a.node, &b.node, &c.node, &d.node], 3);
    let names: Vec<String> = a.node.nodes().iter().map(|n| n.to_string()).collect();
    for other in [&b, &c, &d] {
        assert!(names.contains(&other.name()));
    }
}

#[test]
fn a_hidden_node_stays_out_of_the_mesh() {
    let epmd = OtpEpmd::start();
    let (a, b) = rust_pair(&epmd, "h");
    let hidden =
        TestNode::start(&format!("{}@localhost", common::unique_name("hidden")), "mesh", epmd.port, |b| b.hidden(true));
    wait_for_mesh(&[&a.node, &b.node], 1);
    assert!(hidden.run(T, hidden.node.ping(&a.name())));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hidden.node.connected_nodes().len(), 1, "no transitive connection to B");
    assert!(!a.node.nodes().iter().any(|n| n.to_string() == hidden.name()), "not in A's nodes()");
    assert!(a.node.connected_nodes().iter().any(|n| n.to_string() == hidden.name()));
}

#[test]
fn erlang_nodes_see_beamlink_nodes_as_hidden_and_do_not_mesh_with_them() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let (a, b) = rust_pair(&epmd, "e");
    wait_for_mesh(&[&a.node, &b.node], 1);
    let mut e1 = ErlNode::start_short(&common::unique_name("e1"), "mesh", epmd.port);
    let e2 = ErlNode::start_short(&common::unique_name("e2"), "mesh", epmd.port);
    assert_eq!(e1.eval(&format!("net_adm:ping('{}')", e2.node)), "pong");
    assert_eq!(e1.eval(&format!("net_adm:ping('{}')", a.name())), "pong");
    // A lists the Erlang node it is connected to; the Erlang nodes mesh among themselves only.
    assert!(a.node.nodes().iter().any(|n| n.to_string() == e1.node));
    assert_eq!(e1.eval(&format!("lists:member('{}', nodes(hidden))", a.name())), "true");
    assert_eq!(e1.eval(&format!("lists:member('{}', nodes())", a.name())), "false");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !b.node.connected_nodes().iter().any(|n| n.to_string() == e1.node),
        "B did not follow A to the Erlang node"
    );
    assert_eq!(e1.eval("global:sync()"), "ok", "global does not stall on beamlink nodes");
}

#[test]
fn a_kept_connection_comes_back_after_the_peer_restarts() {
    let epmd = OtpEpmd::start();
    let a = TestNode::short("keep_a", "k", epmd.port);
    let name = format!("{}@localhost", common::unique_name("keep_b"));
    let b = TestNode::start(&name, "k", epmd.port, |x| x);
    let old_creation = b.node.creation();
    a.node.keep_connected(&name).unwrap();
    common::wait_for("the first connection", T, || {
        a.node.connected_nodes().iter().any(|n| n.as_str() == name).then_some(())
    });
    drop(b);
    common::wait_for("the connection to drop", T, || {
        (!a.node.connected_nodes().iter().any(|n| n.as_str() == name)).then_some(())
    });
    let b = TestNode::start(&name, "k", epmd.port, |x| x);
    assert_ne!(b.node.creation(), old_creation, "a restarted node gets a new creation");
    common::wait_for("the background reconnection", T, || {
        a.node.connected_nodes().iter().any(|n| n.as_str() == name).then_some(())
    });
}

#[test]
fn simultaneous_connects_leave_exactly_one_connection() {
    let epmd = OtpEpmd::start();
    for round in 0..100 {
        let a = TestNode::short(&format!("sim{round}a"), "s", epmd.port);
        let b = TestNode::short(&format!("sim{round}b"), "s", epmd.port);
        let (an, bn) = (a.node.clone(), b.node.clone());
        let (a_name, b_name) = (a.name(), b.name());
        let (r1, r2) = a.run(T, async move { tokio::join!(an.connect(&b_name), bn.connect(&a_name)) });
        assert!(r1.is_ok() && r2.is_ok(), "round {round}: {r1:?} {r2:?}");
        assert!(a.run(T, a.node.ping(&b.name())), "round {round}");
        assert_eq!(a.node.connected_nodes().len(), 1);
        assert_eq!(b.node.connected_nodes().len(), 1);
    }
}

#[test]
fn many_nodes_joining_through_one_at_once_form_a_full_mesh() {
    let epmd = OtpEpmd::start();
    let nodes: Vec<TestNode> = (0..8).map(|i| TestNode::short(&format!("star{i}"), "mesh", epmd.port)).collect();
    let hub = nodes[0].name();
    for n in &nodes[1..] {
        let node = n.node.clone();
        let hub = hub.clone();
        n.rt.spawn(async move { node.connect(&hub).await });
    }
    let all: Vec<&Node> = nodes.iter().map(|n| &n.node).collect();
    wait_for_mesh(&all, 7);
}

#[test]
fn messages_to_pids_of_a_previous_incarnation_are_dropped() {
    let epmd = OtpEpmd::start();
    let a = TestNode::short("inc_a", "inc", epmd.port);
    let name = format!("{}@localhost", common::unique_name("inc_b"));
    let start_b = || {
        let b = TestNode::start(&name, "inc", epmd.port, |x| x);
        let (tx, rx) = std::sync::mpsc::channel();
        // The same spawn order on every start: the process gets the same number and serial.
        let pid = b.node.spawn(move |mut p| async move {
            while let Ok(m) = p.recv().await {
                let _ = tx.send(m);
            }
        });
        (b, pid, rx)
    };
    let (b, old_pid, _old_rx) = start_b();
    let old_creation = b.node.creation();
    drop(b);
    let (b, new_pid, rx) = start_b();
    assert_ne!(b.node.creation(), old_creation);
    assert_eq!((old_pid.id, old_pid.serial), (new_pid.id, new_pid.serial), "same number, new creation");
    let node = a.node.clone();
    a.run(T, async move {
        let p = node.process();
        p.send(&old_pid, Term::atom("to_the_old_one")).await.unwrap();
        p.send(&new_pid, Term::atom("to_the_new_one")).await.unwrap();
    });
    assert_eq!(
        rx.recv_timeout(T).unwrap(),
        Term::atom("to_the_new_one"),
        "only the message for the new incarnation arrives"
    );
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn an_exit_signal_reports_its_own_reason_to_monitors_and_links() {
    // Killing a process aborts its task; on another worker thread the
    // aborted task could exit the process as `killed` before the signal's
    // own reason was recorded. Many kills in a row give that race its chance.
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("reasons", "k1", epmd.port);
    let node = rust.node.clone();
    rust.run(T, async move {
        let mut watcher = node.process();
        watcher.trap_exit(true);
        for i in 0..300i64 {
            let victim = node.spawn(|mut p| async move {
                let _ = p.recv().await;
            });
            watcher.link(&victim);
            let reference = watcher.monitor(&victim);
            let reason = Term::tuple(vec![Term::atom("custom"), Term::from(i)]);
            node.process().exit(&victim, reason.clone());
            let (_, down) = expect(&mut watcher, "the DOWN", |m| match m.as_tuple() {
                Some([_, Term::Ref(r), ..]) if **r == reference => down_reason(m),
                _ => None,
            })
            .await;
            assert_eq!(down, reason, "DOWN reason of kill {i}");
            let exit = expect(&mut watcher, "the EXIT", |m| exit_from(m, &victim).cloned()).await;
            assert_eq!(exit, reason, "EXIT reason of kill {i}");
        }
    });
}
