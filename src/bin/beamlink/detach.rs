//! Running `beamlink epmd` detached, as `epmd -daemon` runs: a process of
//! its own, in a session of its own, with no terminal. The launcher starts
//! `beamlink epmd --detached ...`, which binds, says `ready PID` (or the
//! error) on its stdout, a pipe to the launcher, and then points stdout at
//! /dev/null; the launcher returns once it has heard.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a launcher waits for the daemon to say it listens.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// What the detached daemon says on its stdout once it listens.
const READY: &str = "ready";

/// Starts `beamlink epmd --detached` with `args` (the options after
/// `epmd`), and waits until it listens; returns the running child.
pub fn launch(args: &[String]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the beamlink executable: {e}"))?;
    let mut command = Command::new(exe);
    command.arg("epmd").arg("--detached").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start a detached EPMD: {e}"))?;
    let stdout = child.stdout.take().ok_or("cannot read the detached EPMD's first line")?;
    let (said, heard) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = said.send(line);
    });
    let line = match heard.recv_timeout(READY_WITHIN) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the detached EPMD did not say it listens within {READY_WITHIN:?}"));
        }
    };
    match line.trim().split_once(' ') {
        Some((READY, _pid)) => Ok(child),
        _ => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            let said = line.trim().strip_prefix("error: ").unwrap_or(line.trim()).to_string();
            Err(if said.is_empty() { format!("the detached EPMD exited ({status})") } else { said })
        }
    }
}

/// In the detached daemon: tells the launcher it listens, then stops
/// writing anywhere a terminal could see.
pub fn report_ready() {
    println!("{READY} {}", std::process::id());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    silence_stdout();
}

/// In the detached daemon: tells the launcher why it could not start.
pub fn report_error(e: &dyn std::fmt::Display) {
    println!("error: {e}");
}

/// Points stdout at /dev/null.
fn silence_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto fd 1 with a valid open descriptor.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}
