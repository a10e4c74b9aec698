//! Rust-side fixtures: a node on its own runtime (so the test thread can
//! drive a blocking `erl` fixture meanwhile), and `beamlink serve` as a child
//! process.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use beamlink::node::{Node, NodeBuilder};

/// A node running on a runtime of its own.
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// The runtime its tasks run on.
    pub rt: tokio::runtime::Runtime,
}

impl TestNode {
    /// Starts a node configured by `configure` (the name, cookie and EPMD port are set already).
    pub fn start(
        name: &str,
        cookie: &str,
        epmd_port: u16,
        configure: impl FnOnce(NodeBuilder) -> NodeBuilder,
    ) -> TestNode {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let builder = Node::builder(name).cookie(cookie).epmd_port(epmd_port).auto_start_epmd(false);
        let node = rt.block_on(configure(builder).start()).expect("start the Rust node");
        TestNode { node, rt }
    }

    /// A short-name node `PREFIX_<unique>@localhost`.
    pub fn short(prefix: &str, cookie: &str, epmd_port: u16) -> TestNode {
        let name = format!("{}@localhost", super::unique_name(prefix));
        TestNode::start(&name, cookie, epmd_port, |b| b)
    }

    /// Runs a future on the node's runtime, bounded by `timeout`.
    pub fn run<F: std::future::Future>(&self, timeout: Duration, f: F) -> F::Output {
        self.rt.block_on(async move { tokio::time::timeout(timeout, f).await.expect("timed out") })
    }

    /// Waits (at most `limit`) for a Down event for `peer` on `events`,
    /// returning its reason.
    pub fn wait_down(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<beamlink::node::NodeEvent>,
        peer: &str,
        limit: Duration,
    ) -> String {
        self.run(limit, async {
            loop {
                match events.recv().await {
                    Ok(beamlink::node::NodeEvent::Down { node, reason, .. }) if node.as_str() == peer => return reason,
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
        })
    }

    /// The node's name as text.
    pub fn name(&self) -> String {
        self.node.name().to_string()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let node = self.node.clone();
        self.rt.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await;
        });
    }
}

/// `beamlink serve` (or another beamlink command that prints `ready NODE`)
/// running as a child process; killed by pid on drop.
pub struct BeamlinkProcess {
    child: Child,
    /// The node name it printed after `ready `.
    pub node: String,
    /// Lines it printed after the ready line.
    pub lines: Receiver<String>,
}

impl BeamlinkProcess {
    /// Starts `beamlink ARGS...` with `ERL_EPMD_PORT` set and waits (30 s at
    /// most) for its `ready NODE` line.
    pub fn start(args: &[&str], epmd_port: u16) -> BeamlinkProcess {
        BeamlinkProcess::try_start(args, epmd_port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`BeamlinkProcess::start`], but a child that exits (or says nothing)
    /// before its `ready NODE` line is an error rather than a panic: for
    /// callers that retry, such as a restart under a name EPMD may still hold.
    pub fn try_start(args: &[&str], epmd_port: u16) -> Result<BeamlinkProcess, String> {
        let mut command = Command::new(beamlink_exe());
        command.args(args).env("ERL_EPMD_PORT", epmd_port.to_string());
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        BeamlinkProcess::try_spawn(command)
    }

    /// Starts `beamlink ARGS...`, retrying (up to 20 times, 250 ms apart) while
    /// the child exits before it is ready: a node restarted under the name of
    /// one just killed can find EPMD still holding the name for a moment.
    pub fn start_retrying(args: &[&str], epmd_port: u16) -> BeamlinkProcess {
        let mut last = String::new();
        for _ in 0..20 {
            match BeamlinkProcess::try_start(args, epmd_port) {
                Ok(process) => return process,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("{last}");
    }

    /// Starts a prepared `beamlink` command and waits for its `ready NODE` line.
    pub fn spawn(command: Command) -> BeamlinkProcess {
        BeamlinkProcess::try_spawn(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`BeamlinkProcess::spawn`], returning an error instead of panicking.
    pub fn try_spawn(command: Command) -> Result<BeamlinkProcess, String> {
        BeamlinkProcess::try_spawn_logging(command, Stdio::inherit())
    }

    /// As [`BeamlinkProcess::spawn`], with the child's log (stderr) going to `log`.
    pub fn spawn_logging(command: Command, log: std::fs::File) -> BeamlinkProcess {
        BeamlinkProcess::try_spawn_logging(command, Stdio::from(log)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_spawn_logging(mut command: Command, log: Stdio) -> Result<BeamlinkProcess, String> {
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).spawn().expect("start beamlink");
        let lines = super::lines_of(child.stdout.take().expect("stdout"));
        match super::next_line_with(&lines, "ready ", Duration::from_secs(30)) {
            Some(node) => Ok(BeamlinkProcess { child, node: node.trim().to_string(), lines }),
            None => {
                let _ = child.kill();
                let status = child.wait();
                Err(format!("beamlink {args:?} did not print `ready NODE` within 30 s (exit: {status:?})"))
            }
        }
    }

    /// The child's OS pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. "STOP", "CONT", "TERM") to the child, by pid.
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    /// Whether the child has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the child (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the child to exit; returns its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("beamlink did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BeamlinkProcess {
    fn drop(&mut self) {
        // A stopped process must be continued before it can die cleanly. Once
        // reaped its pid may belong to someone else: signal only a live child.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").arg("-CONT").arg(self.child.id().to_string()).status();
        }
        self.kill();
    }
}

/// Runs `beamlink ARGS...` to completion (bounded) with `ERL_EPMD_PORT` set;
/// returns (exit code, stdout, stderr).
pub fn beamlink(args: &[&str], epmd_port: u16, timeout: Duration) -> (i32, String, String) {
    beamlink_with_env(args, &[], epmd_port, timeout)
}

/// As [`beamlink`], with these environment variables set too.
pub fn beamlink_with_env(
    args: &[&str],
    env: &[(&str, &std::path::Path)],
    epmd_port: u16,
    timeout: Duration,
) -> (i32, String, String) {
    let mut child = Command::new(beamlink_exe())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start beamlink");
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("beamlink {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `beamlink` binary cargo built for these tests (needs the `cli` feature).
pub fn beamlink_exe() -> &'static str {
    match option_env!("CARGO_BIN_EXE_beamlink") {
        Some(path) => path,
        None => panic!("the beamlink binary is built only with the `cli` feature"),
    }
}
