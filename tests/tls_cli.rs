//! The CLI over TLS: `beamlink serve` with `--ca/--cert/--key` or
//! `--ssl-dist-optfile`, reached by `beamlink ping`, `rpc` and `send` with the
//! same flags (taking their node name from their certificate), by a plain
//! one-shot (refused), and by a real `erl` TLS node; option errors.

mod common;
mod tls_fixtures;

use std::time::Duration;

use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, beamlink};
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn serve_with_tls_flags_answers_one_shot_commands_with_tls_flags() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("clisrv"), short("ops"));
    pki.issue(&srv);
    pki.issue_with(&cli, |o| o.operator());
    let ca = pki.ca();
    let (srv_cert, srv_key) = pki.files(&srv);
    let (cli_cert, cli_key) = pki.files(&cli);
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&srv_cert), "--key", s(&srv_key)],
        epmd.port,
    );
    assert_eq!(serve.node, srv);
    let tls = ["--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&cli_cert), "--key", s(&cli_key)];

    let with = |cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&tls);
        beamlink(&args, epmd.port, T)
    };
    let (code, out, err) = with(&["ping", &srv]);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");
    // The one-shot node ran under a generated name its operator certificate covers: the server (strict) accepted it.
    let (code, out, err) = with(&["rpc", &srv, "erlang", "node"]);
    assert_eq!((code, out.trim()), (0, srv.as_str()), "stderr: {err}");
    let (code, _, err) = with(&["send", &srv, "sink", "{hello, <<\"tls\">>}"]);
    assert_eq!(code, 0, "stderr: {err}");
    let (code, out, err) = with(&["ping", &srv, "--verify-name", "host"]);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");

    // A plain one-shot cannot reach a TLS node.
    let (code, out, err) = beamlink(&["ping", &srv, "--cookie", COOKIE, "--timeout", "3"], epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"));
    assert!(err.contains("it runs TLS distribution and this connection is plain TCP"), "the reason: {err}");
    let plain_rpc = ["rpc", &srv, "erlang", "node", "--cookie", COOKIE, "--timeout", "3", "--format", "json"];
    let (code, out, err) = beamlink(&plain_rpc, epmd.port, T);
    assert_eq!(code, 3, "{out} {err}");
    assert!(out.contains(r#""reason":"tls""#) && out.contains("it runs TLS distribution"), "rpc: {out}");
    // A one-shot calling itself by a name its certificate does not carry is refused (strict).
    let (code, out, _) = with(&["ping", &srv, "--sname", "impostor@localhost", "--timeout", "3"]);
    assert_eq!((code, out.trim()), (3, "pang"));

    // A TLS one-shot against a plain node says so.
    let plain = BeamlinkProcess::start(&["serve", "--sname", &short("plainsrv"), "--cookie", COOKIE], epmd.port);
    let (code, out, err) = with(&["rpc", &plain.node, "erlang", "node", "--timeout", "3", "--format", "json"]);
    assert_eq!(code, 3, "{out} {err}");
    assert!(out.contains(r#""reason":"tls""#) && out.contains("plain"), "TLS against plain: {out}");
    drop(serve);
}

#[test]
fn serve_and_ping_take_their_tls_settings_from_an_erlang_optfile() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("optsrv"), short("optcli"));
    pki.issue(&srv);
    pki.issue_with(&cli, |o| o.operator());
    let (srv_opt, cli_opt) = (pki.optfile(&srv), pki.optfile(&cli));
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&srv_opt)],
        epmd.port,
    );
    let (code, out, err) =
        beamlink(&["ping", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&cli_opt)], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");

    if common::erlang_or_skip() {
        // A stock erl with its own optfile reaches the CLI node, and the CLI reaches it.
        let erl_name = common::unique_name("eclitls");
        let erl_full = format!("{erl_name}@localhost");
        pki.issue(&erl_full);
        let mut erl = erl_tls_node(erl_name, epmd.port, &pki.optfile(&erl_full));
        assert_eq!(erl.eval(&format!("net_adm:ping('{srv}')")), "pong");
        assert_eq!(erl.eval(&format!("rpc:call('{srv}', erlang, node, [])")), srv);
        let args = ["rpc", &erl_full, "erlang", "node", "--cookie", COOKIE, "--ssl-dist-optfile", s(&cli_opt)];
        let (code, out, err) = beamlink(&args, epmd.port, T);
        assert_eq!((code, out.trim()), (0, erl_full.as_str()), "stderr: {err}");
    }
    drop(serve);
}

