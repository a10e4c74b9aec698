//! A Rust node and real `erl` nodes over plain TCP, in both directions:
//! ping, ordered messages, every kind of term, rpc, gen_server calls, a
//! large message beside small ones, naming modes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use beamlink::node::{CallError, GenCall, Node, RpcException};
use beamlink::term::{Term, parse};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::TestNode;

const T: Duration = Duration::from_secs(30);

fn erl_short(epmd: &OtpEpmd, cookie: &str) -> ErlNode {
    ErlNode::start_short(&common::unique_name("erl"), cookie, epmd.port)
}

#[test]
fn ping_both_ways_with_short_names() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c1", epmd.port);
    let mut erl = erl_short(&epmd, "c1");
    assert_eq!(erl.eval(&format!("net_adm:ping('{}')", rust.name())), "pong");
    assert!(rust.run(T, rust.node.ping(&erl.node)), "rust → erl ping");
    // The erl node lists the Rust node as hidden: it never advertises itself as visible.
    assert_eq!(erl.eval(&format!("lists:member('{}', nodes(hidden))", rust.name())), "true");
}

#[test]
fn ping_both_ways_with_long_names() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@127.0.0.1", common::unique_name("rust"));
    let rust = TestNode::start(&name, "c2", epmd.port, |b| b);
    let mut erl = ErlNode::start(ErlOptions {
        name: ErlName::Long(common::unique_name("erl")),
        cookie: "c2".into(),
        epmd_port: epmd.port,
        extra_args: vec![],
    });
    assert_eq!(erl.eval(&format!("net_adm:ping('{name}')")), "pong");
    assert!(rust.run(T, rust.node.ping(&erl.node)));
}

#[test]
fn naming_modes_do_not_mix_when_dialling() {
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c", epmd.port);
    let err = rust.run(T, rust.node.connect("other@127.0.0.1")).unwrap_err();
    assert!(err.to_string().contains("this node uses short names (-sname)"), "{err}");
    let long = TestNode::start(&format!("{}@127.0.0.1", common::unique_name("long")), "c", epmd.port, |b| b);
    let err = long.run(T, long.node.connect("other@localhost")).unwrap_err();
    assert!(err.to_string().contains("this node uses long names (-name)"), "{err}");
}

#[test]
fn ten_thousand_messages_in_order_both_ways() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c3", epmd.port);
    let mut erl = erl_short(&epmd, "c3");

    // erl → Rust: a registered Rust process checks the sequence.
    let (tx, rx) = std::sync::mpsc::channel();
    rust.node
        .spawn_registered("collector", move |mut p| async move {
            for expected in 1..=10_000i64 {
                let msg = p.recv().await.expect("message");
                match msg.as_tuple() {
                    Some([tag, Term::Int(n)]) if tag.is_atom("seq") && *n == expected => {}
                    _ => {
                        let _ = tx.send(Err(format!("expected {expected}, got {msg}")));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(()));
        })
        .unwrap();
    let sent = erl.eval(&format!(
        "lists:foreach(fun(N) -> {{collector, '{}'}} ! {{seq, N}} end, lists:seq(1, 10000))",
        rust.name()
    ));
    assert_eq!(sent, "ok");
    rx.recv_timeout(T).expect("the collector finished").unwrap();

    // Rust → erl: an erl process checks the sequence and reports back.
    erl.eval(
        "begin Me = self(), register(chk, spawn(fun() -> Me ! {chk_result, (fun L(N) when N > 10000 -> ok; \
         L(N) -> receive {seq, N} -> L(N + 1); {seq, M} -> {out_of_order, N, M} after 10000 -> {timeout, N} end end)(1)} end)), ok end",
    );
    let p = rust.node.process();
    let erl_node = erl.node.clone();
    rust.run(T, async {
        for n in 1..=10_000i64 {
            p.send_named("chk", &erl_node, Term::Tuple(vec![Term::atom("seq"), Term::from(n)])).await.unwrap();
        }
    });
    assert_eq!(erl.eval("receive {chk_result, R} -> R after 20000 -> no_result end"), "ok");
}

/// Every kind of term OTP can send, as Erlang expressions.
const TERMS: &str = "[0, 255, 256, -1, -256, 134217728, 2147483647, 2147483648, -2147483648, -2147483649, \
    9223372036854775807, 9223372036854775808, 18446744073709551616, -(1 bsl 64), 1 bsl 1000, \
    0.0, -0.0, 1.5, -2.25e-300, 1.0e300, 5.0e-324, \
    foo, '', 'hello world', 'héllo', '原子', list_to_atom(lists:duplicate(255, $a)), true, \
    <<>>, <<1,2,3>>, <<1:1>>, <<1,2:3>>, list_to_binary(lists:seq(0, 255)), <<0:800000>>, \
    [], [1,2,3], \"string\", [1|2], [a, b | c], lists:seq(1, 300), lists:seq(1, 70000), [256, 1000], \
    {}, {a}, list_to_tuple(lists:seq(1, 300)), \
    #{}, #{a => 1, b => [2]}, maps:from_list([{I, I} || I <- lists:seq(1, 100)]), #{{1,2} => x, [a] => y, 1.0 => z, 1 => w}, \
    self(), make_ref(), hd(erlang:ports()), fun lists:map/2, fun(X) -> X + 1 end, \
    {nested, [#{k => {<<\"v\">>, [1.0, self()]}}]}]";

#[test]
fn every_kind_of_term_survives_an_echo_round_trip() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c4", epmd.port);
    beamlink::node::services::echo::start(&rust.node, "echo").unwrap();
    let mut erl = erl_short(&epmd, "c4");
    let check = format!(
        "begin Ts = {TERMS}, Rs = [begin {{echo, '{}'}} ! {{self(), T}}, receive B -> {{T =:= B, term_to_binary(T) =:= term_to_binary(B)}} \
         after 10000 -> timeout end end || T <- Ts], \
         [I || {{I, R}} <- lists:zip(lists:seq(1, length(Rs)), Rs), R =/= {{true, true}}] end",
        rust.name()
    );
    assert_eq!(erl.eval_timeout(&check, T), "[]", "indices of terms that did not come back identical");
}

