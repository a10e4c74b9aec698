//! Java nodes on OTP's jinterface (OtpErlang.jar), compiled by the test with
//! `javac`: `OtpNode.ping`, `OtpMbox` round trips through `beamlink serve`'s
//! echo, `OtpConnection` RPC, links in both directions with beamlink
//! processes, and a Java node that beamlink pings, sends to and rpc-calls.
//!
//! Skips, saying why, when `javac` or OtpErlang.jar is missing
//! (scripts/test installs both).

mod common;

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use beamlink::term::{Term, parse};
use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, TestNode, beamlink};

const T: Duration = Duration::from_secs(30);
const CHECKS_JAVA: &str = include_str!("interop_java/Checks.java");

/// OtpErlang.jar: the one of the `erl` on PATH, else the system's.
fn jinterface_jar() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("erl")
        .args(["-noshell", "-eval", "io:format(\"~s\", [code:lib_dir(jinterface)]), halt()."])
        .stdin(Stdio::null())
        .output()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/erlang/lib") {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("jinterface-")))
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates.into_iter().map(|dir| dir.join("priv/OtpErlang.jar")).find(|jar| jar.is_file())
}

/// The compiled checks: a class path holding OtpErlang.jar and `Checks`.
struct Java {
    _dir: tempfile::TempDir,
    classpath: String,
}

