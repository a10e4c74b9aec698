//! Rust TLS nodes and real `erl -proto_dist inet_tls` nodes (OTP 25), with
//! certificates made in the test by the `certs` library and the optfile it
//! writes, in both directions and for both naming modes (`-sname x@localhost`
//! and `-name x@127.0.0.1`, whose client sends an IP literal as SNI): ping,
//! messages, rpc and monitors; OTP's TLS 1.2-only default; the peers a
//! Rust node refuses that OTP itself would let in; and private keys
//! encrypted by `openssl`, unlocked by the optfile's `{password, ...}`.

mod common;
mod tls_fixtures;

use std::path::Path;
use std::time::Duration;

use beamlink::certs::KeyAlgorithm;
use beamlink::node::RpcException;
use beamlink::pki::VerifyName;
use beamlink::term::Term;
use beamlink::transport::tls::{TlsConfig, TlsTransport, TlsVersion};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::TestNode;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

/// An `erl` node on TLS distribution with `optfile`.
fn tls_erl(name: ErlName, epmd: &OtpEpmd, optfile: &Path) -> ErlNode {
    ErlNode::start(ErlOptions {
        name,
        cookie: COOKIE.to_string(),
        epmd_port: epmd.port,
        extra_args: vec![
            "-proto_dist".into(),
            "inet_tls".into(),
            "-ssl_dist_optfile".into(),
            optfile.display().to_string(),
        ],
    })
}

/// The distribution carrier `erl` uses towards `node`: `tls` over inet_tls_dist.
fn carrier(erl: &mut ErlNode, node: &str) -> String {
    erl.eval(&format!("{{ok, I}} = net_kernel:node_info('{node}'), element(4, proplists:get_value(address, I))"))
}

/// How the two nodes are named: `(rust, erl, erl fixture name)`.
fn names(long: bool) -> (String, String, ErlName) {
    let (r, e) = (common::unique_name("rtls"), common::unique_name("etls"));
    if long {
        (format!("{r}@127.0.0.1"), format!("{e}@127.0.0.1"), ErlName::Long(e))
    } else {
        (format!("{r}@localhost"), format!("{e}@localhost"), ErlName::Short(e))
    }
}

