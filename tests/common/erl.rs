//! Real Erlang/OTP processes for interop tests: OTP's own `epmd` on a private
//! port, and `erl` nodes that evaluate expressions sent line by line.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use super::free_port;

/// OTP's `epmd`, run in the foreground on a private port and killed by pid on drop.
pub struct OtpEpmd {
    /// The port it listens on (pass it to nodes as `ERL_EPMD_PORT`).
    pub port: u16,
    child: Child,
}

impl OtpEpmd {
    /// Starts `epmd -port P` on a free port and waits until it accepts connections.
    pub fn start() -> OtpEpmd {
        Self::start_with_args(&[])
    }

    /// As [`OtpEpmd::start`], with extra arguments such as `-relaxed_command_check`.
    ///
    /// A free port can be taken by someone else between choosing it and
    /// epmd binding it (other tests open connections all the time), so a
    /// start whose epmd exits, or that something else answers, is retried
    /// on another port.
    pub fn start_with_args(args: &[&str]) -> OtpEpmd {
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("epmd")
                .arg("-port")
                .arg(port.to_string())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start OTP epmd (is erlang installed?)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break; // it could not bind: try another port
                }
                // Ours only if the listening socket is one of its own files:
                // something else may be answering on the port while our epmd
                // has not yet failed to bind it.
                if listening(port) && owns_listener(child.id(), port) {
                    return OtpEpmd { port, child };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start OTP epmd on a free port after 5 attempts");
    }
}

impl OtpEpmd {
    /// Starts `epmd -port PORT` on a given port (e.g. to restart one), waiting
    /// (bounded) until it accepts connections.
    pub fn start_on(port: u16) -> OtpEpmd {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new("epmd")
                .arg("-port")
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start OTP epmd");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(2) {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if listening(port) {
                    return OtpEpmd { port, child };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "could not restart epmd on port {port}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether process `pid` holds a TCP socket listening on `port` (from
/// `/proc/PID/fd` and `/proc/net/tcp{,6}`). Where `/proc` cannot tell, it
/// says yes, leaving the check to `listening`.
fn owns_listener(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return true };
    let sockets: std::collections::HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let wanted = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().filter_map(|table| std::fs::read_to_string(table).ok()).any(|table| {
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1).and_then(|local| local.rsplit(':').next());
            local_port == Some(wanted.as_str())
                && fields.get(3) == Some(&"0A")
                && fields.get(9).is_some_and(|inode| sockets.contains(*inode))
        })
    })
}