#[test]
fn an_optfile_option_beamlink_cannot_honour_stops_start_up_unless_named_to_be_ignored() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("vfunsrv"), short("vfuncli"));
    pki.issue(&srv);
    pki.issue_with(&cli, |o| o.operator());
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&pki.optfile(&srv))],
        epmd.port,
    );
    // The client's optfile asks for an Erlang function to vet the server's
    // certificate, as OTP's guide shows; beamlink cannot run it.
    let optfile = pki.optfile(&cli);
    let text = std::fs::read_to_string(&optfile).unwrap();
    let written = text.replacen("{client,\n   [", "{client,\n   [{verify_fun, {fun my_checks:verify/3, []}},\n    ", 1);
    assert_ne!(written, text, "the optfile has a client section: {text}");
    std::fs::write(&optfile, &written).unwrap();

    for command in [&["ping", srv.as_str()][..], &["serve", "--sname", "vfunother"][..]] {
        let args = [command, &["--cookie", COOKIE, "--ssl-dist-optfile", s(&optfile)]].concat();
        let (code, out, err) = beamlink(&args, epmd.port, T);
        assert_ne!(code, 0, "{args:?} must not start: {out}");
        assert!(err.contains("client option verify_fun"), "{args:?}: {err}");
        assert!(err.contains("--ignore-optfile-option verify_fun"), "{args:?}: {err}");
    }

    let args = ["ping", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&optfile)];
    let (code, out, err) = beamlink(&[&args[..], &["--ignore-optfile-option", "verify_fun"]].concat(), epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");
    assert!(err.contains("ignored as the operator asked") && err.contains("verify_fun"), "a warning each start: {err}");
    drop(serve);
}

#[test]
fn tls_option_mistakes_are_explained() {
    let pki = Pki::new();
    pki.issue("a@localhost");
    let (cert, key) = pki.files("a@localhost");
    let ca = pki.ca();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["ping", "x@localhost", "--ca", s(&ca), "--cert", s(&cert)],
            "TLS needs --ca, --cert and --key together; missing --key",
        ),
        (vec!["ping", "x@localhost", "--key", s(&key)], "missing --ca and --cert"),
        (vec!["ping", "x@localhost", "--verify-name", "host"], "--verify-name needs TLS"),
        (
            vec!["ping", "x@localhost", "--ca", s(&ca), "--cert", s(&cert), "--key", s(&key), "--verify-name", "loose"],
            "unknown verify-name policy \"loose\"",
        ),
        (vec!["ping", "x@localhost", "--ca", s(&ca), "--cert", s(&cert), "--key", s(&cert)], "expected a PRIVATE KEY"),
        (
            vec!["serve", "--sname", "y", "--ssl-dist-optfile", "/nonexistent/ssl_dist.conf"],
            "/nonexistent/ssl_dist.conf: cannot read it",
        ),
        (vec!["ping", "x@localhost", "--ssl-dist-optfile", s(&ca), "--ca", s(&ca)], "cannot be used with"),
    ];
    for (args, needle) in cases {
        let (code, _, err) = beamlink(&args, common::free_port(), T);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: stderr should contain {needle:?}: {err}");
    }
}