fn both_directions(long: bool) {
    if !common::erlang_or_skip() {
        return;
    }
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (rust_name, erl_name, erl_fixture) = names(long);
    // An RSA node beside an ECDSA one in the long-name run.
    let key = if long { KeyAlgorithm::Rsa { bits: 2048 } } else { KeyAlgorithm::EcdsaP256 };
    pki.issue_with(&rust_name, |o| o.key(key));
    pki.issue(&erl_name);
    let optfile = pki.optfile(&erl_name);
    let rust = tls_node(&rust_name, epmd.port, &pki.transport(&rust_name), |b| b);
    let echo_pid = beamlink::node::services::echo::start(&rust.node, "echo").unwrap();
    beamlink::node::services::echo::start(&rust.node, "echo2").unwrap();
    rust.node.register_rpc("calc", "add", 2, |args: Vec<Term>| async move {
        match (args[0].as_i64(), args[1].as_i64()) {
            (Some(x), Some(y)) => Ok(Term::from(x + y)),
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        }
    });
    let mut erl = tls_erl(erl_fixture, &epmd, &optfile);
    assert_eq!(erl.node, erl_name);
    let r = &rust_name;

    // erl → Rust.
    assert_eq!(erl.eval(&format!("net_adm:ping('{r}')")), "pong");
    assert_eq!(carrier(&mut erl, r), "tls", "the erl node reaches us over inet_tls_dist");
    let sent = erl.eval(&format!(
        "begin {{echo, '{r}'}} ! {{self(), {{hello, [1,2,3], <<\"over tls\">>}}}}, receive M -> M after 10000 -> timeout end end"
    ));
    assert_eq!(sent, "{hello,[1,2,3],<<\"over tls\">>}");
    assert_eq!(erl.eval(&format!("rpc:call('{r}', calc, add, [40, 2])")), "42");
    assert_eq!(erl.eval(&format!("erpc:call('{r}', calc, add, [1, 2])")), "3");
    // erl monitors the Rust echo process; the Rust side kills it.
    assert_eq!(erl.eval(&format!("begin put(mref, erlang:monitor(process, {{echo, '{r}'}})), ok end")), "ok");
    // A round trip on the same connection: the monitor request has been handled.
    let sync = format!("begin {{echo, '{r}'}} ! {{self(), sync}}, receive sync -> ok after 10000 -> timeout end end");
    assert_eq!(erl.eval(&sync), "ok");
    let node = rust.node.clone();
    rust.run(T, async move { node.process().exit(&echo_pid, Term::atom("kill")) });
    assert_eq!(
        erl.eval(
            "receive {'DOWN', Ref, process, {echo, _}, Why} -> {Ref =:= get(mref), Why} after 10000 -> timeout end"
        ),
        "{true,killed}"
    );

    // Drop the connection; now the Rust node dials.
    let mut events = rust.node.events();
    assert_eq!(erl.eval(&format!("erlang:disconnect_node('{r}')")), "true");
    rust.run(T, async {
        loop {
            if let Ok(beamlink::node::NodeEvent::Down { node, .. }) = events.recv().await
                && node.as_str() == erl_name
            {
                return;
            }
        }
    });
    assert!(rust.run(T, rust.node.ping(&erl_name)), "Rust → erl ping over TLS");
    assert_eq!(carrier(&mut erl, r), "tls");
    erl.eval(
        "register(tlsecho, spawn(fun Loop() -> receive {From, M} -> From ! {echoed, node(), M}, Loop(); stop -> ok end end))",
    );
    erl.eval("register(victim, spawn(fun() -> receive stop -> ok end end))");
    let node = rust.node.clone();
    let e = erl_name.clone();
    rust.run(T, async move {
        let mut p = node.process();
        let me = Term::Pid(p.pid().clone());
        let msg = Term::Tuple(vec![Term::atom("ping"), Term::binary(vec![1u8; 70_000])]);
        p.send_named("tlsecho", &e, Term::Tuple(vec![me, msg.clone()])).await.unwrap();
        let reply = p.recv_timeout(T).await.unwrap().expect("an answer from erl");
        assert_eq!(reply, Term::Tuple(vec![Term::atom("echoed"), Term::atom(&e), msg]));

        assert_eq!(node.rpc_call(&e, "erlang", "node", vec![], T).await.unwrap(), Term::atom(&e));
        let args = vec![Term::from(6), Term::from(7)];
        assert_eq!(node.rpc_call(&e, "erlang", "*", args, T).await.unwrap(), Term::from(42));

        let mref = p.monitor_named("victim", &e);
        p.send_named("victim", &e, Term::atom("stop")).await.unwrap();
        let down = p.recv_timeout(T).await.unwrap().expect("a DOWN from erl");
        match down.as_tuple() {
            Some([tag, r, kind, _who, why]) => {
                assert!(tag.is_atom("DOWN") && kind.is_atom("process") && why.is_atom("normal"), "{down}");
                assert_eq!(r, &Term::Ref(Box::new(mref)));
            }
            _ => panic!("expected a DOWN message, got {down}"),
        }
    });

    // erl monitors another Rust process; the whole Rust node stops. Its
    // processes exit with `shutdown`, and erl hears that before the
    // connection closes (a lost connection would say `noconnection`). A
    // monitor is set up asynchronously: the ping after it, answered over the
    // same connection, shows the Rust node has it.
    assert_eq!(
        erl.eval(&format!("begin put(mref2, erlang:monitor(process, {{echo2, '{r}'}})), net_adm:ping('{r}') end")),
        "pong"
    );
    drop(rust);
    assert_eq!(
        erl.eval(
            "receive {'DOWN', Ref, process, {echo2, _}, Why} -> {Ref =:= get(mref2), Why} after 10000 -> timeout end"
        ),
        "{true,shutdown}"
    );
}

#[test]
fn erl_and_rust_over_tls_in_both_directions_with_short_names() {
    both_directions(false);
}

#[test]
fn erl_and_rust_over_tls_in_both_directions_with_ip_literal_long_names() {
    both_directions(true);
}

