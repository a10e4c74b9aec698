//! OTP's `erl_call` (an erl_interface client) against beamlink: `-a` with
//! and without arguments, by EPMD name (short and long) and by `-address`,
//! its own naming options `-h` and `-r`, a wrong cookie, and many calls in a
//! row beside a connection that must stay undisturbed.

mod common;

use std::process::Command;
use std::time::Duration;

use beamlink::node::NodeEvent;
use common::erl::{ErlNode, OtpEpmd};
use common::rust::{BeamlinkProcess, TestNode};

const T: Duration = Duration::from_secs(30);

/// What one `erl_call` run gave.
struct Call {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `erl_call ARGS... -timeout 10` with `ERL_EPMD_PORT` set, bounded.
fn erl_call(epmd_port: u16, args: &[&str]) -> Call {
    let out = common::output_within(
        &format!("erl_call {args:?}"),
        Command::new("erl_call").args(args).args(["-timeout", "10"]).env("ERL_EPMD_PORT", epmd_port.to_string()),
        T,
    );
    Call {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// `erl_call -sname NODE -c COOKIE -a APPLY`, which must succeed; its output.
fn apply(epmd_port: u16, node: &str, cookie: &str, what: &str) -> String {
    let call = erl_call(epmd_port, &["-sname", node, "-c", cookie, "-a", what]);
    assert_eq!(call.code, 0, "erl_call -a '{what}' exited {}: {}", call.code, call.stderr);
    call.stdout
}

/// True when erl_call can run; like [`common::erlang_or_skip`] otherwise.
fn erl_call_or_skip() -> bool {
    if !common::erlang_or_skip() {
        return false;
    }
    // erl_call without arguments prints its usage and exits non-zero.
    let found = Command::new("erl_call").output().is_ok();
    assert!(found, "erl_call is missing: it ships with erlang-base (apt-get install -y erlang-nox)");
    true
}

#[test]
fn apply_with_and_without_arguments_against_serve() {
    if !erl_call_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("srv"));
    let serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "ck1"], epmd.port);
    assert_eq!(serve.node, name);

    assert_eq!(apply(epmd.port, &name, "ck1", "erlang node"), name);
    let rex = apply(epmd.port, &name, "ck1", "erlang whereis [rex]");
    assert!(rex.starts_with(&format!("<{name}.")) && rex.ends_with('>'), "whereis(rex) printed {rex}");
    assert_eq!(apply(epmd.port, &name, "ck1", "erlang whereis [no_such_name]"), "undefined");
    let registered = apply(epmd.port, &name, "ck1", "erlang registered");
    for service in ["echo", "sink", "rex", "net_kernel"] {
        assert!(registered.contains(service), "registered() lacks {service}: {registered}");
    }
    // A function beamlink does not serve is an undef, reported as OTP reports it.
    let undef = apply(epmd.port, &name, "ck1", "nosuch fn [1, two]");
    assert_eq!(undef.replace(' ', ""), "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1,two],[]}]}}}");
}

#[test]
fn long_names_and_the_address_option() {
    if !erl_call_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@127.0.0.1", common::unique_name("lsrv"));
    let port = common::free_port().to_string();
    let _serve = BeamlinkProcess::start(&["serve", "--name", &name, "--cookie", "ck2", "--port", &port], epmd.port);
    let quoted = format!("'{name}'");
    let by_name = erl_call(epmd.port, &["-name", &name, "-c", "ck2", "-a", "erlang node"]);
    assert_eq!((by_name.code, by_name.stdout.as_str()), (0, quoted.as_str()), "{}", by_name.stderr);
    // -address dials the port directly, without asking EPMD.
    for address in [port.clone(), format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let direct = erl_call(epmd.port, &["-address", &address, "-c", "ck2", "-a", "erlang node"]);
        assert_eq!(
            (direct.code, direct.stdout.as_str()),
            (0, quoted.as_str()),
            "-address {address}: {}",
            direct.stderr
        );
    }
}

#[test]
fn client_naming_options_h_and_r() {
    if !erl_call_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("named", "ck3", epmd.port);
    let mut events = rust.node.events();
    let server = rust.name();
    let next_peer = |events: &mut tokio::sync::broadcast::Receiver<NodeEvent>| {
        rust.run(T, async {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::Up { node, hidden }) => return (node.to_string(), hidden),
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
        })
    };

    let hidden_name = common::unique_name("ec");
    let call = erl_call(epmd.port, &["-sname", &server, "-c", "ck3", "-h", &hidden_name, "-a", "erlang node"]);
    assert_eq!((call.code, call.stdout.as_str()), (0, server.as_str()), "{}", call.stderr);
    let (peer, hidden) = next_peer(&mut events);
    assert!(peer.starts_with(&format!("{hidden_name}@")), "-h {hidden_name} connected as {peer}");
    assert!(hidden, "erl_call connects as a hidden node");

    // -r: a name `c<number>` of erl_call's own choosing.
    let call = erl_call(epmd.port, &["-sname", &server, "-c", "ck3", "-r", "-a", "erlang node"]);
    assert_eq!((call.code, call.stdout.as_str()), (0, server.as_str()), "{}", call.stderr);
    let (peer, _) = next_peer(&mut events);
    let alive = peer.split('@').next().unwrap_or_default();
    assert!(
        alive.len() > 1 && alive.starts_with('c') && alive[1..].bytes().all(|b| b.is_ascii_digit()),
        "-r connected as {peer}"
    );
}

#[test]
fn wrong_cookie_fails_and_serve_stays_healthy() {
    if !erl_call_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("cksrv"));
    let mut serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "right"], epmd.port);
    for _ in 0..3 {
        let call = erl_call(epmd.port, &["-sname", &name, "-c", "wrong", "-a", "erlang node"]);
        assert_ne!(call.code, 0, "a wrong cookie must fail, printed {:?}", call.stdout);
        assert!(!call.stdout.contains(&name), "a wrong cookie got an answer: {}", call.stdout);
        assert_eq!(apply(epmd.port, &name, "right", "erlang node"), name, "serve answers after a refusal");
    }
    assert!(serve.is_running(), "beamlink serve exited after refusing a wrong cookie");
}

#[test]
fn many_calls_in_a_row_leave_other_connections_alone() {
    if !erl_call_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("busy"));
    let _serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "ck4"], epmd.port);
    // A long-lived erl peer, watching its connection to serve.
    let mut erl = ErlNode::start_short(&common::unique_name("watch"), "ck4", epmd.port);
    assert_eq!(erl.eval(&format!("net_adm:ping('{name}')")), "pong");
    assert_eq!(erl.eval(&format!("monitor_node('{name}', true)")), "true");
    for n in 0..12 {
        let what = match n % 3 {
            0 => "erlang node",
            1 => "erlang whereis [echo]",
            _ => "erlang nodes",
        };
        let out = apply(epmd.port, &name, "ck4", what);
        let expected = match n % 3 {
            0 => out == name,
            1 => out.starts_with(&format!("<{name}.")),
            _ => out.contains(&erl.node),
        };
        assert!(expected, "call {n} ({what}) printed {out}");
        let echo = format!(
            "begin {{echo, '{name}'}} ! {{self(), {{seq, {n}}}}}, receive {{seq, {n}}} -> ok after 5000 -> timeout end end"
        );
        assert_eq!(erl.eval(&echo), "ok", "the erl peer's echo after call {n}");
    }
    assert_eq!(erl.eval("receive {nodedown, N} -> {down, N} after 0 -> still_up end"), "still_up");
    assert_eq!(erl.eval(&format!("lists:member('{name}', nodes(hidden))")), "true");
}
