//! Shared fixtures for the integration tests: a private OTP `epmd`, an `erl`
//! node driven line by line, and helpers for free ports and bounded waits.
//!
//! Every process a fixture starts is stopped by pid when the fixture drops.
//! Tests that need Erlang fail with a clear message when `erl` is missing,
//! unless `BEAMLINK_SKIP_ERLANG=1` is set (then [`erlang_or_skip`] returns false).

#![allow(dead_code)]

pub mod erl;
pub mod hostile;
pub mod rust;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True when `erl` can be run. Panics with install advice when it cannot,
/// unless `BEAMLINK_SKIP_ERLANG=1`, in which case the caller should return early.
pub fn erlang_or_skip() -> bool {
    let found = std::process::Command::new("erl")
        .args(["-noshell", "-eval", "halt()."])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("BEAMLINK_SKIP_ERLANG").as_deref() == Ok("1") {
        skip("", "erl not found and BEAMLINK_SKIP_ERLANG=1");
        return false;
    }
    panic!("this test needs Erlang/OTP: install it (apt-get install -y erlang-nox) or set BEAMLINK_SKIP_ERLANG=1");
}

/// The environment variable naming the file [`skip`] reports to.
pub const REPORT_ENV: &str = "BEAMLINK_TEST_REPORT";

/// Says that `what` (a part of the running test; empty for all of it) is
/// skipped, and why: on stderr as `skipping WHAT: REASON`, and, when
/// [`REPORT_ENV`] names a file, as one line `BINARY::TEST: WHAT: REASON`
/// appended to it, for scripts/test to list at the end of the run. A report
/// that cannot be written is left out; the skip is still printed.
/// True when `elixir` runs; otherwise says why the test skips.
pub fn elixir_or_skip() -> bool {
    // An Elixir whose beams the `erl` on PATH cannot load dies at boot: no crash dump.
    let ok = std::process::Command::new("elixir")
        .arg("--version")
        .env("ERL_CRASH_DUMP_SECONDS", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("", "`elixir` is missing or does not run; install elixir to run the Elixir tests");
    }
    ok
}

pub fn skip(what: &str, reason: &str) {
    let (part, detail) = if what.is_empty() {
        (String::new(), reason.to_string())
    } else {
        (format!(" {what}"), format!("{what}: {reason}"))
    };
    eprintln!("skipping{part}: {reason}");
    let Some(path) = std::env::var_os(REPORT_ENV) else { return };
    let line = format!("{}: {detail}", running_test()).replace('\n', " ") + "\n";
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        // One write, so that lines from tests running at once do not interleave.
        let _ = std::io::Write::write_all(&mut file, line.as_bytes());
    }
}

/// `BINARY::TEST` for the test running on this thread: the test binary's
/// name without the hash cargo adds, and the name the harness gives the
/// test's thread.
fn running_test() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let binary = match stem.as_deref().and_then(|s| s.rsplit_once('-')) {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
        _ => stem.unwrap_or_else(|| "?".into()),
    };
    format!("{binary}::{}", std::thread::current().name().unwrap_or("?"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago. It is drawn below
/// Linux's ephemeral range (32768 and up), so the outgoing connections other
/// tests make all the time cannot take it before the caller binds it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_add(seed);
        let port = 20_000 + (n % 12_000) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Runs `ip ARGS...` (iproute2); the error carries its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// A node-name prefix unique to this test process and call: `prefix_<pid>_<n>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    try_wait_for(timeout, check).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Polls `check` every 20 ms until it returns `Some`; `None` after `timeout`.
pub fn try_wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Samples `sample` every 20 ms until it has returned the same value for
/// `quiet`, and returns that value: for counts another thread or process is
/// still driving, read once they have stopped. Panics with `what` and the
/// last value if they are still moving after `limit`.
pub fn wait_still<T: PartialEq + std::fmt::Debug>(
    what: &str,
    limit: Duration,
    quiet: Duration,
    mut sample: impl FnMut() -> T,
) -> T {
    let deadline = Instant::now() + limit;
    let mut last = sample();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = sample();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return now;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}: still changing, last {last:?}");
        }
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_for(&format!("a listener on port {port}"), timeout, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok().map(|_| ())
    });
}

/// One TCP socket of this network namespace, as /proc/net/tcp{,6} list it.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpSocket {
    pub local_port: u16,
    pub remote_port: u16,
    /// The kernel's state number: 1 ESTABLISHED, 8 CLOSE_WAIT, 10 LISTEN...
    pub state: u8,
    /// Bytes sent and not yet acknowledged by the other end.
    pub tx_queue: u64,
    /// Bytes received and not yet read by the socket's owner.
    pub rx_queue: u64,
    /// Zero while an incoming connection waits in the listener's queue,
    /// before its owner has accepted it.
    pub inode: u64,
}

/// TCP state numbers of [`TcpSocket::state`].
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE_WAIT: u8 = 8;

/// The TCP sockets of this network namespace, IPv4 (/proc/net/tcp) and
/// IPv6 (/proc/net/tcp6, where a dual-stack listener's IPv4 peers show up).
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let mut table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    // Without IPv6 there is no tcp6 table, and no socket to miss.
    if let Ok(v6) = std::fs::read_to_string("/proc/net/tcp6") {
        table.extend(v6.lines().skip(1).flat_map(|line| ["\n", line]));
    }
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let port = |addr: &str| addr.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tx, rx) = f.get(4)?.split_once(':')?;
            Some(TcpSocket {
                local_port: port(f.get(1)?)?,
                remote_port: port(f.get(2)?)?,
                state: hex(f.get(3)?)? as u8,
                tx_queue: hex(tx)?,
                rx_queue: hex(rx)?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// A small xorshift64 generator: the same seed gives the same sequence, so a
/// randomized schedule can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; zero is made odd).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `command` to completion with stdin closed and its output captured,
/// killing it by pid (and panicking with `what`) if it has not exited
/// within `timeout`.
pub fn output_within(what: &str, command: &mut std::process::Command, timeout: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Forwards each line `output` prints to the returned channel, from a
/// thread of its own, until it closes (a child's piped stdout, typically).
pub fn lines_of(output: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The rest of the next line from `lines` that starts with `prefix` (other
/// lines are skipped), or `None` when none comes within `timeout`.
pub fn next_line_with(lines: &std::sync::mpsc::Receiver<String>, prefix: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Some(rest.to_string());
        }
    }
}
