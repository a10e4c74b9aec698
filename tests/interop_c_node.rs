//! C nodes built on OTP's erl_interface (libei), compiled by the test: a
//! client that connects to `beamlink serve`, rpc-calls it and has terms
//! echoed back byte for byte; and a server, published in EPMD, that a
//! beamlink node and the `beamlink` CLI ping, rpc-call and send to.
//!
//! Skips, saying why, only when no C compiler or no libei headers exist.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use beamlink::term::{Term, parse};
use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, TestNode, beamlink};

const T: Duration = Duration::from_secs(30);
const CLIENT_C: &str = include_str!("interop_c/client.c");
const SERVER_C: &str = include_str!("interop_c/server.c");

/// An erl_interface directory with `include/ei.h` and `lib/libei.a`: the one
/// `erl` on PATH reports, else the system's (a newer OTP put beside it may
/// come without erl_interface's headers).
fn erl_interface() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("BEAMLINK_ERL_INTERFACE") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("erl")
        .args(["-noshell", "-eval", "io:format(\"~s\", [code:lib_dir(erl_interface)]), halt()."])
        .stdin(Stdio::null())
        .output()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/erlang/lib") {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("erl_interface-")))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates.into_iter().find(|dir| dir.join("include/ei.h").is_file() && dir.join("lib/libei.a").is_file())
}

/// The two C programs, compiled into a temporary directory.
struct CPrograms {
    _dir: tempfile::TempDir,
    client: PathBuf,
    server: PathBuf,
}

/// Compiles the C programs, or says why it cannot and returns `None`.
fn build_or_skip() -> Option<CPrograms> {
    if Command::new("cc").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        common::skip("", "no C compiler (`cc`) on PATH; install gcc to run the C node tests");
        return None;
    }
    let Some(ei) = erl_interface() else {
        common::skip("", "no erl_interface headers and libei found; install erlang-dev to run the C node tests");
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let compile = |name: &str, source: &str| -> PathBuf {
        let src = dir.path().join(format!("{name}.c"));
        std::fs::write(&src, source).expect("write C source");
        let exe = dir.path().join(name);
        let out = common::output_within(
            &format!("cc {name}.c"),
            Command::new("cc")
                .args(["-Wall", "-O1", "-D_REENTRANT", "-o"])
                .arg(&exe)
                .arg(&src)
                .arg(format!("-I{}", ei.join("include").display()))
                .arg(format!("-L{}", ei.join("lib").display()))
                .args(["-lei", "-lpthread"]),
            Duration::from_secs(120),
        );
        assert!(out.status.success(), "cc {name}.c failed:\n{}", String::from_utf8_lossy(&out.stderr));
        exe
    };
    let client = compile("client", CLIENT_C);
    let server = compile("server", SERVER_C);
    Some(CPrograms { _dir: dir, client, server })
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn c_client_calls_and_echoes_through_beamlink_serve() {
    let Some(programs) = build_or_skip() else { return };
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("csrv"));
    let serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "cookie_c1"], epmd.port);
    let alive = common::unique_name("cclient");
    let out = common::output_within(
        "the C client",
        Command::new(&programs.client)
            .args([&alive, "localhost", &name, "cookie_c1"])
            .env("ERL_EPMD_PORT", epmd.port.to_string()),
        T,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the C client failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = |label: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
            .to_string()
    };
    assert_eq!(line("CONNECTED"), format!("{alive}@localhost"));
    assert_eq!(line("RPC_NODE"), name);
    assert!(line("RPC_WHEREIS").starts_with(&format!("<{name}.")), "{stdout}");
    assert_eq!(line("RPC_UNDEF").replace(' ', ""), "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1,two],[]}]}}}");
    // The echo service decoded each term and encoded it again: the bytes
    // that came back are the very bytes libei wrote.
    assert!(line("ECHO_RICH").starts_with("EXACT"), "{stdout}");
    assert_eq!(line("ECHO_LARGE"), "EXACT 200014", "{stdout}");
    assert!(stdout.lines().any(|l| l == "DONE"), "{stdout}");

    // And beamlink read those bytes as the terms libei meant.
    let bytes = [&[131u8][..], &hex_decode(&line("SENT"))].concat();
    let sent = beamlink::term::decode(&bytes).expect("beamlink decodes libei's encoding");
    let Term::Tuple(items) = &sent else { panic!("not a tuple: {sent}") };
    let Term::Pid(pid) = &items[9] else { panic!("no pid last: {sent}") };
    assert_eq!(pid.node.as_str(), format!("{alive}@localhost"));
    let expected = parse(
        "{rich, -123456789, -1, 3.25, <<0,1,2,98,105,110,97,114,121,255>>, [255, \"str\", {nested, []}], \
         #{k => 18446744073709551615, <<\"key\">> => -9223372036854775808}, \
         -980065803857193721618941593703860377886919469995, 'héllo'}",
    )
    .expect("parse the expected term");
    let Term::Tuple(expected) = expected else { unreachable!() };
    assert_eq!(&items[..9], &expected[..], "{sent}");
    drop(serve);
}

