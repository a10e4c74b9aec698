//! Elixir nodes (`elixir --sname ... --cookie ...` running a script) and
//! beamlink: `Node.ping`, `GenServer.call` round trips through `beamlink
//! serve`'s echo (maps, charlists, structs, bignums, a fun, 1 MiB binaries),
//! `:erpc`/`:rpc`, `Node.spawn_monitor`, `Process.monitor` by pid; and the
//! `beamlink` CLI and a library node calling into an Elixir node.
//!
//! Skips, saying why, when `elixir` is missing (scripts/test installs it).

mod common;

use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use beamlink::term::{Term, parse};
use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, TestNode, beamlink};

const T: Duration = Duration::from_secs(60);
const CLIENT_EXS: &str = include_str!("interop_elixir/client.exs");
const SERVER_EXS: &str = include_str!("interop_elixir/server.exs");

/// Writes `source` into a new temporary directory as `name`.
fn script(name: &str, source: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, source).expect("write the script");
    (dir, path)
}

#[test]
fn elixir_client_against_beamlink_serve() {
    if !common::elixir_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("exsrv"));
    let _serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "cookie_x1"], epmd.port);
    let (_dir, path) = script("client.exs", CLIENT_EXS);
    let me = format!("{}@localhost", common::unique_name("exclient"));
    let out = common::output_within(
        "elixir client.exs",
        Command::new("elixir")
            .args(["--sname", &me, "--cookie", "cookie_x1"])
            .arg(&path)
            .arg(&name)
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0"),
        T,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "elixir failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = |label: &str| -> &str {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
    };

    assert_eq!(line("PING"), ":pong");
    let calls: Vec<&str> = stdout.lines().filter(|l| l.starts_with("CALL ")).collect();
    let kinds = [
        "map",
        "charlist",
        "uri",
        "mapset",
        "bignum",
        "negative_bignum",
        "fun",
        "large_binary",
        "keyword",
        "float",
        "pid",
        "ref",
        "unicode",
    ];
    let expected: Vec<String> = kinds.iter().map(|k| format!("CALL {k} true")).collect();
    assert_eq!(calls, expected, "every term came back identical (===)\n{stdout}");
    // A NEW_FUN passes through opaque: the closure that came back still runs.
    assert_eq!(line("FUN_RUNS"), ":still_callable");
    assert_eq!(line("SEND"), "{:plain_send, 1}");
    assert_eq!(line("ERPC"), format!(":{name}"));
    assert_eq!(line("RPC"), format!(":{name}"));
    assert_eq!(line("ERPC_UNDEF"), "{:error, {:exception, :undef, [{:nosuch, :fn, [1], []}]}}");
    assert_eq!(line("SPAWN_MONITOR"), "{true, {true, :normal}}");
    assert_eq!(line("ECHO_PID"), "true");
    assert!(!stdout.contains("EARLY_DOWN"), "a monitor of a live process fired:\n{stdout}");
    assert_eq!(line("MONITOR"), "{true, :killed}", "the monitor fired when the process was killed");
    assert_eq!(line("MONITOR_DEAD"), "{true, :noproc}", "a monitor of a dead pid fires noproc");
    assert_eq!(line("DONE"), ":ok");
}

/// `elixir server.exs`, running until its stdin closes; killed by pid on drop.
struct ElixirNode {
    child: Child,
    _stdin: ChildStdin,
    _dir: tempfile::TempDir,
    node: String,
    lines: Receiver<String>,
}

impl ElixirNode {
    fn start(epmd_port: u16, cookie: &str) -> ElixirNode {
        let (dir, path) = script("server.exs", SERVER_EXS);
        let node = format!("{}@localhost", common::unique_name("exnode"));
        let mut child = Command::new("elixir")
            .args(["--sname", &node, "--cookie", cookie])
            .arg(&path)
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start elixir");
        let stdin = child.stdin.take().expect("stdin");
        let lines = common::lines_of(child.stdout.take().expect("stdout"));
        let mut elixir = ElixirNode { child, _stdin: stdin, _dir: dir, node, lines };
        let ready = elixir.expect("READY ");
        assert_eq!(ready, elixir.node);
        elixir
    }

    /// The rest of the next line starting with `prefix`, within the limit.
    fn expect(&mut self, prefix: &str) -> String {
        common::next_line_with(&self.lines, prefix, T)
            .unwrap_or_else(|| panic!("the Elixir node printed no `{prefix}` line within {T:?}"))
    }
}

impl Drop for ElixirNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn beamlink_calls_into_an_elixir_node() {
    if !common::elixir_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let mut elixir = ElixirNode::start(epmd.port, "cookie_x2");
    let ex = elixir.node.clone();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--cookie", "cookie_x2"]);
        beamlink(&all, epmd.port, T)
    };

    let (code, out, err) = cli(&["ping", &ex]);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
    let (code, out, err) = cli(&["rpc", &ex, "Elixir.String", "upcase", "[<<\"hello\">>]"]);
    assert_eq!((code, out.trim()), (0, "<<\"HELLO\">>"), "{err}");
    let (code, out, err) = cli(&["rpc", &ex, "Elixir.Enum", "sum", "[[1, 2, 3, 1000000000000000000000]]"]);
    assert_eq!((code, out.trim()), (0, "1000000000000000000006"), "{err}");
    let (code, out, _) = cli(&["rpc", &ex, "Elixir.String", "to_integer", "[<<\"x\">>]"]);
    assert_eq!(code, 1, "an exception is a failure");
    assert!(out.starts_with("{badrpc,{'EXIT',{badarg,"), "{out}");
    let (code, _, err) = cli(&["send", &ex, "ex_inbox", "{hi, [1, 2]}"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(elixir.expect("OTHER "), "{:hi, [1, 2]}");

    // A library node: rpc with a UTF-8 binary, and a round trip through ex_inbox.
    let rust = TestNode::short("toex", "cookie_x2", epmd.port);
    let up = rust
        .run(T, rust.node.rpc_call(&ex, "Elixir.String", "upcase", vec![Term::binary("héllo".as_bytes().to_vec())], T))
        .expect("String.upcase");
    assert_eq!(up, Term::binary("HÉLLO".as_bytes().to_vec()));
    let term = parse("{rich, #{a => [1.5, <<1:3>>], <<\"k\">> => -123456789012345678901234567890}, \"chars\", 'é'}")
        .expect("parse");
    let mut p = rust.node.process();
    let me = Term::Pid(p.pid().clone());
    let reply = rust.run(T, async {
        p.send_named("ex_inbox", &ex, Term::tuple(vec![me, term.clone()])).await.expect("send");
        p.recv_timeout(T).await.expect("mailbox").expect("a reply from the Elixir node")
    });
    assert_eq!(reply, Term::tuple(vec![Term::atom("elixir_got"), term]));
}
