//! `beamlink epmd --daemon`, and the EPMD `beamlink serve` starts when none
//! answers: a process of its own, in a session of its own, that outlives
//! whatever started it, writes nothing to the terminal, and stops with
//! `beamlink epmd --kill` only once no names are registered.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::erl::ErlNode;
use common::rust::{BeamlinkProcess, beamlink, beamlink_exe};

const T: Duration = Duration::from_secs(30);

/// The detached EPMD is no child of the test: it is known by its pid, and
/// killed by that pid on drop if it still runs.
struct Detached(u32);

impl Detached {
    fn is_running(&self) -> bool {
        // A zombie (state Z) has stopped; it waits for a parent that is gone or busy.
        std::fs::read_to_string(format!("/proc/{}/stat", self.0))
            .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
    }

    /// The session it runs in (field 6 of /proc/PID/stat).
    fn session(&self) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(3)?.parse().ok()
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if self.is_running() {
            // SAFETY: a signal to the one process this test started.
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
}

/// The pid a log line names as `pid=N`, on the first line with `needle`.
fn logged_pid(log: &Path, needle: &str) -> Option<u32> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains(needle))?;
    let rest = &line[line.find("pid=")? + 4..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn names(port: u16) -> String {
    let (code, out, err) = beamlink(&["names", "--port", &port.to_string()], port, T);
    assert_eq!(code, 0, "beamlink names: {err}");
    out
}

#[test]
fn the_daemon_detaches_stays_silent_and_stops_with_kill_only_once_no_names_are_registered() {
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("epmd.log");
    let out = common::output_within(
        "beamlink epmd --daemon",
        Command::new(beamlink_exe()).args(["epmd", "--daemon", "--port", &port.to_string(), "--log"]).arg(&log),
        T,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "it wrote to the terminal: {out:?}");
    let daemon = Detached(common::wait_for("the daemon's pid in its log", T, || logged_pid(&log, "epmd listening")));
    assert!(daemon.is_running(), "the launcher returned and the daemon runs on");
    assert_eq!(daemon.session(), Some(daemon.0), "it leads a session of its own");
    assert!(names(port).contains(&format!("epmd: up and running on port {port}")), "{}", names(port));

    if common::erlang_or_skip() {
        let alive = common::unique_name("reg");
        let erl = ErlNode::start_short(&alive, "k", port);
        assert!(names(port).contains(&format!("name {alive} at port")));
        let (code, _, err) = beamlink(&["epmd", "--kill", "--port", &port.to_string()], port, T);
        assert_eq!(code, 1, "refused while {alive} is registered: {err}");
        assert!(err.contains("Killing not allowed - living nodes in database."), "{err}");
        assert!(daemon.is_running());
        drop(erl);
        common::wait_for("the name to go", T, || (!names(port).contains(&alive)).then_some(()));
    }
    let (code, out, err) = beamlink(&["epmd", "--kill", "--port", &port.to_string()], port, T);
    assert_eq!((code, out.trim()), (0, "Killed"), "{err}");
    common::wait_for("the daemon to stop", T, || (!daemon.is_running()).then_some(()));
}

#[test]
fn erl_nodes_registered_with_the_epmd_serve_started_are_still_found_after_serve_is_killed() {
    if !common::erlang_or_skip() {
        return;
    }
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let name = format!("{}@localhost", common::unique_name("first"));
    let mut command = Command::new(beamlink_exe());
    command
        .args(["serve", "--sname", &name, "--cookie", "k"])
        .env("ERL_EPMD_PORT", port.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("RUST_LOG", "info");
    let mut serve = BeamlinkProcess::spawn_logging(command, std::fs::File::create(&log).unwrap());
    let daemon = Detached(logged_pid(&log, "started a detached one").unwrap_or_else(|| {
        panic!("serve did not log the EPMD it started: {}", std::fs::read_to_string(&log).unwrap_or_default())
    }));
    let (a, b) = (common::unique_name("ea"), common::unique_name("eb"));
    let mut erl_a = ErlNode::start_short(&a, "k", port);
    let _erl_b = ErlNode::start_short(&b, "k", port);
    assert_eq!(erl_a.eval(&format!("net_adm:ping('{b}@localhost')")), "pong");

    serve.signal("KILL");
    serve.wait_exit(T);
    assert!(daemon.is_running(), "the EPMD outlived the node that started it");
    let listing = names(port);
    assert!(
        listing.contains(&format!("name {a} at port")) && listing.contains(&format!("name {b} at port")),
        "{listing}"
    );
    // A newcomer finds both through it.
    for node in [&a, &b] {
        let (code, out, err) = beamlink(&["ping", &format!("{node}@localhost"), "--cookie", "k"], port, T);
        assert_eq!((code, out.trim()), (0, "pong"), "{err}");
    }
    let mut erl_c = ErlNode::start_short(&common::unique_name("ec"), "k", port);
    assert_eq!(erl_c.eval(&format!("net_adm:ping('{a}@localhost')")), "pong");
}