/// The C server, running; killed by pid on drop.
struct CServer {
    child: Child,
    node: String,
    lines: Receiver<String>,
}

impl CServer {
    fn start(exe: &Path, alive: &str, cookie: &str, epmd_port: u16) -> CServer {
        let mut child = Command::new(exe)
            .args([alive, "localhost", cookie])
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the C server");
        let lines = common::lines_of(child.stdout.take().expect("stdout"));
        let mut server = CServer { child, node: format!("{alive}@localhost"), lines };
        let ready = server.expect("LISTENING ");
        assert!(ready.starts_with(&format!("{} ", server.node)), "{ready}");
        server
    }

    /// The rest of the next line starting with `prefix` (others are skipped), within 30 s.
    fn expect(&mut self, prefix: &str) -> String {
        common::next_line_with(&self.lines, prefix, T)
            .unwrap_or_else(|| panic!("the C server printed no `{prefix}` line within {T:?}"))
    }
}

impl Drop for CServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn beamlink_pings_calls_and_sends_to_a_c_node() {
    let Some(programs) = build_or_skip() else { return };
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let mut c = CServer::start(&programs.server, &common::unique_name("cnode"), "cookie_c2", epmd.port);
    let rust = TestNode::short("tocnode", "cookie_c2", epmd.port);

    assert!(rust.run(T, rust.node.ping(&c.node)), "ping the C node");
    assert_eq!(c.expect("PINGED "), rust.name());

    let node = rust.run(T, rust.node.rpc_call(&c.node, "erlang", "node", vec![], T)).expect("rpc erlang:node/0");
    assert_eq!(node, Term::atom(&c.node));
    let args = vec![Term::from(1), Term::binary(&b"two"[..]), Term::list(vec![Term::atom("three")])];
    let echoed = rust.run(T, rust.node.rpc_call(&c.node, "lists", "seq", args.clone(), T)).expect("rpc lists:seq");
    assert_eq!(echoed, Term::tuple(vec![Term::atom("lists"), Term::atom("seq"), Term::list(args)]));
    assert_eq!(c.expect("RPC "), "gen_call node");
    assert_eq!(c.expect("RPC "), "gen_call seq");

    // A message to a registered name, answered to the sender's pid.
    let term = parse(
        "{msg, -7, 1.5, <<1,2,3>>, [a, \"chars\", {}], #{x => [1 | 2], <<\"k\">> => 123456789012345678901234567890}, \
         'utf8 ☃'}",
    )
    .unwrap();
    let mut p = rust.node.process();
    let me = p.pid().clone();
    let message = Term::tuple(vec![Term::Pid(me), term.clone()]);
    let size = beamlink::term::encoded_len(&message);
    let reply = rust.run(T, async {
        p.send_named("inbox", &c.node, message.clone()).await.expect("send");
        p.recv_timeout(T).await.expect("mailbox").expect("a reply from the C node")
    });
    assert_eq!(reply, Term::tuple(vec![Term::atom("c_node_got"), term]));
    let got = c.expect("GOT ");
    assert_eq!(got.split(' ').next(), Some(size.to_string().as_str()), "libei read a term of another size: {got}");

    // The one-shot CLI commands, each on a connection of its own.
    let (code, out, err) = beamlink(&["ping", &c.node, "--cookie", "cookie_c2"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
    let (code, out, err) = beamlink(&["rpc", &c.node, "erlang", "node", "--cookie", "cookie_c2"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, c.node.as_str()), "{err}");
    let (code, out, err) = beamlink(&["rpc", &c.node, "m", "f", "[1, {x}]", "--cookie", "cookie_c2"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "{m,f,[1,{x}]}"), "{err}");
    let (code, _, err) =
        beamlink(&["send", &c.node, "inbox", "{hello, [1, 2]}", "--cookie", "cookie_c2"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    let size = beamlink::term::encoded_len(&parse("{hello, [1, 2]}").unwrap());
    // ei prints a list of bytes as a string.
    let expected = format!("{size} {{hello, \"\\x1\\x2\"}}");
    assert_eq!(c.expect("GOT "), expected, "libei's reading of what `beamlink send` sent");
    let (code, out, _) = beamlink(&["ping", &c.node, "--cookie", "not_it"], epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"), "a wrong cookie is refused");
    c.expect("REFUSED");

    // The library node's own connection took no harm from any of it.
    assert!(rust.run(T, rust.node.ping(&c.node)), "ping after the CLI runs");
}