/// An optfile for TLS 1.2 only, as OTP 25 runs with by default (no
/// `versions`). Newer releases offer TLS 1.3 too when `versions` is left
/// out (OTP 29 does), so the optfile names TLS 1.2 alone: the same peer on
/// every release.
fn tls12_only_optfile(pki: &Pki, node: &str) -> std::path::PathBuf {
    let path = pki.optfile(node);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("{versions, ['tlsv1.3', 'tlsv1.2']}", "{versions, ['tlsv1.2']}");
    assert!(!text.contains("tlsv1.3"), "{text}");
    let out = path.with_extension("tls12.conf");
    std::fs::write(&out, text).unwrap();
    out
}

#[test]
fn otp_25_defaults_speak_tls_1_2_which_we_accept_unless_told_otherwise() {
    if !common::erlang_or_skip() {
        return;
    }
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (ours, strict13, erl_name) = (short("r12"), short("r13"), common::unique_name("e12"));
    let erl_full = format!("{erl_name}@localhost");
    for n in [&ours, &strict13, &erl_full] {
        pki.issue(n);
    }
    let optfile = tls12_only_optfile(&pki, &erl_full);
    let rust = tls_node(&ours, epmd.port, &pki.transport(&ours), |b| b);
    let only13 = TlsTransport::new(pki.config(&strict13).versions(&[TlsVersion::Tls13])).unwrap();
    let rust13 = tls_node(&strict13, epmd.port, &only13, |b| b);
    let mut erl = tls_erl(ErlName::Short(erl_name), &epmd, &optfile);

    assert_eq!(erl.eval(&format!("net_adm:ping('{ours}')")), "pong", "TLS 1.2 from erl");
    assert_eq!(carrier(&mut erl, &ours), "tls");
    assert_eq!(erl.eval(&format!("erlang:disconnect_node('{ours}')")), "true");
    common::wait_for("the Rust node to see the disconnect", T, || {
        (!rust.node.connected_nodes().iter().any(|n| n.as_str() == erl_full)).then_some(())
    });
    assert!(rust.run(T, rust.node.ping(&erl_full)), "TLS 1.2 to erl");

    assert_eq!(erl.eval_timeout(&format!("net_adm:ping('{strict13}')"), T), "pang");
    let line = wait_log(&["no TLS version in common", "requires TLS 1.3"], T);
    assert!(line.contains("{versions, ['tlsv1.3', 'tlsv1.2']}"), "the fix is named: {line}");
    assert!(!rust13.run(T, rust13.node.ping(&erl_full)));
}

#[test]
fn erl_nodes_we_refuse_although_otp_would_let_them_in() {
    if !common::erlang_or_skip() {
        return;
    }
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (ours, alice, mallory) = (short("guard"), common::unique_name("ealice"), common::unique_name("emallory"));
    let (alice_full, mallory_full) = (format!("{alice}@localhost"), format!("{mallory}@localhost"));
    pki.issue(&ours);
    pki.issue(&alice_full);
    let rust = tls_node(&ours, epmd.port, &pki.transport(&ours), |b| b);
    let lenient_name = short("lenient");
    pki.issue(&lenient_name);
    let lenient = TlsTransport::new(pki.config(&lenient_name).verify_name(VerifyName::Host)).unwrap();
    let lenient = tls_node(&lenient_name, epmd.port, &lenient, |b| b);

    // mallory runs with alice's optfile: the same certificate, another node name.
    let optfile = pki.optfile(&alice_full);
    let mut mallory_erl = tls_erl(ErlName::Short(mallory), &epmd, &optfile);
    assert_eq!(mallory_erl.eval(&format!("net_adm:ping('{ours}')")), "pang", "strict refuses");
    wait_log(&[&format!("peer {mallory_full} presented a certificate for {alice_full} (verify-name strict)")], T);
    assert!(!rust.run(T, rust.node.ping(&mallory_full)), "and refuses it when dialling too");
    assert_eq!(mallory_erl.eval(&format!("net_adm:ping('{lenient_name}')")), "pong", "host policy: OTP's own check");

    // A node whose certificate another CA issued (it trusts ours, so we are the ones refusing).
    let other = Pki::new();
    let stranger = common::unique_name("estranger");
    let stranger_full = format!("{stranger}@localhost");
    other.issue(&stranger_full);
    let bundle: Vec<u8> = [std::fs::read(other.ca()).unwrap(), std::fs::read(pki.ca()).unwrap()].concat();
    std::fs::write(other.ca(), bundle).unwrap();
    let mut stranger_erl = tls_erl(ErlName::Short(stranger), &epmd, &other.optfile(&stranger_full));
    assert_eq!(stranger_erl.eval(&format!("net_adm:ping('{ours}')")), "pang");
    let line = wait_log(&[&format!("refused the client's certificate \"CN={stranger_full}\"")], T);
    assert!(line.contains("is not among the trust roots"), "{line}");
    let err = rust.run(T, rust.node.connect(&stranger_full)).unwrap_err().to_string();
    assert!(err.contains(&format!("refused the server's certificate \"CN={stranger_full}\"")), "{err}");
    assert!(err.contains("is not among the trust roots"), "{err}");

    // None of this harmed the node: an honest erl gets in.
    let honest = common::unique_name("ehonest");
    let honest_full = format!("{honest}@localhost");
    pki.issue(&honest_full);
    let mut honest_erl = tls_erl(ErlName::Short(honest), &epmd, &pki.optfile(&honest_full));
    assert_eq!(honest_erl.eval(&format!("net_adm:ping('{ours}')")), "pong");
    drop(lenient);
}

