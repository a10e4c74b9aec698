//! `beamlink bench`: a load generator for the `sink` and `echo` services that
//! every `beamlink serve` node runs (and that `bench/beamlink_bench.erl`
//! registers on an `erl` node), plus the baselines `bench/run` compares with.
//!
//! Each mode prints its result as the LAST line of stdout, in the same
//! format as the Erlang load generator:
//!
//! ```text
//! throughput size=S count=N msgs_per_s=X mb_per_s=Y
//! roundtrip count=N p50_us=X p99_us=Y
//! setup count=N p50_ms=X p99_ms=Y
//! raw_roundtrip count=N p50_us=X p99_us=Y
//! spawn_idle count=N rss_before_kib=A rss_after_kib=B bytes_per_process=X
//! idle_conns count=N rss_before_kib=A rss_after_kib=B bytes_per_conn=X
//! ```
//!
//! Lines before it give the CPU seconds of the timed part (`cpu client_s=..
//! server_s=..`, the server's from `/proc/PID/stat` when `--server-pid` is
//! given) and, over TLS, the negotiated protocol and suite (`tls ...`).

use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use beamlink::node::{Node, hostname};
use beamlink::proto::NodeName;
use beamlink::term::Term;
use clap::{Args, ValueEnum};

use crate::node_args::{CookieArgs, NameArgs, one_shot_name, parse_node, runtime};

/// What `beamlink bench` measures.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Messages of --size bytes to `{sink, NODE}` as fast as back-pressure allows.
    Throughput,
    /// Sequential `{self(), I}` round trips through `{echo, NODE}`.
    Roundtrip,
    /// Fresh connection + handshake (+ TLS) + one ping reply, repeated.
    Setup,
    /// Baseline without NODE: a blocking TCP ping-pong of 64-byte packets between two threads.
    RawRoundtrip,
    /// Memory without NODE: resident memory per idle process (--count processes waiting in receive).
    SpawnIdle,
    /// Memory of NODE (give --server-pid): resident memory per idle hidden connection (--count nodes).
    IdleConns,
}

/// Options of `beamlink bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The node to drive (`name@host`); not needed for raw-roundtrip and spawn-idle.
    node: Option<String>,
    /// What to measure.
    #[arg(long, value_enum, default_value = "throughput")]
    mode: Mode,
    /// Payload bytes per message (throughput).
    #[arg(long, default_value_t = 16, value_name = "BYTES")]
    size: usize,
    /// Messages, rounds, processes or connections [default: 10000 throughput and round trips,
    /// 100 set-ups, 100000 idle processes, 50 idle connections]. With --seconds: the most messages to send.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Throughput: pick the count so the timed part runs about this long, from the rate seen in the warm-up.
    #[arg(long, value_name = "SECONDS")]
    seconds: Option<f64>,
    /// Also report the CPU time of this process (the node under test) and, for idle-conns, measure its memory.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    #[command(flatten)]
    cookie: CookieArgs,
    #[command(flatten)]
    name: NameArgs,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: crate::node_args::TlsArgs,
    /// How long to wait for a connection or an answer, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
}