fn listening(port: u16) -> bool {
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl Drop for OtpEpmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How an `erl` node is named.
#[derive(Clone, Debug)]
pub enum ErlName {
    /// `-sname NAME@localhost` (short names).
    Short(String),
    /// `-name NAME@127.0.0.1` (long names).
    Long(String),
    /// `-name NAME@::1` (long names over IPv6: add `-proto_dist inet6_tcp`
    /// or `inet6_tls` to the extra arguments).
    Ipv6(String),
}

/// Options for [`ErlNode::start`].
#[derive(Clone, Debug)]
pub struct ErlOptions {
    /// The node's name; the host part is added (`localhost` or `127.0.0.1`).
    pub name: ErlName,
    /// The cookie (`-setcookie`).
    pub cookie: String,
    /// The EPMD port (`ERL_EPMD_PORT`).
    pub epmd_port: u16,
    /// Extra command-line arguments for `erl`.
    pub extra_args: Vec<String>,
}

/// A running `erl` node that evaluates one Erlang expression per line read
/// from its standard input and answers each with a line of its own. Killed by
/// pid on drop.
pub struct ErlNode {
    /// The full node name, e.g. `t_123_0@localhost`.
    pub node: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// The agent each node runs: read a line, evaluate it, print `RESULT <term>` or `ERROR <reason>`.
const AGENT: &str = r#"
Loop = fun Loop() ->
    case io:get_line('') of
        eof -> halt(0);
        {error, _} -> halt(0);
        Line ->
            R = try
                {ok, Toks, _} = erl_scan:string(Line),
                {ok, Exprs} = erl_parse:parse_exprs(Toks),
                {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
                {ok, V}
            catch C:E:S -> {error, {C, E, S}} end,
            case R of
                {ok, V2} -> io:format("RESULT ~ts~n", [io_lib:print(V2, 1, 100000000, -1)]);
                {error, Why} -> io:format("ERROR ~ts~n", [io_lib:print(Why, 1, 100000000, -1)])
            end,
            Loop()
    end
end,
io:format("READY ~s~n", [node()]),
Loop().
"#;

impl ErlNode {
    /// Starts a node and waits (at most 30 s) until its agent is ready.
    pub fn start(opts: ErlOptions) -> ErlNode {
        let (flag, node) = match &opts.name {
            ErlName::Short(n) => ("-sname", format!("{n}@localhost")),
            ErlName::Long(n) => ("-name", format!("{n}@127.0.0.1")),
            ErlName::Ipv6(n) => ("-name", format!("{n}@::1")),
        };
        let mut child = Command::new("erl")
            .args(["-noshell", flag, &node, "-setcookie", &opts.cookie])
            .args(&opts.extra_args)
            .args(["-eval", AGENT])
            .env("ERL_EPMD_PORT", opts.epmd_port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start erl (is erlang installed?)");
        let stdin = child.stdin.take().expect("erl stdin");
        let lines = super::lines_of(child.stdout.take().expect("stdout"));
        let mut erl = ErlNode { node, child, stdin, lines };
        let ready = erl.next_line_matching("READY ", Duration::from_secs(30));
        assert_eq!(ready.trim(), erl.node, "erl reported a different node name");
        erl
    }

    /// A short-name node (`NAME@localhost`) with the given cookie, on the given EPMD port.
    pub fn start_short(name: &str, cookie: &str, epmd_port: u16) -> ErlNode {
        ErlNode::start(ErlOptions {
            name: ErlName::Short(name.to_string()),
            cookie: cookie.to_string(),
            epmd_port,
            extra_args: Vec::new(),
        })
    }

    /// Evaluates `expr` (no trailing full stop needed) and returns the result
    /// printed in Erlang syntax. Panics on an evaluation error or after `timeout`.
    pub fn eval_timeout(&mut self, expr: &str, timeout: Duration) -> String {
        match self.try_eval(expr, timeout) {
            Ok(v) => v,
            Err(e) => panic!("erl {} failed to evaluate `{expr}`: {e}", self.node),
        }
    }

    /// [`ErlNode::eval_timeout`] with a 20-second limit.
    pub fn eval(&mut self, expr: &str) -> String {
        self.eval_timeout(expr, Duration::from_secs(20))
    }

    /// Evaluates `expr`; `Err` carries the Erlang error or a timeout message.
    pub fn try_eval(&mut self, expr: &str, timeout: Duration) -> Result<String, String> {
        let expr = expr.trim().trim_end_matches('.');
        assert!(!expr.contains('\n'), "one line per expression");
        writeln!(self.stdin, "{expr}.").map_err(|e| format!("write to erl: {e}"))?;
        self.stdin.flush().map_err(|e| format!("flush to erl: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = line.strip_prefix("RESULT ") {
                        return Ok(v.to_string());
                    }
                    if let Some(e) = line.strip_prefix("ERROR ") {
                        return Err(e.to_string());
                    }
                    // Anything else is the node's own output; show it and keep reading.
                    eprintln!("[{}] {line}", self.node);
                }
                Err(RecvTimeoutError::Timeout) => return Err(format!("no answer within {timeout:?}")),
                Err(RecvTimeoutError::Disconnected) => return Err("erl exited".to_string()),
            }
        }
    }

    fn next_line_matching(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_string();
                    }
                    eprintln!("[{}] {line}", self.node);
                }
                Err(_) => panic!("erl {} did not print {prefix:?} within {timeout:?}", self.node),
            }
        }
    }

    /// The OS pid of the `erl` process.
    pub fn os_pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the node now (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ErlNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a node with the given name and options but a fresh private OTP
/// EPMD; returns both (drop the node first).
pub fn node_with_private_epmd(name: &str, cookie: &str) -> (OtpEpmd, ErlNode) {
    let epmd = OtpEpmd::start();
    let node = ErlNode::start_short(name, cookie, epmd.port);
    (epmd, node)
}

/// Runs `erl -noshell -eval EXPR` once (no distribution) and returns its
/// standard output. Panics if it fails or takes longer than `timeout`.
pub fn erl_script(expr: &str, timeout: Duration) -> String {
    let mut child = Command::new("erl")
        .args(["-noshell", "-eval", expr, "-s", "init", "stop"])
        .env("ERL_CRASH_DUMP_SECONDS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start erl (is erlang installed?)");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        let _ = tx.send(out);
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => {
            let status = child.wait().expect("wait erl");
            assert!(status.success(), "erl script exited with {status}: {expr}");
            out
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("erl script did not finish within {timeout:?}: {expr}");
        }
    }
}