#[test]
fn a_rust_node_configured_from_the_erl_optfile_talks_to_erl() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (rust_name, erl_name) = (short("ropt"), common::unique_name("eopt"));
    let erl_full = format!("{erl_name}@localhost");
    pki.issue(&rust_name);
    pki.issue(&erl_full);
    let rust_optfile = pki.optfile(&rust_name);
    let tls = TlsTransport::new(TlsConfig::from_ssl_dist_optfile(&rust_optfile).unwrap()).unwrap();
    let rust: TestNode = tls_node(&rust_name, epmd.port, &tls, |b| b);
    let mut erl = tls_erl(ErlName::Short(erl_name), &epmd, &pki.optfile(&erl_full));
    assert!(rust.run(T, rust.node.ping(&erl_full)));
    assert_eq!(carrier(&mut erl, &rust_name), "tls");
}

#[test]
fn a_plain_erl_node_and_a_tls_rust_node_refuse_each_other_with_clear_reasons() {
    if !common::erlang_or_skip() {
        return;
    }
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let ours = short("rplain");
    pki.issue(&ours);
    let tls = TlsTransport::new(pki.config(&ours)).unwrap();
    let rust = tls_node(&ours, epmd.port, &tls, |b| b.handshake_timeout(Duration::from_secs(1)));
    let mut erl = ErlNode::start_short(&common::unique_name("eplain"), COOKIE, epmd.port);

    // Plain erl dials the TLS node: refused at the first bytes, named as plain distribution.
    assert_eq!(erl.eval(&format!("net_adm:ping('{ours}')")), "pang");
    let line = wait_log(&["the peer does not speak TLS: it opened with a plain-TCP distribution handshake"], T);
    assert!(line.contains("-proto_dist inet_tls"), "{line}");

    // The TLS node dials plain erl, which waits for a 5635-byte frame: the TLS limit ends it.
    let started = std::time::Instant::now();
    let err = rust.run(T, rust.node.connect(&erl.node)).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.contains("no TLS handshake reply within 1s; it may be a plain-TCP distribution node"), "{err}");
    // erl is unharmed.
    assert_eq!(erl.eval("erlang:is_alive()"), "true");
}