impl Java {
    /// Compiles Checks.java, or says why it cannot and returns `None`.
    fn build_or_skip() -> Option<Java> {
        if Command::new("javac").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            common::skip("", "no `javac`; install a JDK (default-jdk-headless) to run the jinterface tests");
            return None;
        }
        let Some(jar) = jinterface_jar() else {
            common::skip("", "no OtpErlang.jar; install erlang-jinterface to run the jinterface tests");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let src = dir.path().join("Checks.java");
        std::fs::write(&src, CHECKS_JAVA).expect("write Checks.java");
        let out = common::output_within(
            "javac Checks.java",
            Command::new("javac").arg("-cp").arg(&jar).arg("-d").arg(dir.path()).arg(&src),
            Duration::from_secs(180),
        );
        assert!(out.status.success(), "javac failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let classpath = format!("{}:{}", jar.display(), dir.path().display());
        Some(Java { _dir: dir, classpath })
    }

    fn command(&self, epmd_port: u16, args: &[&str]) -> Command {
        let mut command = Command::new("java");
        command.arg("-cp").arg(&self.classpath).arg("Checks").args(args).env("ERL_EPMD_PORT", epmd_port.to_string());
        command
    }

    /// Runs a mode to completion (bounded); its standard output.
    fn run(&self, epmd_port: u16, args: &[&str]) -> String {
        let out = common::output_within(&format!("java Checks {args:?}"), &mut self.command(epmd_port, args), T);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "java Checks {args:?} failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }
}

/// The rest of the first line of `out` starting with `label `.
fn line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {label} line in:\n{out}"))
}

#[test]
fn jinterface_client_against_beamlink_serve() {
    let Some(java) = Java::build_or_skip() else { return };
    let epmd = OtpEpmd::start();
    let name = format!("{}@localhost", common::unique_name("jsrv"));
    let _serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", "cookie_j1"], epmd.port);
    let me = format!("{}@localhost", common::unique_name("jclient"));
    let out = java.run(epmd.port, &["client", &me, &name, "cookie_j1"]);

    assert_eq!(line(&out, "PING"), "true", "OtpNode.ping");
    // Each term came back equal (OtpErlangObject.equals): a rich tuple, a
    // bignum, i64::MIN, a Unicode atom, a pid, a reference, 1 MiB of binary,
    // an improper list and a bitstring.
    let echoes: Vec<&str> = out.lines().filter(|l| l.starts_with("ECHO ")).collect();
    assert_eq!(echoes.len(), 9, "{out}");
    for (i, echo) in echoes.iter().enumerate() {
        assert_eq!(*echo, format!("ECHO {i} true"), "{out}");
    }
    assert_eq!(line(&out, "NAMED"), "via_named");
    assert_eq!(line(&out, "RPC_NODE"), name);
    assert!(line(&out, "RPC_WHEREIS").starts_with(&format!("#Pid<{name}.")), "{out}");
    assert!(line(&out, "RPC_UNDEF").starts_with("{badrpc,{'EXIT',{undef,[{nosuch,fn,"), "{out}");
}

#[test]
fn links_between_mailboxes_and_beamlink_processes() {
    let Some(java) = Java::build_or_skip() else { return };
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("jlinks", "cookie_j2", epmd.port);
    let hello = |msg: &Term| match msg.as_tuple() {
        Some([tag, Term::Pid(from)]) if tag.is_atom("hello") => Some(from.clone()),
        _ => None,
    };
    // `victim` exits with the reason it is told; the Java side is linked to it.
    rust.node
        .spawn_registered("victim", move |mut p| async move {
            loop {
                let msg = p.recv().await.map_err(|_| Term::atom("killed"))?;
                if let Some(from) = hello(&msg) {
                    let me = Term::Pid(p.pid().clone());
                    let _ = p.send(&from, Term::tuple(vec![Term::atom("victim"), me])).await;
                } else if let Some([tag, reason]) = msg.as_tuple()
                    && tag.is_atom("die")
                {
                    return Err(reason.clone());
                }
            }
        })
        .unwrap();
    // `watcher` traps exits and reports each `{'EXIT', From, Reason}`.
    let (tx, exits) = channel();
    rust.node
        .spawn_registered("watcher", move |mut p| async move {
            p.trap_exit(true);
            while let Ok(msg) = p.recv().await {
                if let Some(from) = hello(&msg) {
                    let me = Term::Pid(p.pid().clone());
                    let _ = p.send(&from, Term::tuple(vec![Term::atom("watcher"), me])).await;
                } else if matches!(msg.as_tuple(), Some([tag, _, _]) if tag.is_atom("EXIT")) {
                    let _ = tx.send(msg);
                }
            }
        })
        .unwrap();

    let me = format!("{}@localhost", common::unique_name("jlinker"));
    let out = java.run(epmd.port, &["links", &me, &rust.name(), "cookie_j2"]);
    assert_eq!(
        line(&out, "EXIT_IN"),
        "true {shutdown,from_beamlink}",
        "the beamlink process's exit reached the mailbox"
    );
    assert!(out.lines().any(|l| l.starts_with("DONE {watcher,")), "{out}");
    let linked = line(&out, "LINKED");
    let signalled = line(&out, "SIGNALLED");
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(exits.recv_timeout(T).expect("an EXIT message at the watcher"));
    }
    // Each as (from: node, id, serial; reason) against the pids Java printed.
    let seen: Vec<(String, u32, u32, String)> = got
        .iter()
        .map(|msg| match msg.as_tuple() {
            Some([_, Term::Pid(from), reason]) => (from.node.to_string(), from.id, from.serial, reason.to_string()),
            _ => panic!("not an EXIT from a pid: {msg}"),
        })
        .collect();
    let expected = vec![java_pid(linked, "{from_java,7}"), java_pid(signalled, "signal_only")];
    assert_eq!(seen, expected, "{out}");
    assert!(rust.node.whereis("victim").is_none(), "victim exited");
    assert!(rust.node.whereis("watcher").is_some(), "the watcher trapped both exits and lives");
}

/// A pid as jinterface prints it, `#Pid<node.id.serial>`, with `reason`.
fn java_pid(text: &str, reason: &str) -> (String, u32, u32, String) {
    let inner = text.strip_prefix("#Pid<").and_then(|t| t.strip_suffix('>')).unwrap_or_else(|| panic!("{text}"));
    let mut parts = inner.rsplitn(3, '.');
    let serial = parts.next().and_then(|n| n.parse().ok()).expect("serial");
    let id = parts.next().and_then(|n| n.parse().ok()).expect("id");
    (parts.next().expect("node").to_string(), id, serial, reason.to_string())
}

