//! `beamlink serve --firewall FILE`: the policy file read at start-up, a bad
//! file refused, per-peer entries, and reloads on SIGHUP and on a change of
//! the file, against the real binary with Rust peers.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use beamlink::node::CallError;
use beamlink::term::Term;
use common::erl::OtpEpmd;
use common::rust::{TestNode, beamlink, beamlink_exe};

const T: Duration = Duration::from_secs(30);
const COOKIE: &str = "fwfile";

/// `beamlink serve --firewall FILE` with its stderr in a file; killed by pid on drop.
struct Served {
    child: Child,
    node: String,
    stderr: PathBuf,
}

impl Served {
    fn start(epmd: &OtpEpmd, policy: &Path, dir: &Path) -> Served {
        let name = format!("{}@localhost", common::unique_name("fwsrv"));
        let stderr = dir.join(format!("{name}.stderr"));
        let log = std::fs::File::create(&stderr).expect("create the stderr file");
        let mut child = Command::new(beamlink_exe())
            .args(["serve", "--sname", &name, "--cookie", COOKIE, "--firewall"])
            .arg(policy)
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start beamlink serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + T;
        let mut served = Served { child, node: String::new(), stderr };
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(node) = line.strip_prefix("ready ") {
                        served.node = node.trim().to_string();
                        return served;
                    }
                }
                Err(_) => panic!("serve did not get ready within {T:?}; stderr:\n{}", served.log()),
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Whether serve is still running.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn hangup(&self) {
        let status = Command::new("kill").arg("-HUP").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success(), "kill -HUP {} failed", self.child.id());
    }

    /// Waits (bounded) for a line of the log holding every needle.
    fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> String {
        common::wait_for(&format!("a log line with {needles:?}"), timeout, || {
            self.log().lines().find(|line| needles.iter().all(|n| line.contains(n))).map(str::to_string)
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the file the way editors and config managers do: a new file renamed over it.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

fn peer(prefix: &str, epmd: &OtpEpmd) -> TestNode {
    TestNode::start(&format!("{}@localhost", common::unique_name(prefix)), COOKIE, epmd.port, |b| b)
}

fn rpc(peer: &TestNode, srv: &str, function: &str, args: Vec<Term>) -> Result<Term, CallError> {
    let node = peer.node.clone();
    let srv = srv.to_string();
    let function = function.to_string();
    peer.run(T, async move { node.rpc_call(&srv, "erlang", &function, args, T).await })
}

fn refused(result: Result<Term, CallError>) -> bool {
    match result {
        Err(CallError::BadRpc(reason)) => {
            assert_eq!(reason.to_string(), "{'EXIT',not_allowed}");
            true
        }
        Ok(_) => false,
        Err(other) => panic!("expected a result or a refusal, got {other:?}"),
    }
}

/// Whether `echo` on `srv` answers a `{Pid, Term}` from `peer` within `wait`.
fn echo_answers(peer: &TestNode, srv: &str, wait: Duration) -> bool {
    let node = peer.node.clone();
    let srv = srv.to_string();
    peer.run(T, async move {
        let mut p = node.process();
        let message = Term::Tuple(vec![Term::Pid(p.pid().clone()), Term::atom("hello")]);
        p.send_named("echo", &srv, message).await.expect("send to echo");
        p.recv_timeout(wait).await.expect("recv") == Some(Term::atom("hello"))
    })
}

/// What `sink` on `srv` says to `{done, Pid}`, if it answers within `wait`.
fn sink_answer(peer: &TestNode, srv: &str, wait: Duration) -> Option<Term> {
    let node = peer.node.clone();
    let srv = srv.to_string();
    peer.run(T, async move {
        let mut p = node.process();
        let message = Term::Tuple(vec![Term::atom("done"), Term::Pid(p.pid().clone())]);
        p.send_named("sink", &srv, message).await.expect("send to sink");
        p.recv_timeout(wait).await.expect("recv")
    })
}

#[test]
fn a_locked_down_default_and_an_entry_that_opens_things_for_one_peer() {
    let epmd = OtpEpmd::start();
    let dir = tempfile::tempdir().unwrap();
    let trusted = peer("trusted", &epmd);
    let other = peer("other", &epmd);
    let policy = dir.path().join("policy.toml");
    // The host part in capitals: host names match without regard to case.
    let trusted_pattern = trusted.name().replace("@localhost", "@LOCALHOST");
    std::fs::write(
        &policy,
        format!(
            r#"# Every peer: one function, one name.
[default]
spawn = false
exit_signals = false
group_leader = false
rpc = ["erlang:node"]
names = ["sink"]

[peer."{trusted_pattern}"]
rpc = ["*"]
names = ["*"]
"#
        ),
    )
    .unwrap();
    let srv = Served::start(&epmd, &policy, dir.path());
    let n = srv.node.as_str();

    // The default: the listed function runs, the others are refused.
    assert_eq!(rpc(&other, n, "node", vec![]).unwrap(), Term::atom(n));
    assert!(refused(rpc(&other, n, "registered", vec![])), "an rpc outside the list ran");
    assert!(refused(rpc(&other, n, "whereis", vec![Term::atom("echo")])));
    // The demo services are registered names, so `names` governs them.
    assert_eq!(sink_answer(&other, n, T), Some(Term::Tuple(vec![Term::atom("count"), Term::from(0u64)])));
    assert!(!echo_answers(&other, n, Duration::from_millis(1500)), "echo is not in the names list");
    // net_kernel stays reachable: pings still work.
    let node = other.node.clone();
    let target = n.to_string();
    assert!(other.run(T, async move { node.ping(&target).await }));

    // The peer with an entry of its own may do what it allows.
    let registered = rpc(&trusted, n, "registered", vec![]).unwrap().to_string();
    assert!(registered.contains("echo") && registered.contains("sink"), "{registered}");
    assert!(echo_answers(&trusted, n, T));

    // The log says the firewall was refusing, and names the peer.
    srv.wait_for_log(&["firewall: refused an rpc call", &other.name()], T);
}

#[test]
fn a_bad_policy_file_stops_serve_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.toml");
    std::fs::write(&policy, "[default]\nspawn = false\n\n[peer.\"admin@x\"]\nspwan = true\n").unwrap();
    let name = format!("{}@localhost", common::unique_name("fwbad"));
    let file = policy.to_str().unwrap();
    let (code, out, err) = beamlink(&["serve", "--sname", &name, "--firewall", file], 1, T);
    assert_ne!(code, 0, "serve started with a bad policy file: {out}");
    assert!(!out.contains("ready"), "{out}");
    assert!(err.contains(&format!("{file} line 5: unknown key `spwan` in [peer.\"admin@x\"]")), "{err}");

    std::fs::write(&policy, "[default]\nrpc = [\"calc\"]\n").unwrap();
    let (code, _, err) = beamlink(&["serve", "--sname", &name, "--firewall", file], 1, T);
    assert_ne!(code, 0);
    assert!(err.contains("line 2: bad rpc entry \"calc\" in [default]"), "{err}");

    let missing = dir.path().join("missing.toml");
    let (code, _, err) = beamlink(&["serve", "--sname", &name, "--firewall", missing.to_str().unwrap()], 1, T);
    assert_ne!(code, 0);
    assert!(err.contains("cannot read the policy file") && err.contains("missing.toml"), "{err}");
}

#[test]
fn sighup_and_a_changed_file_reload_the_policy_and_a_bad_edit_keeps_the_old_one() {
    let epmd = OtpEpmd::start();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[default]\nrpc = [\"erlang:node\"]\nnames = []\n").unwrap();
    let mut srv = Served::start(&epmd, &policy, dir.path());
    let n = srv.node.clone();
    let client = peer("client", &epmd);
    assert!(refused(rpc(&client, &n, "registered", vec![])));
    assert!(!echo_answers(&client, &n, Duration::from_millis(1000)));

    // Edited in place, then SIGHUP: the new rules apply.
    std::fs::write(&policy, "[default]\nrpc = [\"erlang:node\", \"erlang:registered\"]\nnames = [\"echo\"]\n").unwrap();
    srv.hangup();
    common::wait_for("the reload on SIGHUP", T, || (!refused(rpc(&client, &n, "registered", vec![]))).then_some(()));
    assert!(echo_answers(&client, &n, T), "echo was added to the names list");
    srv.wait_for_log(&["firewall policy reloaded", "SIGHUP"], T);

    // A bad edit and SIGHUP: an error naming the line, and the old policy stays.
    std::fs::write(&policy, "[default]\nrpc = [\"erlang:node\"]\nnames = []\ngroup_leaders = false\n").unwrap();
    srv.hangup();
    let line = srv.wait_for_log(&["ERROR", "line 4: unknown key `group_leaders` in [default]"], T);
    assert!(line.contains(policy.to_str().unwrap()) && line.contains("previous firewall policy stays"), "{line}");
    assert!(!refused(rpc(&client, &n, "registered", vec![])), "the bad file took effect");
    assert!(echo_answers(&client, &n, T));

    // A good file renamed over it, with no signal: the poll picks it up.
    replace(&policy, "[default]\nrpc = []\nnames = [\"echo\"]\n");
    common::wait_for("the reload on the file change", T, || refused(rpc(&client, &n, "node", vec![])).then_some(()));
    srv.wait_for_log(&["firewall policy reloaded", "the file changed"], T);
    assert!(echo_answers(&client, &n, T));
    assert!(srv.alive(), "serve died along the way:\n{}", srv.log());
}
