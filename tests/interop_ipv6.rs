//! IPv6 against real `erl` nodes: `-proto_dist inet6_tcp` and `inet6_tls`
//! nodes named `x@::1` and beamlink nodes named the same way, in both
//! directions: ping, messages, rpc. (The default listener is dual-stack:
//! every other interop suite reaches it over IPv4.)

mod common;
mod tls_fixtures;

use std::time::Duration;

use beamlink::node::RpcException;
use beamlink::term::Term;
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::TestNode;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

/// Whether this machine can use `::1`; otherwise says why the test skips.
fn ipv6_or_skip(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            common::skip(test, &format!("::1 is not usable here: {e}"));
            false
        }
    }
}

/// An `erl` node named `NAME@::1` on `proto_dist` (`inet6_tcp` or `inet6_tls`).
fn erl6(name: &str, cookie: &str, epmd: &OtpEpmd, proto_dist: &str, extra: &[String]) -> ErlNode {
    let mut extra_args = vec!["-proto_dist".to_string(), proto_dist.to_string()];
    extra_args.extend_from_slice(extra);
    ErlNode::start(ErlOptions {
        name: ErlName::Ipv6(name.to_string()),
        cookie: cookie.to_string(),
        epmd_port: epmd.port,
        extra_args,
    })
}

/// Registers `calc:add/2` on `rust`.
fn register_add(rust: &TestNode) {
    rust.node.register_rpc("calc", "add", 2, |args: Vec<Term>| async move {
        match (args.first().and_then(Term::as_i64), args.get(1).and_then(Term::as_i64)) {
            (Some(x), Some(y)) => Ok(Term::from(x + y)),
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        }
    });
}

/// erl calls the Rust node, then the connection is dropped and the Rust
/// node dials erl: ping, an echo through a registered process and rpc both ways.
fn both_directions(rust: &TestNode, erl: &mut ErlNode, protocol: &str) {
    let r = rust.node.name().as_str().to_string();
    beamlink::node::services::echo::start(&rust.node, "echo").expect("start echo");
    register_add(rust);

    // erl → Rust.
    assert_eq!(erl.eval(&format!("net_adm:ping('{r}')")), "pong", "erl pings {r}");
    let echoed = erl.eval(&format!(
        "begin {{echo, '{r}'}} ! {{self(), {{v6, <<\"over ::1\">>}}}}, receive M -> M after 10000 -> timeout end end"
    ));
    assert_eq!(echoed, "{v6,<<\"over ::1\">>}");
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, add, [40, 2])")), "42");
    let address = erl.eval(&format!(
        "begin {{ok, I}} = net_kernel:node_info('{r}'), element(2, proplists:get_value(address, I)) end"
    ));
    assert!(address.starts_with("{{0,0,0,0,0,0,0,1},"), "erl reaches {r} over ::1: {address}");
    let carrier = erl.eval(&format!(
        "begin {{ok, I}} = net_kernel:node_info('{r}'), element(4, proplists:get_value(address, I)) end"
    ));
    assert_eq!(carrier, protocol, "the carrier erl uses towards {r}");

    // Rust → erl, on a fresh connection.
    let mut events = rust.node.events();
    assert_eq!(erl.eval(&format!("erlang:disconnect_node('{r}')")), "true");
    let erl_name = erl.node.clone();
    rust.wait_down(&mut events, &erl_name, T);
    assert!(rust.run(T, rust.node.ping(&erl_name)), "Rust pings {erl_name}");
    let reply = rust.run(T, rust.node.rpc_call(&erl_name, "erlang", "node", vec![], T)).expect("rpc into erl");
    assert_eq!(reply, Term::atom(&erl_name));
    erl.eval("register(v6echo, spawn(fun Loop() -> receive {From, M} -> From ! {echoed, M}, Loop() end end))");
    let node = rust.node.clone();
    let got = rust.run(T, async move {
        let mut p = node.process();
        let me = Term::Pid(p.pid().clone());
        p.send_named("v6echo", &erl_name, Term::tuple(vec![me, Term::atom("hi")])).await.expect("send");
        p.recv_timeout(Duration::from_secs(10)).await
    });
    assert_eq!(got.ok().flatten(), Some(Term::tuple(vec![Term::atom("echoed"), Term::atom("hi")])));
}

#[test]
fn erl_inet6_tcp_and_beamlink_in_both_directions() {
    if !common::erlang_or_skip() || !ipv6_or_skip("interop_ipv6::erl_inet6_tcp_and_beamlink_in_both_directions") {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::start(&format!("{}@::1", common::unique_name("r6")), "v6cookie", epmd.port, |b| b);
    let mut erl = erl6(&common::unique_name("e6"), "v6cookie", &epmd, "inet6_tcp", &[]);
    both_directions(&rust, &mut erl, "tcp");
}

#[test]
fn erl_inet6_tls_and_beamlink_in_both_directions() {
    if !common::erlang_or_skip() || !ipv6_or_skip("interop_ipv6::erl_inet6_tls_and_beamlink_in_both_directions") {
        return;
    }
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let rust_name = format!("{}@::1", common::unique_name("r6tls"));
    let erl_short = common::unique_name("e6tls");
    let erl_name = format!("{erl_short}@::1");
    pki.issue(&rust_name);
    pki.issue(&erl_name);
    let rust = tls_node(&rust_name, epmd.port, &pki.transport(&rust_name), |b| b);
    let optfile = pki.optfile(&erl_name);
    let mut erl =
        erl6(&erl_short, COOKIE, &epmd, "inet6_tls", &["-ssl_dist_optfile".into(), optfile.display().to_string()]);
    both_directions(&rust, &mut erl, "tls");
}
