//! The command-line contract: `serve`, `ping`, `rpc`, `send`, against each
//! other and against real `erl`.

mod common;

use std::time::Duration;

use common::erl::{ErlNode, OtpEpmd};
use common::rust::{BeamlinkProcess, beamlink, beamlink_with_env};

const T: Duration = Duration::from_secs(60);

fn serve(epmd: &OtpEpmd, cookie: &str) -> BeamlinkProcess {
    let name = format!("{}@localhost", common::unique_name("srv"));
    BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", cookie], epmd.port)
}

#[test]
fn ping_rpc_and_send_against_beamlink_serve() {
    let epmd = OtpEpmd::start();
    let srv = serve(&epmd, "k1");
    let n = srv.node.as_str();

    let (code, out, _) = beamlink(&["ping", n, "--cookie", "k1"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"));

    let (code, out, _) = beamlink(&["rpc", n, "erlang", "node", "--cookie", "k1"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, n));
    let (code, out, _) = beamlink(&["rpc", n, "erlang", "whereis", "[sink]", "--cookie", "k1"], epmd.port, T);
    assert_eq!(code, 0);
    assert!(out.starts_with("#Pid<"), "{out}");
    let (code, out, _) = beamlink(&["rpc", n, "erlang", "registered", "--cookie", "k1"], epmd.port, T);
    assert_eq!(code, 0);
    for name in ["echo", "sink", "rex", "net_kernel"] {
        assert!(out.contains(name), "{name} missing from {out}");
    }
    let (code, out, _) = beamlink(&["rpc", n, "nosuch", "fn", "[1, foo, \"bar\"]", "--cookie", "k1"], epmd.port, T);
    assert_eq!(code, 1);
    assert_eq!(out.trim(), "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1,foo,\"bar\"],[]}]}}}");

    let (code, _, err) = beamlink(&["rpc", n, "erlang", "node", "not a list", "--cookie", "k1"], epmd.port, T);
    assert_eq!(code, 2);
    assert!(err.contains("cannot parse ARGS"), "{err}");

    for _ in 0..3 {
        let (code, _, err) =
            beamlink(&["send", n, "sink", "{hello, [1, 2.5, <<\"x\">>]}", "--cookie", "k1"], epmd.port, T);
        assert_eq!(code, 0, "{err}");
    }
    // The sink counted them: ask it from a node of our own.
    let counted = common::rust::TestNode::short("ask", "k1", epmd.port);
    let node = counted.node.clone();
    let target = n.to_string();
    let count = counted.run(T, async move {
        let mut p = node.process();
        let me = p.pid().clone();
        p.send_named(
            "sink",
            &target,
            beamlink::term::Term::Tuple(vec![beamlink::term::Term::atom("done"), beamlink::term::Term::Pid(me)]),
        )
        .await
        .unwrap();
        p.recv_timeout(T).await.unwrap().unwrap()
    });
    assert_eq!(count.to_string(), "{count,3}");
}

/// Runs a one-shot command with `--format json`; its exit code and the one
/// JSON object it printed.
fn json(args: &[&str], epmd_port: u16) -> (i32, serde_json::Value) {
    let args = [args, &["--format", "json"]].concat();
    let (code, out, err) = beamlink(&args, epmd_port, T);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?} printed {out:?} (stderr: {err})");
    let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(value["exit_code"], code, "{value}");
    assert_eq!(value["ok"], code == 0, "{value}");
    (code, value)
}

#[test]
fn every_failure_of_a_one_shot_command_has_its_exit_code_and_reason() {
    let epmd = OtpEpmd::start();
    let srv = serve(&epmd, "k2");
    let n = srv.node.as_str();

    // 3: no connection, with the reason; text for people, json for scripts.
    let (code, out, err) = beamlink(&["ping", n, "--cookie", "wrong"], epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"));
    assert!(err.contains("cookies most likely differ"), "{err}");
    let (code, out, err) = beamlink(&["rpc", n, "erlang", "node", "--cookie", "wrong"], epmd.port, T);
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.contains("cookies most likely differ") && !err.contains("noconnection"), "rpc keeps the reason: {err}");
    let (_, v) = json(&["rpc", n, "erlang", "node", "--cookie", "wrong"], epmd.port);
    assert_eq!(
        (v["reason"].as_str(), v["command"].as_str(), v["node"].as_str()),
        (Some("cookie"), Some("rpc"), Some(n))
    );
    assert!(v["error"].as_str().unwrap().contains("cookies most likely differ"), "{v}");

    let nobody = format!("{}@localhost", common::unique_name("nobody"));
    let (code, out, err) = beamlink(&["ping", &nobody, "--cookie", "k2"], epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"));
    assert!(err.contains("not registered with EPMD"), "{err}");
    let (code, v) = json(&["send", &nobody, "sink", "x", "--cookie", "k2"], epmd.port);
    assert_eq!((code, v["reason"].as_str()), (3, Some("not_registered")), "{v}");

    // No EPMD on the host (a port nothing listens on): the one-shot starts none.
    let no_epmd = common::free_port();
    let (code, v) = json(&["rpc", n, "erlang", "node", "--cookie", "k2"], no_epmd);
    assert_eq!((code, v["reason"].as_str()), (3, Some("no_epmd")), "{v}");
    assert!(
        common::try_wait_for(Duration::from_millis(300), || std::net::TcpStream::connect(("127.0.0.1", no_epmd)).ok())
            .is_none(),
        "an EPMD was started on {no_epmd}"
    );

    // 1: the node answered with an error.
    let (code, v) = json(&["rpc", n, "nosuch", "fn", "[1]", "--cookie", "k2"], epmd.port);
    assert_eq!((code, v["reason"].as_str()), (1, Some("badrpc")), "{v}");
    assert_eq!(v["value"], "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1],[]}]}}}");

    // 2: usage.
    let (code, _, err) = beamlink(&["ping", "no-at-sign", "--cookie", "k2"], epmd.port, T);
    assert_eq!(code, 2);
    assert!(err.contains("no '@'"), "{err}");
    let (code, v) = json(&["rpc", n, "erlang", "node", "not a list", "--cookie", "k2"], epmd.port);
    assert_eq!((code, v["reason"].as_str()), (2, Some("usage")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("cannot parse ARGS"), "{v}");
    let (code, _, err) = beamlink(&["ping", n, "--cookie", "k2", "--format", "yaml"], epmd.port, T);
    assert_eq!(code, 2, "{err}");

    // Success, in json.
    let (_, v) = json(&["rpc", n, "erlang", "node", "--cookie", "k2"], epmd.port);
    assert_eq!(v["value"], n);
    let (_, v) = json(&["ping", n, "--cookie", "k2"], epmd.port);
    assert_eq!(v["value"], "pong");
    let (_, v) = json(&["send", n, "sink", "{x, 1}", "--cookie", "k2"], epmd.port);
    assert!(v.get("value").is_none(), "{v}");

    // 3, timeout: a node that accepts the connection and then says nothing
    // (stopped: the kernel still completes the TCP handshake).
    let stopped = serve(&epmd, "k2");
    stopped.signal("STOP");
    let started = std::time::Instant::now();
    let (code, v) = json(&["ping", &stopped.node, "--cookie", "k2", "--timeout", "2"], epmd.port);
    stopped.signal("CONT");
    assert_eq!((code, v["reason"].as_str()), (3, Some("timeout")), "{v}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());

    // 3, unreachable: registered with EPMD, but nothing listens on its port.
    let ghost = common::unique_name("ghost");
    let closed_port = common::free_port();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let registration = rt
        .block_on(beamlink::epmd::client::register(
            "127.0.0.1",
            epmd.port,
            &beamlink::epmd::NodeInfo::new(&ghost, closed_port),
        ))
        .expect("register the ghost");
    let (code, v) = json(&["ping", &format!("{ghost}@localhost"), "--cookie", "k2"], epmd.port);
    assert_eq!((code, v["reason"].as_str()), (3, Some("unreachable")), "{v}");
    drop(registration);

    // The exit codes are documented where the commands are.
    for command in ["ping", "rpc", "send"] {
        let (code, out, _) = beamlink(&[command, "--help"], epmd.port, T);
        assert_eq!(code, 0);
        assert!(out.contains("Exit codes:") && out.contains("3  no connection"), "{command} --help: {out}");
    }
}

#[test]
fn the_cli_talks_to_erl() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "k3", epmd.port);
    let (code, out, _) = beamlink(&["ping", &erl.node, "--cookie", "k3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"));
    let (code, out, _) =
        beamlink(&["rpc", &erl.node, "lists", "reverse", "[[1, 2, 3]]", "--cookie", "k3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "[3,2,1]"));
    let (code, out, _) =
        beamlink(&["rpc", &erl.node, "string", "uppercase", "[\"abc\"]", "--cookie", "k3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "\"ABC\""));
    // eval: the expression's output, then its value; errors by exit code.
    let expression = "io:format(\"sum ~p~n\", [1 + 2]), io:put_chars(<<\"ok\\n\">>), X = 6, X * 7.";
    let (code, out, err) = beamlink(&["eval", &erl.node, expression, "--cookie", "k3"], epmd.port, T);
    assert_eq!((code, out.as_str()), (0, "sum 3\nok\n42\n"), "{err}");
    let (code, out, _) = beamlink(&["eval", &erl.node, "node()", "--cookie", "k3", "--format", "json"], epmd.port, T);
    assert_eq!(code, 0);
    assert!(out.contains(&format!(r#""value":"{}""#, erl.node)) && out.contains(r#""output":"""#), "{out}");
    let (code, _, err) = beamlink(&["eval", &erl.node, "1 +", "--cookie", "k3"], epmd.port, T);
    assert_eq!(code, 2);
    assert!(err.contains("cannot parse the expression") && err.contains("syntax error"), "{err}");
    let (code, out, _) = beamlink(&["eval", &erl.node, "1 / 0", "--cookie", "k3"], epmd.port, T);
    assert_eq!(code, 1);
    assert!(out.starts_with("{badrpc,{'EXIT',{badarith,"), "{out}");
    let (code, out, _) = beamlink(&["eval", &erl.node, "io:get_line(\"> \")", "--cookie", "k3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "eof"), "an evaluation has no input");

    erl.eval("register(inbox, self())");
    let (code, _, err) = beamlink(&["send", &erl.node, "inbox", "{from_cli, 42}", "--cookie", "k3"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    assert_eq!(erl.eval("receive M -> M after 5000 -> nothing end"), "{from_cli,42}");

    // And erl reaches `beamlink serve`.
    let srv = serve(&epmd, "k3");
    assert_eq!(erl.eval(&format!("gen_server:call({{echo, '{}'}}, {{ping, 1}})", srv.node)), "{ping,1}");
    assert_eq!(erl.eval(&format!("rpc:call('{}', erlang, node, [])", srv.node)), srv.node);
}

#[test]
fn serve_reads_the_cookie_from_home_and_stops_on_sigterm() {
    let epmd = OtpEpmd::start();
    let home = tempfile::tempdir().unwrap();
    let cookie_file = home.path().join(".erlang.cookie");
    std::fs::write(&cookie_file, "fromfile\n").unwrap();
    std::fs::set_permissions(&cookie_file, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    let name = format!("{}@localhost", common::unique_name("srv"));
    let mut child = std::process::Command::new(common::rust::beamlink_exe());
    child.args(["serve", "--sname", &name]).env("HOME", home.path()).env("ERL_EPMD_PORT", epmd.port.to_string());
    let mut srv = BeamlinkProcess::spawn(child);
    let (code, out, _) = beamlink(&["ping", &srv.node, "--cookie", "fromfile"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"));
    srv.signal("TERM");
    let status = srv.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn serve_requires_a_name() {
    let (code, _, err) = beamlink(&["serve"], 1, T);
    assert_eq!(code, 2);
    assert!(err.contains("--sname") && err.contains("--name"), "{err}");
}

#[test]
fn cookies_are_checked_as_erl_checks_them() {
    let home = tempfile::tempdir().unwrap();
    let cookie_file = home.path().join(".erlang.cookie");
    let env = [("HOME", home.path())];
    let port = common::free_port();
    // A one-shot command never creates a cookie file.
    let (code, _, err) = beamlink_with_env(&["ping", "x@localhost", "--timeout", "2"], &env, port, T);
    assert_ne!(code, 0);
    assert!(err.contains("does not exist and a short-lived node does not create one"), "{err}");
    assert!(!cookie_file.exists(), "a one-shot ping created {}", cookie_file.display());
    // A cookie file others may read is refused, with the fix.
    std::fs::write(&cookie_file, "SECRET\n").unwrap();
    std::fs::set_permissions(&cookie_file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (code, _, err) = beamlink_with_env(&["ping", "x@localhost", "--timeout", "2"], &env, port, T);
    assert_ne!(code, 0);
    assert!(err.contains("mode 644") && err.contains("chmod 400"), "{err}");
    // An empty cookie is refused.
    let (code, _, err) = beamlink_with_env(&["ping", "x@localhost", "--cookie", ""], &env, port, T);
    assert_ne!(code, 0);
    assert!(err.contains("the cookie is empty"), "{err}");
}

#[test]
fn serve_creates_a_missing_cookie_file_readable_by_its_owner_only() {
    let epmd = OtpEpmd::start();
    let home = tempfile::tempdir().unwrap();
    let name = format!("{}@localhost", common::unique_name("mkcookie"));
    let mut child = std::process::Command::new(common::rust::beamlink_exe());
    child.args(["serve", "--sname", &name]).env("HOME", home.path()).env("ERL_EPMD_PORT", epmd.port.to_string());
    let srv = BeamlinkProcess::spawn(child);
    let cookie_file = home.path().join(".erlang.cookie");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cookie_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o400);
    let cookie = std::fs::read_to_string(&cookie_file).unwrap();
    assert_eq!(cookie.len(), 20, "{cookie:?}");
    // A one-shot command reads it.
    let (code, out, err) = beamlink_with_env(&["ping", &srv.node], &[("HOME", home.path())], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
}

#[test]
fn logs_follow_v_and_q_have_no_colour_off_a_terminal_and_completions_cover_every_command() {
    let epmd = OtpEpmd::start();
    let logged = |extra: &[&str]| {
        let log = tempfile::NamedTempFile::new().unwrap();
        let name = format!("{}@localhost", common::unique_name("logs"));
        let mut command = std::process::Command::new(common::rust::beamlink_exe());
        command
            .args(extra)
            .args(["serve", "--sname", &name, "--cookie", "k5"])
            .env("ERL_EPMD_PORT", epmd.port.to_string());
        command.env_remove("RUST_LOG");
        let srv = BeamlinkProcess::spawn_logging(command, log.reopen().unwrap());
        drop(srv);
        std::fs::read_to_string(log.path()).unwrap()
    };
    let default = logged(&[]);
    assert!(default.contains("listening") && !default.contains("DEBUG"), "{default}");
    assert!(!default.contains('\u{1b}'), "colour codes in a log file: {default:?}");
    assert!(logged(&["-v"]).contains("DEBUG"));
    let quiet = logged(&["-q"]);
    assert!(!quiet.contains("listening"), "{quiet}");

    let (code, out, _) = beamlink(&["completions", "bash"], epmd.port, T);
    assert_eq!(code, 0);
    for command in ["serve", "ping", "rpc", "send", "eval", "epmd", "names", "bench", "certs", "completions"] {
        assert!(out.contains(command), "completions lack {command}");
    }
}

/// `beamlink status NODE --format json`: the status object.
fn status(node: &str, cookie: &str, epmd_port: u16) -> serde_json::Value {
    let (code, value) = json(&["status", node, "--cookie", cookie], epmd_port);
    assert_eq!(code, 0, "{value}");
    value["value"].clone()
}

/// The entry for `peer` among a beamlink node's connections.
fn connection<'a>(status: &'a serde_json::Value, peer: &str) -> &'a serde_json::Value {
    status["connections"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["peer"] == peer))
        .unwrap_or_else(|| panic!("no connection to {peer}: {status}"))
}

#[test]
fn status_figures_match_what_was_sent() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let srv = serve(&epmd, "k6");
    let mut erl = ErlNode::start_short(&common::unique_name("stat"), "k6", epmd.port);
    assert_eq!(erl.eval(&format!("net_adm:ping('{}')", srv.node)), "pong");
    let before = status(&srv.node, "k6", epmd.port);
    let from_erl = connection(&before, &erl.node).clone();
    assert_eq!((from_erl["direction"].as_str(), from_erl["transport"].as_str()), (Some("incoming"), Some("tcp")));
    erl.eval(&format!("[{{sink, '{}'}} ! {{m, I, <<0:8000>>}} || I <- lists:seq(1, 10)]", srv.node));
    let after = common::wait_for("the ten messages to be counted", T, || {
        let now = status(&srv.node, "k6", epmd.port);
        let c = connection(&now, &erl.node).clone();
        (c["messages_in"].as_u64() >= from_erl["messages_in"].as_u64().map(|n| n + 10)).then_some(c)
    });
    assert_eq!(after["messages_in"].as_u64().unwrap(), from_erl["messages_in"].as_u64().unwrap() + 10, "{after}");
    let bytes = after["bytes_in"].as_u64().unwrap() - from_erl["bytes_in"].as_u64().unwrap();
    assert!((10 * 1000..10 * 1200).contains(&bytes), "ten messages of 1000-byte binaries took {bytes} bytes");

    // Failed set-ups are counted by kind.
    let (code, _, _) = beamlink(&["ping", &srv.node, "--cookie", "wrong"], epmd.port, T);
    assert_eq!(code, 3);
    let failures = status(&srv.node, "k6", epmd.port)["setup_failures"].clone();
    assert!(
        failures.as_array().unwrap().iter().any(|f| f[0] == "incoming" && f[1] == "cookie" && f[2] == 1),
        "{failures}"
    );

    // An erl node answers with net_kernel:nodes_info/0; text for people.
    let (code, out, err) = beamlink(&["status", &erl.node, "--cookie", "k6"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("{} (erl):", erl.node)) && out.contains(&srv.node) && out.contains("packets"),
        "{out}"
    );
    let (code, out, err) = beamlink(&["status", &srv.node, "--cookie", "k6"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("  {}  incoming visible tcp", erl.node)) && out.contains("incoming cookie: 1"),
        "{out}"
    );
}
