//! `beamlink remsh NODE` in a terminal (a tmux pane), against a real erl
//! node, over TCP and over TLS: a multi-line expression, output, Ctrl-C
//! during an evaluation and at the prompt, history, and Ctrl-D, after
//! which the node and its processes run on.

mod common;
mod tls_fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::erl::{ErlNode, OtpEpmd};
use common::rust::beamlink_exe;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

/// A tmux server of this test's own (its socket in a temporary folder),
/// with one pane running a command; the server is stopped on drop.
struct Pane {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pane {
    fn start(command: &str) -> Pane {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let pane = Pane { socket, _dir: dir };
        let shell = format!("{command}; echo \"remsh exited $?\"; sleep 60");
        pane.tmux(&["new-session", "-d", "-s", "remsh", "-x", "150", "-y", "50", &shell]);
        pane
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = common::output_within("tmux", Command::new("tmux").arg("-S").arg(&self.socket).args(args), T);
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        self.tmux(&[&["send-keys", "-t", "remsh"][..], keys].concat());
    }

    /// Types `line` and Enter.
    fn line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "remsh", "-l", line]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "remsh", "-S", "-200"])
    }

    /// Waits until the screen has a line that is exactly `line`, `count` times.
    fn wait_line(&self, line: &str, count: usize) {
        let found = common::try_wait_for(T, || {
            (self.screen().lines().filter(|l| l.trim_end() == line).count() >= count).then_some(())
        });
        assert!(found.is_some(), "no line {line:?} (x{count}) on the screen:\n{}", self.screen());
    }

    /// Waits until the last line with anything on it is exactly `line`.
    fn wait_last_line(&self, line: &str) {
        let last = || self.screen().lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim_end().to_string());
        let found = common::try_wait_for(T, || (last().as_deref() == Some(line)).then_some(()));
        assert!(found.is_some(), "the last line is not {line:?}:\n{}", self.screen());
    }

    fn wait_text(&self, text: &str) {
        let found = common::try_wait_for(T, || self.screen().contains(text).then_some(()));
        assert!(found.is_some(), "no {text:?} on the screen:\n{}", self.screen());
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").status();
    }
}

fn tmux_or_skip() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        common::skip("", "tmux is not installed");
    }
    found && common::erlang_or_skip()
}

/// Drives one remsh session against `erl`, whose `keeper` process must outlive it.
fn session(erl: &mut ErlNode, epmd_port: u16, extra: &[&str]) {
    let node = erl.node.clone();
    let mut command = format!("env ERL_EPMD_PORT={epmd_port} {} remsh {node}", beamlink_exe());
    for arg in extra {
        command.push(' ');
        command.push_str(arg);
    }
    let pane = Pane::start(&command);
    let prompt = |n: u32| format!("({node}){n}>");
    pane.wait_text("Eshell V");
    pane.wait_line(&prompt(1), 1);

    // A multi-line expression, and output.
    pane.line("X = 20 +");
    pane.line("22.");
    pane.wait_line("42", 1);
    pane.wait_line(&prompt(2), 1);
    pane.line("io:format(\"twice ~p~n\", [X * 2]).");
    pane.wait_line("twice 84", 1);
    pane.wait_line(&prompt(3), 1);

    // Ctrl-C during an evaluation interrupts it, not the node.
    pane.line("io:format(\"sleeping~n\"), timer:sleep(60000).");
    pane.wait_line("sleeping", 1);
    pane.keys(&["C-c"]);
    pane.wait_text("exception exit: killed");
    pane.wait_line(&prompt(4), 1);
    // At the prompt it drops the line (the prompt comes again); Ctrl-G does
    // nothing harmful; Up recalls history.
    pane.tmux(&["send-keys", "-t", "remsh", "-l", "half typed"]);
    pane.wait_text("half typed");
    pane.keys(&["C-c"]);
    pane.wait_last_line(&prompt(4));
    assert!(pane.screen().contains(&format!("{} half typed", prompt(4))), "{}", pane.screen());
    pane.keys(&["C-g"]);
    pane.line("node().");
    pane.wait_line(&node, 1);
    pane.wait_line(&prompt(5), 1);
    pane.keys(&["Up"]);
    pane.wait_text(&format!("{}> node().", prompt(5).trim_end_matches('>')));
    pane.keys(&["Enter"]);
    pane.wait_line(&node, 2);
    pane.wait_line(&prompt(6), 1);

    // Ctrl-D leaves; the node and its other processes run on.
    pane.keys(&["C-d"]);
    pane.wait_line("remsh exited 0", 1);
    assert_eq!(erl.eval("is_pid(whereis(keeper))"), "true", "the node's processes survive the shell");
    assert!(!pane.screen().contains("Terminating erlang"), "{}", pane.screen());
}

fn keeper(erl: &mut ErlNode) {
    erl.eval("register(keeper, spawn(fun() -> receive stop -> ok end end))");
}

#[test]
fn remsh_over_tcp_edits_evaluates_and_leaves_the_node_running() {
    if !tmux_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let mut erl = ErlNode::start_short(&common::unique_name("rsh"), "rk", epmd.port);
    keeper(&mut erl);
    session(&mut erl, epmd.port, &["--cookie", "rk"]);
}

#[test]
fn remsh_over_tls_with_an_operator_certificate() {
    if !tmux_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let alive = common::unique_name("rshtls");
    let erl_name = format!("{alive}@localhost");
    pki.issue(&erl_name);
    pki.issue_with("ops@localhost", |o| o.operator());
    let mut erl = erl_tls_node(alive, epmd.port, &pki.optfile(&erl_name));
    keeper(&mut erl);
    let (cert, key) = pki.files("ops@localhost");
    let ca = pki.ca();
    session(&mut erl, epmd.port, &["--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&cert), "--key", s(&key)]);
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