/// Encrypts `key` in place with `openssl pkey` and `password`: PKCS#8 PBES2
/// (AES-256-CBC) or, with `traditional`, OpenSSL's older
/// `Proc-Type: 4,ENCRYPTED` form (AES-128-CBC). `None` without `openssl`.
fn encrypt_key(key: &Path, password: &str, traditional: bool) -> Option<()> {
    let out = key.with_extension("enc");
    let mut args = vec!["pkey", "-in"];
    let (key_text, out_text) = (key.display().to_string(), out.display().to_string());
    args.extend([key_text.as_str(), "-out", out_text.as_str()]);
    let pass = format!("pass:{password}");
    if traditional {
        args.extend(["-traditional", "-aes128"]);
    } else {
        args.push("-aes256");
    }
    args.extend(["-passout", pass.as_str()]);
    let done = std::process::Command::new("openssl").args(&args).output().ok()?;
    assert!(done.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&done.stderr));
    std::fs::rename(&out, key).unwrap();
    Some(())
}

/// An optfile presenting `cert` with the encrypted `key` in both roles,
/// `password` given as OTP's `{password, ...}`.
fn optfile_with_password(
    dir: &Path,
    node: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
    password: &str,
) -> std::path::PathBuf {
    let common = format!(
        r#"{{certfile, "{}"}}, {{keyfile, "{}"}}, {{password, "{password}"}}, {{cacertfile, "{}"}}, {{verify, verify_peer}}"#,
        cert.display(),
        key.display(),
        ca.display()
    );
    let text = format!("[{{server, [{common}, {{fail_if_no_peer_cert, true}}]}},\n {{client, [{common}]}}].\n");
    let path = dir.join(format!("{node}-encrypted.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn encrypted_keys_unlocked_by_the_optfile_password_work_both_ways() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (rust_name, erl_alive) = (short("rkeypw"), common::unique_name("ekeypw"));
    let erl_name = format!("{erl_alive}@localhost");
    pki.issue(&rust_name);
    pki.issue(&erl_name);
    let ((rust_cert, rust_key), (erl_cert, erl_key)) = (pki.files(&rust_name), pki.files(&erl_name));
    // The Rust node's key in the traditional form, erl's in PKCS#8: each
    // side reads both forms from the other side's files here.
    if encrypt_key(&rust_key, "rust pass", true).and(encrypt_key(&erl_key, "erl-pass", false)).is_none() {
        common::skip("encrypted-key interop", "openssl is not installed");
        return;
    }
    let key_text = std::fs::read_to_string(&rust_key).unwrap();
    assert!(key_text.contains("Proc-Type: 4,ENCRYPTED"), "{key_text}");
    assert!(std::fs::read_to_string(&erl_key).unwrap().contains("BEGIN ENCRYPTED PRIVATE KEY"));

    let ca = pki.ca();
    let rust_optfile = optfile_with_password(pki.dir(), &rust_name, &ca, &rust_cert, &rust_key, "rust pass");
    let erl_optfile = optfile_with_password(pki.dir(), &erl_name, &ca, &erl_cert, &erl_key, "erl-pass");

    // A wrong password is refused at start-up, naming the key file.
    let wrong = optfile_with_password(pki.dir(), "wrong", &ca, &rust_cert, &rust_key, "not it");
    let err = TlsTransport::new(TlsConfig::from_ssl_dist_optfile(&wrong).unwrap()).unwrap_err().to_string();
    assert!(err.contains(&rust_key.display().to_string()) && err.contains("password is wrong"), "{err}");

    let tls = TlsTransport::new(TlsConfig::from_ssl_dist_optfile(&rust_optfile).unwrap()).unwrap();
    let rust: TestNode = tls_node(&rust_name, epmd.port, &tls, |b| b);
    let mut erl = tls_erl(ErlName::Short(erl_alive), &epmd, &erl_optfile);
    assert!(rust.run(T, rust.node.ping(&erl_name)), "the Rust node dials erl");
    assert_eq!(carrier(&mut erl, &rust_name), "tls");
    assert!(rust.node.disconnect(&erl_name));
    let gone = format!(
        "(fun W(0) -> still_there; W(N) -> case lists:member('{rust_name}', nodes(hidden)) of \
         true -> timer:sleep(50), W(N - 1); false -> gone end end)(200)"
    );
    assert_eq!(erl.eval(&gone), "gone");
    assert_eq!(erl.eval(&format!("net_adm:ping('{rust_name}')")), "pong", "erl dials the Rust node");
    assert_eq!(carrier(&mut erl, &rust_name), "tls");
}