#[test]
fn an_encrypted_key_is_unlocked_by_key_password_file_and_refused_without_it() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("pwsrv"), short("pwcli"));
    pki.issue(&srv);
    pki.issue_with(&cli, |o| o.operator());
    let ca = pki.ca();
    let (srv_cert, srv_key) = pki.files(&srv);
    let (cli_cert, cli_key) = pki.files(&cli);
    let encrypted = pki.dir().join("srv-encrypted.key");
    let made = std::process::Command::new("openssl")
        .args(["pkey", "-in", s(&srv_key), "-aes256", "-passout", "pass:open sesame", "-out", s(&encrypted)])
        .output();
    match made {
        Ok(out) => assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => {
            common::skip("--key-password-file", "openssl is not installed");
            return;
        }
    }
    let (good, bad) = (pki.dir().join("good.pw"), pki.dir().join("bad.pw"));
    std::fs::write(&good, "open sesame\n").unwrap();
    std::fs::write(&bad, "closed\n").unwrap();
    let serve_args = |password_file: Option<&std::path::Path>| {
        let mut args = vec!["serve", "--sname", &srv, "--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&srv_cert)];
        args.extend(["--key", s(&encrypted)]);
        if let Some(file) = password_file {
            args.extend(["--key-password-file", s(file)]);
        }
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    // Without the password, and with a wrong one, serve refuses to start and says why.
    for (password_file, needle) in
        [(None, "is encrypted; give its password"), (Some(bad.as_path()), "password is wrong")]
    {
        let args = serve_args(password_file);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = beamlink(&args, epmd.port, T);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.contains(needle) && err.contains(s(&encrypted)), "{args:?}: {err}");
    }
    let args = serve_args(Some(&good));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = BeamlinkProcess::start(&args, epmd.port);
    let tls = ["--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&cli_cert), "--key", s(&cli_key)];
    let mut ping = vec!["ping", srv.as_str()];
    ping.extend_from_slice(&tls);
    let (code, out, err) = beamlink(&ping, epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");
    drop(serve);
}

#[test]
fn one_shot_commands_never_take_a_live_nodes_place_and_an_operator_certificate_lets_them_in() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (live, watcher) = (short("live"), short("watcher"));
    pki.issue(&live);
    pki.issue(&watcher);
    let live_optfile = pki.optfile(&live);
    // The operator credential, made by the CLI: good for ops-<suffix>@localhost.
    let (code, _, err) =
        beamlink(&["certs", "issue", "--dir", s(pki.dir()), "--operator", "ops@localhost"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    let (ops_cert, ops_key) = pki.files("ops@localhost");
    let ca = pki.ca();
    let ops = ["--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&ops_cert), "--key", s(&ops_key)];

    // A strict beamlink node, with the live node connected to it.
    let watching = BeamlinkProcess::start(
        &["serve", "--sname", &watcher, "--cookie", COOKIE, "--ssl-dist-optfile", s(&pki.optfile(&watcher))],
        epmd.port,
    );
    let _live = BeamlinkProcess::start(
        &["serve", "--sname", &live, "--cookie", COOKIE, "--ssl-dist-optfile", s(&live_optfile), "--connect", &watcher],
        epmd.port,
    );
    // status: the live connection's certificate and TLS session.
    let status = [&["status", watcher.as_str(), "--format", "json"][..], &ops[..]].concat();
    let (code, out, err) = beamlink(&status, epmd.port, T);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(r#""certificate_subject":"CN={live}""#)) && out.contains(r#""security":"TLSv1_"#),
        "{out}"
    );
    let nodes = [&["rpc", watcher.as_str(), "erlang", "nodes"][..], &ops[..]].concat();
    let (code, out, err) = beamlink(&nodes, epmd.port, T);
    assert_eq!((code, out.trim()), (0, format!("[{live}]").as_str()), "the operator reaches the strict node: {err}");

    // With the live node's own optfile and no name, the one-shot runs under a
    // generated name its certificate does not carry: refused, and told why.
    let with_live = ["--cookie", COOKIE, "--ssl-dist-optfile", s(&live_optfile), "--timeout", "5"];
    let (code, out, err) = beamlink(&[&["ping", watcher.as_str()][..], &with_live[..]].concat(), epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"), "{err}");
    assert!(err.contains("certs issue --operator ops@") && err.contains("does not carry"), "{err}");

    // Told to run as the live node itself, it is turned away: the peer keeps the live connection.
    let as_live = [&["rpc", watcher.as_str(), "erlang", "node"][..], &with_live[..], &["--sname", &live]].concat();
    let (code, _, err) = beamlink(&as_live, epmd.port, T);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("never take a running node's place"), "{err}");

    if common::erlang_or_skip() {
        // A stock erl node (it checks only the chain) with the live node connected,
        // and a process that records every nodedown of it.
        let erl_alive = common::unique_name("ewatch");
        let erl = format!("{erl_alive}@localhost");
        pki.issue(&erl);
        let mut e = erl_tls_node(erl_alive, epmd.port, &pki.optfile(&erl));
        assert_eq!(e.eval(&format!("net_adm:ping('{live}')")), "pong");
        e.eval(&format!(
            "register(downs, spawn(fun() -> monitor_node('{live}', true), L = fun Loop(D) -> receive {{nodedown, N}} -> Loop([N | D]); {{get, F}} -> F ! {{downs, D}}, Loop(D) end end, L([]) end))"
        ));
        // Generated name: erl lets it in; as the live node: refused, the connection stays.
        let (code, out, err) = beamlink(&[&["ping", erl.as_str()][..], &with_live[..]].concat(), epmd.port, T);
        assert_eq!((code, out.trim()), (0, "pong"), "{err}");
        let eval = [&["eval", erl.as_str(), "length(nodes(connected))"][..], &with_live[..]].concat();
        let (code, out, err) = beamlink(&eval, epmd.port, T);
        assert_eq!(code, 0, "eval with the live node's optfile: {err}");
        assert!(out.trim().parse::<u32>().is_ok_and(|n| n >= 2), "the live node and the one-shot: {out}");
        let (code, _, err) = beamlink(
            &[&["rpc", erl.as_str(), "erlang", "node"][..], &with_live[..], &["--sname", &live]].concat(),
            epmd.port,
            T,
        );
        assert_eq!(code, 3, "{err}");
        let (code, out, err) =
            beamlink(&[&["rpc", erl.as_str(), "erlang", "node"][..], &ops[..]].concat(), epmd.port, T);
        assert_eq!((code, out.trim()), (0, erl.as_str()), "{err}");
        // eval over TLS, with what the expression prints.
        let eval = [&["eval", erl.as_str(), "io:format(\"over ~s~n\", [tls]), node()"][..], &ops[..]].concat();
        let (code, out, err) = beamlink(&eval, epmd.port, T);
        assert_eq!((code, out.as_str()), (0, format!("over tls\n{erl}\n").as_str()), "{err}");
        let downs = "begin downs ! {get, self()}, receive {downs, D} -> D after 5000 -> timeout end end";
        assert_eq!(e.eval(downs), "[]", "the live node's connection to erl was never torn down");
        let connected = e.eval("nodes(connected)");
        assert!(connected.contains(&live), "{live} is still connected to erl: {connected}");
    }
    drop(watching);
}

#[test]
fn an_optfile_with_the_https_hostname_match_fun_serves_beamlink_and_erl_alike() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("matchsrv"), short("matchops"));
    pki.issue(&srv);
    pki.issue_with(&cli, |o| o.operator());
    // RabbitMQ's advice for wildcard certificates: OTP evaluates the call.
    let with_match_fun = |node: &str| {
        let optfile = pki.optfile(node);
        let text = std::fs::read_to_string(&optfile).unwrap();
        let written = text.replacen(
            "{client,\n   [",
            "{client,\n   [{customize_hostname_check,\n     [{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]},\n    ",
            1,
        );
        assert_ne!(written, text, "the optfile has a client section: {text}");
        std::fs::write(&optfile, written).unwrap();
        optfile
    };
    let srv_opt = with_match_fun(&srv);
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&srv_opt)],
        epmd.port,
    );
    let cli_opt = with_match_fun(&cli);
    let (code, out, err) =
        beamlink(&["ping", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&cli_opt)], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");
    if common::erlang_or_skip() {
        let erl_name = common::unique_name("ematch");
        let erl_full = format!("{erl_name}@localhost");
        pki.issue(&erl_full);
        let mut erl = erl_tls_node(erl_name, epmd.port, &with_match_fun(&erl_full));
        assert_eq!(erl.eval(&format!("net_adm:ping('{srv}')")), "pong", "erl reads the same optfile");
    }
    drop(serve);
}