/// How long the throughput warm-up sends before the clock starts...
const WARMUP_TIME: Duration = Duration::from_millis(300);
/// ...and at most how many payload bytes: a send may return before its
/// message is written, so time alone does not bound what is in flight.
const WARMUP_BYTES: u64 = 256 << 20;
/// Round trips before the clock starts, in round-trip modes.
const WARMUP_ROUNDS: u64 = 1000;
/// Bytes per packet of the raw TCP ping-pong.
const RAW_PACKET: usize = 64;
/// Clock ticks per second in `/proc/PID/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Runs `beamlink bench`; sets up its own logging (errors to stderr, and a
/// tally of the TLS handshakes the transport reports).
pub fn run(args: BenchArgs) -> ExitCode {
    let tally = TlsTally::default();
    init_logging(tally.clone());
    let outcome = match args.mode {
        Mode::RawRoundtrip => raw_roundtrip(args.count.unwrap_or(20_000)),
        _ => match runtime() {
            // The load runs as a task on the runtime's workers, where the
            // connection's tasks run too (as a program's processes would), not
            // on the thread that waits for it.
            Ok(rt) => {
                let tally = tally.clone();
                let load = rt.spawn(async move { drive(&args, &tally).await });
                rt.block_on(load).unwrap_or_else(|e| Err(format!("the load generator failed: {e}")))
            }
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(last_line) => {
            if let Some(line) = tally.summary() {
                println!("{line}");
            }
            println!("{last_line}");
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn drive(args: &BenchArgs, tally: &TlsTally) -> Result<String, String> {
    if args.mode == Mode::SpawnIdle {
        return spawn_idle(args).await;
    }
    let target = parse_node(args.node.as_deref().ok_or("give the NODE to drive")?)?;
    let node = client_node(args, &target, None).await?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let outcome = match args.mode {
        Mode::Throughput => throughput(&node, target.as_str(), args, timeout).await,
        Mode::Roundtrip => roundtrip(&node, target.as_str(), args.count.unwrap_or(10_000), args, timeout).await,
        Mode::Setup => setup(&node, target.as_str(), args.count.unwrap_or(100), args, tally, timeout).await,
        Mode::IdleConns => idle_conns(&node, &target, args, timeout).await,
        Mode::RawRoundtrip | Mode::SpawnIdle => unreachable!("handled above"),
    };
    node.shutdown().await;
    outcome
}

/// The TLS transport the options ask for, with session resumption off (every
/// connection a full handshake) and no certificate-file polling.
#[cfg(feature = "tls")]
fn tls_transport(args: &BenchArgs) -> Result<Option<beamlink::transport::tls::TlsTransport>, String> {
    use beamlink::transport::tls::TlsTransport;
    let Some(tls) = args.tls.transport()? else { return Ok(None) };
    let config = tls.config().clone().session_resumption(false).reload_interval(None);
    TlsTransport::new(config).map(Some).map_err(|e| e.to_string())
}

/// A hidden, non-listening node that dials `target`: named by --sname/--name,
/// else by its TLS certificate, else `bench_<pid>_<n>@host`; `index` makes a
/// distinct name per node for idle-conns.
async fn client_node(args: &BenchArgs, target: &NodeName, index: Option<u64>) -> Result<Node, String> {
    #[cfg(feature = "tls")]
    let tls = tls_transport(args)?;
    let given = if index.is_some() { None } else { args.name.node_name()? };
    #[cfg(feature = "tls")]
    let given = match (given, &tls, index) {
        (None, Some(tls), None) => Some(crate::node_args::certificate_node_name(tls, target)?),
        (given, ..) => given,
    };
    let name = match (given, index) {
        (Some(name), _) => name,
        (None, Some(i)) => one_shot_name(&format!("idle{i}"), target)?,
        (None, None) => one_shot_name("bench", target)?,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let builder = Node::builder(name.as_str()).no_listen().hidden(true).connect_timeout(timeout).call_timeout(timeout);
    #[cfg(feature = "tls")]
    let builder = match tls {
        Some(tls) => builder.transport(tls),
        None => builder,
    };
    args.cookie.apply(builder).start().await.map_err(|e| e.to_string())
}

async fn throughput(node: &Node, target: &str, args: &BenchArgs, timeout: Duration) -> Result<String, String> {
    node.connect(target).await.map_err(|e| format!("{target}: {e}"))?;
    let mut p = node.process();
    let payload = Term::binary(vec![0x5a; args.size]);
    let cap = args.count.unwrap_or(if args.seconds.is_some() { u64::MAX } else { 10_000 });

    // Warm-up: the connection, the allocators and the caches, then a `done`
    // round that resets the sink. It also gives the rate --seconds needs.
    let warm_started = Instant::now();
    let mut warm = 0u64;
    let warm_cap = cap.min((WARMUP_BYTES / args.size.max(1) as u64).max(1));
    while warm < warm_cap && (warm == 0 || warm_started.elapsed() < WARMUP_TIME) {
        send(&p, "sink", target, payload.clone()).await?;
        warm += 1;
    }
    let counted = done_round(&mut p, target, timeout).await?;
    if counted != warm {
        return Err(format!("the sink on {target} counted {counted} warm-up messages, {warm} were sent"));
    }
    let warm_rate = warm as f64 / warm_started.elapsed().as_secs_f64().max(1e-9);
    let count = match args.seconds {
        Some(seconds) => ((warm_rate * seconds).ceil() as u64).clamp(1, cap),
        None => cap,
    };

    let cpu = CpuClock::start(args.server_pid);
    let started = Instant::now();
    for _ in 0..count {
        send(&p, "sink", target, payload.clone()).await?;
    }
    let counted = done_round(&mut p, target, timeout).await?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    println!("{}", cpu.stop());
    if counted != count {
        return Err(format!("the sink on {target} counted {counted} messages, {count} were sent"));
    }
    let msgs_per_s = count as f64 / elapsed;
    let mb_per_s = (count as f64 * args.size as f64) / elapsed / 1e6;
    Ok(format!("throughput size={} count={count} msgs_per_s={msgs_per_s:.0} mb_per_s={mb_per_s:.1}", args.size))
}

async fn send(p: &beamlink::node::Process, name: &str, target: &str, msg: Term) -> Result<(), String> {
    p.send_named(name, target, msg).await.map_err(|e| format!("send to {{{name}, {target}}}: {e}"))
}

/// Sends `{done, self()}` to the sink and returns the N of its `{count, N}`.
async fn done_round(p: &mut beamlink::node::Process, target: &str, timeout: Duration) -> Result<u64, String> {
    let done = Term::Tuple(vec![Term::atom("done"), Term::Pid(p.pid().clone())]);
    send(p, "sink", target, done).await?;
    let reply = p
        .receive(Some(timeout), |m| match m.as_tuple() {
            Some([tag, n]) if tag.is_atom("count") => n.as_u64(),
            _ => None,
        })
        .await
        .map_err(|e| e.to_string())?;
    reply.ok_or_else(|| format!("no {{count, N}} from the sink on {target} within {timeout:?}"))
}

async fn roundtrip(
    node: &Node,
    target: &str,
    count: u64,
    args: &BenchArgs,
    timeout: Duration,
) -> Result<String, String> {
    node.connect(target).await.map_err(|e| format!("{target}: {e}"))?;
    let mut p = node.process();
    let me = Term::Pid(p.pid().clone());
    let mut one = async |i: u64| -> Result<Duration, String> {
        let started = Instant::now();
        send(&p, "echo", target, Term::Tuple(vec![me.clone(), Term::from(i)])).await?;
        match p.recv_timeout(timeout).await {
            Ok(Some(reply)) if reply.as_u64() == Some(i) => Ok(started.elapsed()),
            Ok(Some(other)) => Err(format!("echo on {target} answered {other} to round {i}")),
            Ok(None) => Err(format!("no answer from echo on {target} within {timeout:?}")),
            Err(e) => Err(e.to_string()),
        }
    };
    for i in 0..WARMUP_ROUNDS {
        one(i).await?;
    }
    let cpu = CpuClock::start(args.server_pid);
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..count {
        samples.push(one(i).await?.as_secs_f64() * 1e6);
    }
    println!("{}", cpu.stop());
    let (p50, p99) = percentiles(&mut samples);
    Ok(format!("roundtrip count={count} p50_us={p50:.1} p99_us={p99:.1}"))
}

async fn setup(
    node: &Node,
    target: &str,
    count: u64,
    args: &BenchArgs,
    tally: &TlsTally,
    timeout: Duration,
) -> Result<String, String> {
    // One connection before the clock starts (certificates read, code paths
    // warm); its time is reported apart.
    let first = connect_once(node, target, timeout).await?;
    println!("setup_first ms={:.3}", first.as_secs_f64() * 1e3);
    tally.reset();
    let cpu = CpuClock::start(args.server_pid);
    let mut samples = Vec::with_capacity(count as usize);
    for _ in 0..count {
        samples.push(connect_once(node, target, timeout).await?.as_secs_f64() * 1e3);
    }
    println!("{}", cpu.stop());
    if let Some(resumed) = tally.resumed() {
        return Err(format!("{resumed} TLS handshakes resumed a session; set-up must run full handshakes"));
    }
    let (p50, p99) = percentiles(&mut samples);
    Ok(format!("setup count={count} p50_ms={p50:.3} p99_ms={p99:.3}"))
}

/// Connect + handshake + one ping reply, timed; then disconnect and wait (not
/// timed) until the connection is gone on this side and, a moment later, on
/// the peer's.
async fn connect_once(node: &Node, target: &str, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    node.ping_detailed(target).await.map_err(|e| format!("ping {target}: {e}"))?;
    let took = started.elapsed();
    node.disconnect(target);
    let deadline = Instant::now() + timeout;
    while node.connected_nodes().iter().any(|n| n.as_str() == target) {
        if Instant::now() > deadline {
            return Err(format!("the connection to {target} did not close within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(took)
}

/// A blocking TCP ping-pong between two threads of this process over
/// 127.0.0.1, `TCP_NODELAY`, 64-byte packets: what one round trip costs
/// this machine with no distribution protocol at all.
fn raw_roundtrip(count: u64) -> Result<String, String> {
    fn io(what: &'static str) -> impl Fn(std::io::Error) -> String {
        move |e| format!("raw ping-pong: {what}: {e}")
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("bind"))?;
    let addr = listener.local_addr().map_err(io("local address"))?;
    let echo = std::thread::spawn(move || -> Result<(), String> {
        let (mut s, _) = listener.accept().map_err(io("accept"))?;
        s.set_nodelay(true).map_err(io("nodelay"))?;
        let mut buf = [0u8; RAW_PACKET];
        loop {
            match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf).map_err(io("echo"))?,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io("read")(e)),
            }
        }
    });
    let mut s = TcpStream::connect(addr).map_err(io("connect"))?;
    s.set_nodelay(true).map_err(io("nodelay"))?;
    let packet = [0x5au8; RAW_PACKET];
    let mut buf = [0u8; RAW_PACKET];
    let mut one = || -> Result<f64, String> {
        let started = Instant::now();
        s.write_all(&packet).map_err(io("write"))?;
        s.read_exact(&mut buf).map_err(io("read"))?;
        Ok(started.elapsed().as_secs_f64() * 1e6)
    };
    for _ in 0..WARMUP_ROUNDS {
        one()?;
    }
    let cpu = CpuClock::start(None);
    let mut samples = Vec::with_capacity(count as usize);
    for _ in 0..count {
        samples.push(one()?);
    }
    println!("{}", cpu.stop());
    drop(s);
    echo.join().map_err(|_| "raw ping-pong: the echo thread panicked".to_string())??;
    let (p50, p99) = percentiles(&mut samples);
    Ok(format!("raw_roundtrip count={count} p50_us={p50:.1} p99_us={p99:.1}"))
}

/// Resident memory per idle process: a node of its own in this process,
/// `count` processes that wait in receive, the resident-set growth divided by `count`.
async fn spawn_idle(args: &BenchArgs) -> Result<String, String> {
    let count = args.count.unwrap_or(100_000);
    let name = format!("spawn_idle_{}@{}", std::process::id(), hostname::short_hostname());
    let builder = Node::builder(&name).no_listen().hidden(true).cookie("spawn_idle");
    let node = builder.start().await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(None)?;
    let base = node.process_count();
    for _ in 0..count {
        node.spawn(|mut p| async move {
            let _ = p.recv().await;
        });
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
    while node.process_count() < base + count as usize {
        if Instant::now() > deadline {
            return Err(format!("only {} of {count} processes started", node.process_count() - base));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let every process run to its first receive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(None)?;
    node.shutdown().await;
    let per = after.saturating_sub(before) as f64 * 1024.0 / count.max(1) as f64;
    Ok(format!("spawn_idle count={count} rss_before_kib={before} rss_after_kib={after} bytes_per_process={per:.0}"))
}

/// Resident memory per idle connection of the node under test: `count`
/// hidden nodes in this process connect to it and stay idle; the growth of
/// its resident set divided by `count`.
async fn idle_conns(node: &Node, target: &NodeName, args: &BenchArgs, timeout: Duration) -> Result<String, String> {
    let pid = args.server_pid.ok_or("idle-conns measures the node under test: give --server-pid PID")?;
    let count = args.count.unwrap_or(50);
    node.ping_detailed(target.as_str()).await.map_err(|e| format!("ping {target}: {e}"))?;
    node.disconnect(target.as_str());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(Some(pid))?;
    let mut clients = Vec::with_capacity(count as usize);
    let mut outcome = Ok(());
    for i in 0..count {
        match client_node(args, target, Some(i)).await {
            Ok(client) => {
                let pinged = client.ping_detailed(target.as_str()).await;
                clients.push(client);
                if let Err(e) = pinged {
                    outcome = Err(format!("idle connection {i} to {target}: {e}"));
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let measured = match outcome {
        Ok(()) => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_kib(Some(pid))
        }
        Err(e) => Err(e),
    };
    for client in &clients {
        let _ = tokio::time::timeout(timeout, client.shutdown()).await;
    }
    let after = measured?;
    let per = after.saturating_sub(before) as f64 * 1024.0 / count.max(1) as f64;
    Ok(format!("idle_conns count={count} rss_before_kib={before} rss_after_kib={after} bytes_per_conn={per:.0}"))
}

/// The 50th and 99th percentiles (nearest rank) of `samples`.
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let n = samples.len();
        let index = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
        samples.get(index).copied().unwrap_or(0.0)
    };
    (rank(50.0), rank(99.0))
}

/// The resident set of a process (this one for `None`), in KiB.
fn rss_kib(pid: Option<u32>) -> Result<u64, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{path}: no VmRSS line"))
}

/// User + system CPU seconds of a process (this one for `None`), from `/proc/PID/stat`.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses: fields are counted after the last ')'.
    let fields: Vec<&str> = text.get(text.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / USER_HZ)
}

/// CPU time of this process and, optionally, of the node under test, over the timed part.
struct CpuClock {
    server: Option<u32>,
    client0: Option<f64>,
    server0: Option<f64>,
}

impl CpuClock {
    fn start(server: Option<u32>) -> CpuClock {
        CpuClock { server, client0: cpu_seconds(None), server0: server.and_then(|p| cpu_seconds(Some(p))) }
    }

    /// The line `cpu client_s=X [server_s=Y]`.
    fn stop(&self) -> String {
        let delta = |before: Option<f64>, now: Option<f64>| match (before, now) {
            (Some(b), Some(n)) => format!("{:.2}", n - b),
            _ => "na".to_string(),
        };
        let mut line = format!("cpu client_s={}", delta(self.client0, cpu_seconds(None)));
        if let Some(pid) = self.server {
            line.push_str(&format!(" server_s={}", delta(self.server0, cpu_seconds(Some(pid)))));
        }
        line
    }
}

/// What the TLS transport reported about the handshakes this process made:
/// how many were full and how many resumed, and the last version and suite.
#[derive(Clone, Default)]
struct TlsTally(Arc<Mutex<TlsSeen>>);

#[derive(Default)]
struct TlsSeen {
    full: u64,
    resumed: u64,
    version: String,
    suite: String,
}

impl TlsTally {
    fn lock(&self) -> std::sync::MutexGuard<'_, TlsSeen> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reset(&self) {
        let mut seen = self.lock();
        seen.full = 0;
        seen.resumed = 0;
    }

    fn resumed(&self) -> Option<u64> {
        let seen = self.lock();
        (seen.resumed > 0).then_some(seen.resumed)
    }

    /// `tls version=.. suite=.. full=N resumed=M`, when TLS was used.
    fn summary(&self) -> Option<String> {
        let seen = self.lock();
        (seen.full + seen.resumed > 0).then(|| {
            format!("tls version={} suite={} full={} resumed={}", seen.version, seen.suite, seen.full, seen.resumed)
        })
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TlsTally {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = HandshakeFields::default();
        event.record(&mut fields);
        if fields.message != "TLS connection established" {
            return;
        }
        let mut seen = self.lock();
        if fields.kind == "Resumed" {
            seen.resumed += 1;
        } else {
            seen.full += 1;
        }
        seen.version = fields.version;
        seen.suite = fields.suite;
    }
}

/// The fields of the transport's "TLS connection established" debug event.
#[derive(Default)]
struct HandshakeFields {
    message: String,
    version: String,
    kind: String,
    suite: String,
}

impl tracing::field::Visit for HandshakeFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        let text = format!("{value:?}");
        let text = text.strip_prefix("Some(").and_then(|t| t.strip_suffix(')')).unwrap_or(&text).to_string();
        match field.name() {
            "message" => self.message = text,
            "version" => self.version = text,
            "kind" => self.kind = text,
            "suite" => self.suite = text,
            _ => {}
        }
    }
}

/// Errors (or `RUST_LOG`) to stderr; the transport's handshake reports to the tally.
fn init_logging(tally: TlsTally) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let print = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter);
    let handshakes = tally.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        meta.target().starts_with("beamlink::transport::tls") && *meta.level() <= tracing::Level::DEBUG
    }));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(print).with(handshakes));
}