#[test]
fn rpc_from_erlang_into_rust() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c5", epmd.port);
    rust.node.register_rpc("calc", "add", 2, |args: Vec<Term>| async move {
        match (args[0].as_i64(), args[1].as_i64()) {
            (Some(a), Some(b)) => Ok(Term::from(a + b)),
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        }
    });
    rust.node.register_rpc("calc", "fail", 1, |args: Vec<Term>| async move {
        match args[0].as_atom().map(|a| a.as_str().to_string()).as_deref() {
            Some("throw") => Err(RpcException::Throw(Term::atom("thrown"))),
            Some("exit") => Err(RpcException::Exit(Term::atom("gone"))),
            _ => Err(RpcException::Error(Term::atom("broken"))),
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    rust.node.register_rpc("calc", "note", 1, move |args: Vec<Term>| {
        let _ = tx.lock().unwrap().send(args[0].clone());
        async { Ok(Term::atom("ok")) }
    });
    let mut erl = erl_short(&epmd, "c5");
    let r = rust.name();
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, add, [40, 2])")), "42");
    assert_eq!(erl.eval(&format!("erpc:call('{r}', calc, add, [1, 2])")), "3");
    assert_eq!(erl.eval(&format!("rpc:block_call('{r}', calc, add, [2, 2])")), "4");
    assert_eq!(erl.eval(&format!("rpc:call('{r}', erlang, node, [])")), format!("'{r}'").trim_matches('\''));
    // Unknown functions answer exactly as OTP itself does for them.
    let ours = erl.eval(&format!("rpc:call('{r}', nosuch, fn, [1, 2])"));
    assert_eq!(ours, "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1,2],[]}]}}}");
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, add, [1])")), "{badrpc,{'EXIT',{undef,[{calc,add,[1],[]}]}}}");
    // The three exception classes, through rpc (erpc underneath) and erpc.
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, fail, [throw])")), "thrown");
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, fail, [exit])")), "{badrpc,{'EXIT',gone}}");
    assert_eq!(
        erl.eval(&format!("rpc:call('{r}', calc, fail, [error])")),
        "{badrpc,{'EXIT',{broken,[{calc,fail,[error],[]}]}}}"
    );
    assert_eq!(
        erl.eval(&format!("try erpc:call('{r}', calc, fail, [exit]) catch C:R -> {{C, R}} end")),
        "{exit,{exception,gone}}"
    );
    assert_eq!(
        erl.eval(&format!("rpc:block_call('{r}', calc, fail, [error])")),
        "{badrpc,{'EXIT',{broken,[{calc,fail,[error],[]}]}}}"
    );
    // Casts run without a reply.
    assert_eq!(erl.eval(&format!("rpc:cast('{r}', calc, note, [via_rpc_cast])")), "true");
    assert_eq!(rx.recv_timeout(T).unwrap(), Term::atom("via_rpc_cast"));
    assert_eq!(erl.eval(&format!("erpc:cast('{r}', calc, note, [via_erpc_cast])")), "ok");
    assert_eq!(rx.recv_timeout(T).unwrap(), Term::atom("via_erpc_cast"));
    assert_eq!(erl.eval(&format!("is_pid(spawn('{r}', calc, note, [via_spawn]))")), "true");
    assert_eq!(rx.recv_timeout(T).unwrap(), Term::atom("via_spawn"));
}