/// `java Checks server`, running until its stdin closes; killed by pid on drop.
struct JavaServer {
    child: Child,
    _stdin: ChildStdin,
    lines: Receiver<String>,
}

impl JavaServer {
    fn start(java: &Java, epmd_port: u16, node: &str, cookie: &str) -> JavaServer {
        let mut child = java
            .command(epmd_port, &["server", node, cookie])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start java");
        let stdin = child.stdin.take().expect("stdin");
        let lines = common::lines_of(child.stdout.take().expect("stdout"));
        let mut server = JavaServer { child, _stdin: stdin, lines };
        assert_eq!(server.expect("READY "), node);
        server
    }

    /// The rest of the next line starting with `prefix`, within 30 s.
    fn expect(&mut self, prefix: &str) -> String {
        common::next_line_with(&self.lines, prefix, T)
            .unwrap_or_else(|| panic!("the Java node printed no `{prefix}` line within {T:?}"))
    }
}

impl Drop for JavaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn beamlink_pings_sends_to_and_calls_a_jinterface_node() {
    let Some(java) = Java::build_or_skip() else { return };
    let epmd = OtpEpmd::start();
    let jnode = format!("{}@localhost", common::unique_name("jnode"));
    let mut server = JavaServer::start(&java, epmd.port, &jnode, "cookie_j3");
    let rust = TestNode::short("tojava", "cookie_j3", epmd.port);

    assert!(rust.run(T, rust.node.ping(&jnode)), "ping the jinterface node");

    let term = parse(
        "{msg, -7, 1.5, <<1,2,3>>, [a, \"chars\", {}], #{x => [1 | 2], <<\"k\">> => 123456789012345678901234567890}, \
         'utf8 ☃', <<5:3>>}",
    )
    .unwrap();
    let mut p = rust.node.process();
    let me = Term::Pid(p.pid().clone());
    let reference = Term::Ref(Box::new(rust.node.make_ref()));
    let term = match term {
        Term::Tuple(mut items) => {
            items.push(me.clone());
            items.push(reference);
            Term::Tuple(items)
        }
        _ => unreachable!(),
    };
    let reply = rust.run(T, async {
        p.send_named("jbox", &jnode, Term::tuple(vec![me.clone(), term.clone()])).await.expect("send");
        p.recv_timeout(T).await.expect("mailbox").expect("a reply from the Java node")
    });
    assert_eq!(reply, Term::tuple(vec![Term::atom("java_got"), term]));
    assert!(server.expect("GOT ").contains("123456789012345678901234567890"));

    let node = rust.run(T, rust.node.rpc_call(&jnode, "erlang", "node", vec![], T)).expect("rpc erlang:node/0");
    assert_eq!(node, Term::atom(&jnode));
    let args = vec![Term::from(1), Term::atom("x")];
    let echoed = rust.run(T, rust.node.rpc_call(&jnode, "m", "f", args.clone(), T)).expect("rpc m:f/2");
    assert_eq!(echoed, Term::tuple(vec![Term::atom("m"), Term::atom("f"), Term::list(args)]));
    assert_eq!(server.expect("RPC "), "erlang:node");
    assert_eq!(server.expect("RPC "), "m:f");

    // The one-shot CLI commands.
    let (code, out, err) = beamlink(&["ping", &jnode, "--cookie", "cookie_j3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
    let (code, out, err) = beamlink(&["rpc", &jnode, "erlang", "node", "--cookie", "cookie_j3"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, jnode.as_str()), "{err}");
    let (code, _, err) = beamlink(&["send", &jnode, "jbox", "{hello, [1, 2]}", "--cookie", "cookie_j3"], epmd.port, T);
    assert_eq!(code, 0, "{err}");
    // jinterface shows a list of small integers as a string.
    assert_eq!(server.expect("GOT "), "{hello,\"\u{1}\u{2}\"}");
    let (code, out, _) = beamlink(&["ping", &jnode, "--cookie", "not_it"], epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"), "a wrong cookie is refused");
    assert!(rust.run(T, rust.node.ping(&jnode)), "the library node's connection is still good");
}
