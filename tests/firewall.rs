//! The distribution firewall and the connection limits, against real erl
//! peers and beamlink peers.

mod common;

use std::time::Duration;

use beamlink::node::{Firewall, Limits, Policy, RpcException};
use beamlink::term::Term;
use common::erl::{ErlNode, OtpEpmd};
use common::rust::TestNode;

const T: Duration = Duration::from_secs(30);

fn add_fn(node: &beamlink::node::Node) {
    node.register_rpc("calc", "add", 2, |args: Vec<Term>| async move {
        match (args[0].as_i64(), args[1].as_i64()) {
            (Some(a), Some(b)) => Ok(Term::from(a + b)),
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        }
    });
    node.register_rpc("calc", "secret", 0, |_args: Vec<Term>| async move { Ok(Term::atom("leaked")) });
}

#[test]
fn a_locked_down_node_refuses_what_its_policy_does_not_allow() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("fw"));
    let policy = Policy::locked_down().allow_rpc("calc", Some("add")).allow_name("inbox");
    let rust = TestNode::start(&name, "fw", epmd.port, |b| b.firewall(Firewall::new(policy)));
    add_fn(&rust.node);
    let (tx, rx) = std::sync::mpsc::channel();
    let inbox_tx = tx.clone();
    rust.node
        .spawn_registered("inbox", move |mut p| async move {
            while let Ok(m) = p.recv().await {
                let _ = inbox_tx.send(("inbox", m));
            }
        })
        .unwrap();
    let survivor = rust.node.spawn(move |mut p| async move {
        p.register("secret_box").unwrap();
        while let Ok(m) = p.recv().await {
            let _ = tx.send(("secret_box", m));
        }
    });
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "fw", epmd.port);

    assert_eq!(erl.eval(&format!("net_adm:ping('{name}')")), "pong", "pings still work");
    assert_eq!(erl.eval(&format!("rpc:call('{name}', calc, add, [1, 2])")), "3", "an allowed function");
    assert_eq!(erl.eval(&format!("rpc:call('{name}', calc, secret, [])")), "{badrpc,{'EXIT',not_allowed}}");
    assert_eq!(erl.eval(&format!("rpc:block_call('{name}', calc, secret, [])")), "{badrpc,{'EXIT',not_allowed}}");
    assert_eq!(erl.eval(&format!("rpc:block_call('{name}', calc, add, [2, 2])")), "4");
    assert_eq!(
        erl.eval(&format!("try erpc:call('{name}', calc, secret, []) catch C:R -> {{C, R}} end")),
        "{error,{erpc,not_allowed}}"
    );

    // Messages to names outside the allow-list are dropped; the allowed one arrives after them.
    erl.eval(&format!("{{secret_box, '{name}'}} ! dropped"));
    erl.eval(&format!("{{inbox, '{name}'}} ! delivered"));
    assert_eq!(rx.recv_timeout(T).unwrap(), ("inbox", Term::atom("delivered")));
    // Had `dropped` passed, it would be in secret_box's mailbox already (it
    // came first on the same connection), ahead of a message sent to it now,
    // and secret_box passes on what it gets in order.
    let (node, to) = (rust.node.clone(), survivor.clone());
    rust.run(T, async move { node.process().send(&to, Term::atom("marker")).await.unwrap() });
    assert_eq!(rx.recv_timeout(T).unwrap(), ("secret_box", Term::atom("marker")), "something reached secret_box");

    // exit/2 from the peer is dropped: the process survives `kill`.
    erl.eval("register(agent, self())");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move { node.send_named("agent", &e, Term::Pid(survivor)).await.unwrap() });
    erl.eval("receive P when is_pid(P) -> exit(P, kill) after 10000 -> no_pid end");
    erl.eval(&format!("rpc:call('{name}', calc, add, [0, 0])"));
    assert!(rust.node.whereis("secret_box").is_some(), "exit signal passed the firewall");
}

#[test]
fn per_peer_rules_override_the_default() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("fw2"));
    let trusted = format!("{}@localhost", common::unique_name("trusted"));
    let fw = Firewall::new(Policy::locked_down()).peer(&trusted, Policy::allow_all());
    let server = TestNode::start(&name, "fw", epmd.port, |b| b.firewall(fw));
    add_fn(&server.node);
    let t = TestNode::start(&trusted, "fw", epmd.port, |b| b);
    let other = TestNode::short("untrusted", "fw", epmd.port);
    let n = name.clone();
    let node = t.node.clone();
    assert_eq!(
        t.run(T, async move { node.rpc_call(&n, "calc", "secret", vec![], T).await }).unwrap(),
        Term::atom("leaked")
    );
    let n = name.clone();
    let node = other.node.clone();
    match other.run(T, async move { node.rpc_call(&n, "calc", "secret", vec![], T).await }) {
        Err(beamlink::node::CallError::BadRpc(r)) => assert_eq!(r.to_string(), "{'EXIT',not_allowed}"),
        other => panic!("expected badrpc, got {other:?}"),
    }
}

#[test]
fn connection_limit_and_authentication_back_off() {
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("lim"));
    let limits = Limits {
        max_connections: 2,
        auth_failures_before_backoff: 2,
        auth_backoff: Duration::from_secs(3),
        ..Limits::default()
    };
    let server = TestNode::start(&name, "right", epmd.port, |b| b.limits(limits));
    // Two peers fit; a third is refused while they stay. (Hidden peers: the
    // mesh would otherwise reconnect A through B after A disconnects.)
    let hidden = |prefix: &str| {
        TestNode::start(&format!("{}@localhost", common::unique_name(prefix)), "right", epmd.port, |b| b.hidden(true))
    };
    let a = hidden("la");
    let b = hidden("lb");
    let c = hidden("lc");
    assert!(a.run(T, a.node.ping(&name)));
    assert!(b.run(T, b.node.ping(&name)));
    assert!(!c.run(T, c.node.ping(&name)), "a third connection was accepted");
    a.node.disconnect(&name);
    common::wait_for("the server to see A go", T, || (server.node.connected_nodes().len() == 1).then_some(()));
    assert!(c.run(T, c.node.ping(&name)), "room again after a peer left");

    // Wrong cookies under one name: after two failures that name is refused
    // from this address, even with the right cookie, until the back-off
    // passes; other names from the same address are still served.
    drop((b, c));
    let guessed = format!("{}@localhost", common::unique_name("wrong"));
    let wrong = TestNode::start(&guessed, "WRONG", epmd.port, |b| b);
    for _ in 0..2 {
        assert!(!wrong.run(T, wrong.node.ping(&name)));
    }
    drop(wrong);
    let same = TestNode::start(&guessed, "right", epmd.port, |b| b);
    assert!(!same.run(T, same.node.ping(&name)), "a name in back-off was served");
    let d = TestNode::short("ld", "right", epmd.port);
    assert!(d.run(T, d.node.ping(&name)), "a neighbour on the same address was refused");
    std::thread::sleep(Duration::from_millis(3200));
    assert!(same.run(T, same.node.ping(&name)), "served again after the back-off");
}