#[test]
fn rpc_from_rust_into_erlang() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c6", epmd.port);
    let erl = erl_short(&epmd, "c6");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let args = vec![parse("[1, 2, 3]").unwrap()];
        assert_eq!(node.rpc_call(&e, "lists", "reverse", args, T).await.unwrap(), parse("[3, 2, 1]").unwrap());
        assert_eq!(node.rpc_call(&e, "erlang", "node", vec![], T).await.unwrap(), Term::atom(&e));
        // A function that prints: the output goes to this node's group leader, which answers.
        let args = vec![Term::string("printed remotely~n"), Term::nil()];
        assert_eq!(node.rpc_call(&e, "io", "format", args, T).await.unwrap(), Term::atom("ok"));
        match node.rpc_call(&e, "nosuch", "fn", vec![], T).await {
            Err(CallError::BadRpc(reason)) => assert_eq!(reason.to_string(), "{'EXIT',{undef,[{nosuch,fn,[],[]}]}}"),
            other => panic!("expected badrpc, got {other:?}"),
        }
    });
}

#[test]
fn gen_server_calls_both_ways() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c7", epmd.port);
    // A Rust gen_server-style process: answers {add, A, B} calls.
    rust.node
        .spawn_registered("adder", |mut p| async move {
            while let Ok(msg) = p.recv().await {
                if let Some(call) = GenCall::parse(&msg)
                    && let Some([_, a, b]) = call.request.as_tuple()
                {
                    let sum = a.as_i64().unwrap_or(0) + b.as_i64().unwrap_or(0);
                    p.reply(&call.from, Term::from(sum)).await.unwrap();
                }
            }
        })
        .unwrap();
    let mut erl = erl_short(&epmd, "c7");
    let r = rust.name();
    assert_eq!(erl.eval(&format!("gen_server:call({{adder, '{r}'}}, {{add, 2, 3}})")), "5");
    // A call to a name that does not exist fails at once with noproc (the monitor fires).
    let started = std::time::Instant::now();
    let noproc = erl.eval(&format!("catch gen_server:call({{nosuch, '{r}'}}, x, 20000)"));
    assert!(noproc.starts_with("{'EXIT',{noproc,"), "{noproc}");
    assert!(started.elapsed() < Duration::from_secs(10), "noproc took {:?}", started.elapsed());

    // Rust → erl: a real OTP gen_server, and a missing one.
    erl.eval("register(erl_srv, spawn(fun() -> (fun L() -> receive {'$gen_call', From, {double, X}} -> gen_server:reply(From, 2 * X), L() end end)() end))");
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let mut p = node.process();
        let reply = p.call_named("erl_srv", &e, Term::Tuple(vec![Term::atom("double"), Term::from(21)]), T).await;
        assert_eq!(reply.unwrap(), Term::from(42));
        let apps = p.call_named("application_controller", &e, Term::atom("which_applications"), T).await.unwrap();
        assert!(apps.to_string().contains("kernel"), "{apps}");
        match p.call_named("nosuch", &e, Term::atom("x"), T).await {
            Err(CallError::NoProc(_)) => {}
            other => panic!("expected noproc, got {other:?}"),
        }
    });
}

#[test]
fn a_large_message_does_not_hold_up_small_ones() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "c8", epmd.port);
    let mut erl = erl_short(&epmd, "c8");
    const BIG: usize = 50 << 20;

    // erl → Rust: a pinger keeps sending small messages, marked once the big send has begun.
    let (tx, rx) = std::sync::mpsc::channel();
    rust.node
        .spawn_registered("coll", move |mut p| async move {
            let mut small_after_start = 0;
            loop {
                let msg = p.recv().await.expect("message");
                match msg.as_tuple() {
                    Some([tag, _, started]) if tag.is_atom("small") && started.is_atom("true") => {
                        small_after_start += 1;
                    }
                    Some([tag, Term::Binary(b)]) if tag.is_atom("big") => {
                        let _ = tx.send((b.len(), small_after_start));
                        return;
                    }
                    _ => {}
                }
            }
        })
        .unwrap();
    let r = rust.name();
    erl.eval(&format!(
        "begin persistent_term:put(big_started, false), Pinger = spawn(fun() -> (fun L(I) -> {{coll, '{r}'}} ! {{small, I, persistent_term:get(big_started)}}, \
         receive stop -> ok after 1 -> L(I + 1) end end)(1) end), put(pinger, Pinger), ok end"
    ));
    erl.eval_timeout(
        &format!(
            "begin Big = binary:copy(<<7>>, {BIG}), timer:sleep(50), persistent_term:put(big_started, true), {{coll, '{r}'}} ! {{big, Big}}, ok end"
        ),
        T,
    );
    let (len, interleaved) = rx.recv_timeout(T).expect("the big message arrived");
    erl.eval("get(pinger) ! stop");
    assert_eq!(len, BIG);
    assert!(interleaved > 0, "no small message overtook the 50 MiB message");

    // Rust → erl: our writer interleaves fragments with other senders' messages.
    erl.eval(
        "begin Me = self(), register(coll2, spawn(fun() -> Me ! {coll2, (fun L(N) -> receive {small, _, true} -> L(N + 1); \
         {small, _, false} -> L(N); {big, B} -> {byte_size(B), N} after 30000 -> timeout end end)(0)} end)), ok end",
    );
    let started = Arc::new(AtomicBool::new(false));
    let node = rust.node.clone();
    let e = erl.node.clone();
    rust.run(T, async move {
        let pinger = {
            let node = node.clone();
            let e = e.clone();
            let started = started.clone();
            tokio::spawn(async move {
                let p = node.process();
                for i in 0i64.. {
                    let flag = Term::from(started.load(Ordering::SeqCst));
                    if p.send_named("coll2", &e, Term::Tuple(vec![Term::atom("small"), Term::from(i), flag]))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let p = node.process();
        started.store(true, Ordering::SeqCst);
        let big = Term::Tuple(vec![Term::atom("big"), Term::binary(vec![7u8; BIG])]);
        p.send_named("coll2", &e, big).await.unwrap();
        // Keep pinging for a while after the big message was queued.
        tokio::time::sleep(Duration::from_millis(300)).await;
        pinger.abort();
    });
    let result = erl.eval_timeout("receive {coll2, R} -> R after 30000 -> no_result end", T);
    let parsed = parse(&result).unwrap();
    let [len, n] = parsed.as_tuple().expect("{Size, N}") else { panic!("{result}") };
    assert_eq!(len.as_i64(), Some(BIG as i64));
    assert!(n.as_i64().unwrap() > 0, "no small message overtook the 50 MiB message: {result}");
}

#[test]
fn beamlink_nodes_talk_to_each_other() {
    let epmd = OtpEpmd::start();
    let a = TestNode::short("a", "c9", epmd.port);
    let b = TestNode::short("b", "c9", epmd.port);
    beamlink::node::services::echo::start(&b.node, "echo").unwrap();
    let node = a.node.clone();
    let bn = b.name();
    a.run(T, async move {
        assert!(node.ping(&bn).await);
        let mut p = node.process();
        let reply = p.call_named("echo", &bn, Term::atom("hi"), T).await.unwrap();
        assert_eq!(reply, Term::atom("hi"));
        let me = p.pid().clone();
        p.send_named("echo", &bn, Term::Tuple(vec![Term::Pid(me), Term::from(7)])).await.unwrap();
        assert_eq!(p.recv_timeout(T).await.unwrap(), Some(Term::from(7)));
    });
}

#[allow(dead_code)]
fn _uses(_: Node) {}
