//! Network partitions between two nodes in separate Linux network
//! namespaces made by the test (a veth pair between them): both sides see the
//! other go down within the tick time, links fire `noconnection`, and after
//! the link heals the next send reconnects.
//!
//! Numbered messages go from A to B's `echo` and back before the cut, while
//! the link is down, and after it heals: none is seen twice and their order
//! is kept (those sent into the dead connection are lost, the others arrive).
//!
//! Node A runs this test binary again inside its namespace (the
//! `partition_node_a` entry point below, selected by an environment
//! variable), so it can link and monitor; node B is `beamlink serve`. The
//! test is skipped, with a printed reason, where namespaces cannot be made
//! (no root, no `ip`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use beamlink::node::Node;
use beamlink::term::Term;
use common::ip;

const TICKTIME: u64 = 4;
const COOKIE: &str = "partition";
const ROLE_ENV: &str = "BEAMLINK_PARTITION_ROLE";

/// Two namespaces joined by a veth pair; removed on drop.
struct Net {
    a: String,
    b: String,
    veth_a: String,
    veth_b: String,
    addr_a: String,
    addr_b: String,
}

impl Net {
    fn create() -> Result<Net, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = std::process::id() * 4 + n;
        let subnet = 64 + (std::process::id() % 64) * 2 + n % 2;
        let net = Net {
            a: format!("bl_pa_{id}"),
            b: format!("bl_pb_{id}"),
            veth_a: format!("blpa{id}"),
            veth_b: format!("blpb{id}"),
            addr_a: format!("10.231.{subnet}.1"),
            addr_b: format!("10.231.{subnet}.2"),
        };
        let veth_b = net.veth_b.clone();
        ip(&["netns", "add", &net.a])?;
        ip(&["netns", "add", &net.b])?;
        ip(&["link", "add", &net.veth_a, "type", "veth", "peer", "name", &veth_b])?;
        ip(&["link", "set", &net.veth_a, "netns", &net.a])?;
        ip(&["link", "set", &veth_b, "netns", &net.b])?;
        for (ns, dev, addr) in [(&net.a, &net.veth_a, &net.addr_a), (&net.b, &veth_b, &net.addr_b)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Cuts (or heals) the link: with A's end down, nothing passes either way.
    fn set_link(&self, up: bool) {
        ip(&["-n", &self.a, "link", "set", &self.veth_a, if up { "up" } else { "down" }]).expect("toggle the link");
    }

    /// Puts `tc qdisc add dev VETH root ARGS...` on both ends of the link.
    fn qdisc(&self, args: &[&str]) -> Result<(), String> {
        for (ns, dev) in [(&self.a, &self.veth_a), (&self.b, &self.veth_b)] {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root"])
                .args(args)
                .output()
                .map_err(|e| format!("tc: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "tc qdisc add ... {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }

    /// Cuts (or heals) one direction only: A's packets to B are dropped, B's reach A.
    fn set_a_to_b(&self, up: bool) {
        let route = format!("{}/32", self.addr_b);
        let verb = if up { "del" } else { "add" };
        ip(&["-n", &self.a, "route", verb, "blackhole", &route]).expect("toggle the blackhole route");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// A child process whose stdout (or stderr) lines arrive on a channel; killed by pid on drop.
struct Proc {
    child: Child,
    lines: Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command, watch_stderr: bool) -> Proc {
        if watch_stderr {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        }
        let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn");
        let out: Box<dyn std::io::Read + Send> = if watch_stderr {
            Box::new(child.stderr.take().expect("stderr"))
        } else {
            Box::new(child.stdout.take().expect("stdout"))
        };
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    fn wait_line(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no {what} within {limit:?}"),
            }
        }
    }

    /// Every line up to and including the first that `pred` accepts; panics
    /// if none comes within `limit`.
    fn lines_until(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = pred(&line);
                    lines.push(line);
                    if done {
                        return lines;
                    }
                }
                Err(_) => panic!("no {what} within {limit:?}; before it: {lines:?}"),
            }
        }
    }

    fn say(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{command}").expect("write to child");
        stdin.flush().expect("flush");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the test cuts the network between A and B.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// Nothing passes either way.
    Both,
    /// A's packets to B are dropped; B's still reach A.
    OneWay,
}

/// Starts node B (`beamlink serve` in namespace B, with `ticktime`) and
/// waits until it is up; returns its name, its process, and the command that
/// runs node A in namespace A: this test binary's `entry` test, told its
/// role through `role_env`.
fn start_pair(net: &Net, ticktime: u64, entry: &str, role_env: &str) -> (String, Proc, Command) {
    let b_name = format!("b@{}", net.addr_b);
    let mut b_cmd = Command::new("ip");
    b_cmd
        .args(["netns", "exec", &net.b, common::rust::beamlink_exe(), "serve", "--name", &b_name, "--cookie", COOKIE])
        // Its EPMD lives and dies with it, inside the namespace.
        .arg("--no-epmd-daemon")
        .args(["--ticktime", &ticktime.to_string()])
        .env("RUST_LOG", "beamlink=info");
    let b = Proc::spawn(b_cmd, true);
    b.wait_line("B's start", Duration::from_secs(30), |l| l.contains("node started"));

    let exe = std::env::current_exe().expect("test binary");
    let mut a_cmd = Command::new("ip");
    a_cmd
        .args(["netns", "exec", &net.a])
        .arg(&exe)
        .args([entry, "--exact", "--nocapture", "--test-threads", "1"])
        .env(role_env, format!("a@{} {b_name}", net.addr_a));
    (b_name, b, a_cmd)
}

#[test]
fn a_partition_is_noticed_on_both_sides_and_heals_on_the_next_send() {
    partition(Cut::Both);
}

#[test]
fn a_one_way_partition_brings_both_sides_down_too() {
    partition(Cut::OneWay);
}

fn partition(cut: Cut) {
    if std::env::var_os(ROLE_ENV).is_some() || std::env::var_os(SOAK_ENV).is_some() {
        return; // this process is node A; see partition_node_a and soak_node_a
    }
    let net = match Net::create() {
        Ok(net) => net,
        Err(e) => {
            common::skip("the partition test", &format!("cannot make network namespaces ({e})"));
            return;
        }
    };
    let (b_name, b, a_cmd) = start_pair(&net, TICKTIME, "partition_node_a", ROLE_ENV);
    let mut a = Proc::spawn(a_cmd, false);
    a.wait_line("A ready", Duration::from_secs(60), |l| l.contains("ROLE: ready"));

    match cut {
        Cut::Both => net.set_link(false),
        Cut::OneWay => net.set_a_to_b(false),
    }
    let cut_at = Instant::now();
    a.say("cut");
    let a_saw =
        a.wait_line("A noticing the partition", Duration::from_secs(TICKTIME * 4), |l| l.contains("ROLE: down"));
    let b_saw = b.wait_line("B noticing the partition", Duration::from_secs(TICKTIME * 4), |l| {
        l.contains("connection lost") && l.contains("a@")
    });
    let took = cut_at.elapsed();
    assert!(
        a_saw.contains("exit=noconnection") && a_saw.contains("monitor=noconnection") && a_saw.contains("nodedown"),
        "{a_saw}"
    );
    assert!(b_saw.contains("net_ticktime"), "{b_saw}");
    assert!(took <= Duration::from_secs(TICKTIME * 3), "noticed after {took:?}");
    // N5: a route that fails at once makes a dial fail at once, not at the
    // connect timeout, with an error naming the peer.
    let dial = a.wait_line("A's dial during the cut", Duration::from_secs(30), |l| l.contains("ROLE: dial"));
    let ms: u64 = dial
        .split("failed after ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the dial did not fail: {dial}"));
    eprintln!("{dial}");
    assert!(ms < 2000, "a dial over a failed route took {ms} ms: {dial}");
    assert!(dial.contains(&b_name), "{dial}");

    match cut {
        Cut::Both => net.set_link(true),
        Cut::OneWay => net.set_a_to_b(true),
    }
    a.say("reconnect");
    let line =
        a.wait_line("A reconnecting on the next call", Duration::from_secs(60), |l| l.contains("ROLE: reconnected"));
    assert!(line.contains("sink on B is now undefined"), "the linked process on B survived the partition: {line}");
    let line = a.wait_line("A's numbered messages", Duration::from_secs(60), |l| l.contains("ROLE: seq"));
    check_numbered(&line);
}

/// Numbers A sends to B's `echo` (and gets back): before the cut, into the
/// cut (lost with the connection), and after healing.
const BEFORE: std::ops::RangeInclusive<u64> = 1..=100;
const DURING: std::ops::RangeInclusive<u64> = 101..=120;
const AFTER: std::ops::RangeInclusive<u64> = 121..=220;

/// Checks the numbers A got back, in the order it got them (`ROLE: seq N,N,...`):
/// each at most once, in the order sent, and all of those sent while the
/// connection was up.
fn check_numbered(line: &str) {
    let list = line.split("ROLE: seq").nth(1).unwrap_or("").trim();
    let got: Vec<u64> = list.split(',').filter(|n| !n.is_empty()).map(|n| n.parse().expect("a number")).collect();
    for pair in got.windows(2) {
        assert!(pair[0] < pair[1], "{} came after {}: duplicated or reordered ({got:?})", pair[1], pair[0]);
    }
    for n in BEFORE.chain(AFTER) {
        assert!(got.contains(&n), "{n}, sent while the connection was up, never came back ({got:?})");
    }
    let lost = DURING.filter(|n| !got.contains(n)).count();
    eprintln!("{lost} of the {} messages sent into the cut were lost with the connection", DURING.count());
}

#[test]
#[should_panic(expected = "duplicated or reordered")]
fn the_numbered_check_refuses_a_duplicate() {
    check_numbered("ROLE: seq 1,2,2,3");
}

/// Sends `{Me, N}` to `echo` for each N of `numbers`.
async fn send_numbered(
    q: &beamlink::node::Process,
    echo: &beamlink::term::Pid,
    numbers: std::ops::RangeInclusive<u64>,
) {
    let me = Term::Pid(q.pid().clone());
    for n in numbers {
        let _ = q.send(echo, Term::Tuple(vec![me.clone(), Term::from(n)])).await;
    }
}

/// Collects the numbers that come back, in arrival order, for `wait` or until `last` arrives.
async fn collect_numbered(q: &mut beamlink::node::Process, got: &mut Vec<u64>, last: Option<u64>, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match q.recv_timeout(left).await {
            Ok(Some(m)) => {
                let n = m.as_u64().expect("a number");
                got.push(n);
                if Some(n) == last {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// N6: latency, loss and reordering on the link (sch_netem).
const SOAK_ENV: &str = "BEAMLINK_SOAK_ROLE";
/// The tick time of the soak: with 400 ms round trips and 5% loss a lost
/// segment is resent after about 0.6 s, then 1.2, 2.4...; three losses of
/// the same segment in a row still fit, four (about 1 in 160,000) do not.
const SOAK_TICKTIME: u64 = 6;
/// How long numbered messages flow: more than twice the tick time, so that
/// a spurious nodedown would have had time to happen.
const SOAK_SECS: u64 = 15;
/// The impairment, on both ends of the link.
const NETEM: &[&str] = &["netem", "delay", "200ms", "50ms", "loss", "5%", "reorder", "25%"];

#[test]
fn latency_loss_and_reordering_below_the_tick_limit_bring_no_nodedown_and_keep_order() {
    if std::env::var_os(ROLE_ENV).is_some() || std::env::var_os(SOAK_ENV).is_some() {
        return; // this process is node A of another test
    }
    let net = match Net::create() {
        Ok(net) => net,
        Err(e) => {
            common::skip("the netem soak", &format!("cannot make network namespaces ({e})"));
            return;
        }
    };
    if let Err(e) = net.qdisc(NETEM) {
        common::skip("the netem soak", &format!("sch_netem is not available here ({e})"));
        return;
    }
    let (_, b, a_cmd) = start_pair(&net, SOAK_TICKTIME, "soak_node_a", SOAK_ENV);
    let a = Proc::spawn(a_cmd, false);
    a.wait_line("A connected", Duration::from_secs(60), |l| l.contains("ROLE: ready"));
    let line = a.wait_line("A's soak", Duration::from_secs(SOAK_SECS + 60), |l| l.contains("ROLE: soak"));
    assert!(line.contains("nodedown=false"), "a spurious nodedown under latency and loss: {line}");
    let sent: u64 = line
        .split("sent=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("sent=N");
    let got: Vec<u64> = line
        .split("seq=")
        .nth(1)
        .unwrap_or("")
        .trim()
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert!(sent >= SOAK_SECS * 10, "only {sent} messages sent in {SOAK_SECS} s");
    assert_eq!(got, (1..=sent).collect::<Vec<u64>>(), "numbers lost, duplicated or reordered");
    // B's log up to A's marker (see soak_node_a) is everything B logged
    // during the soak, however far its reader thread has got; what B logs
    // once A has gone comes after it.
    let marker: u16 = line
        .split("marker=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("marker=PORT");
    let marker = format!("{}:{marker}", net.addr_a);
    let b_said = b.lines_until("B's log of A's marker connection", Duration::from_secs(30), |l| {
        l.contains("refused an incoming connection") && l.contains(&marker)
    });
    assert!(
        !b_said.iter().any(|l| l.contains("connection lost") || l.contains("connection closed")),
        "B dropped A: {b_said:?}"
    );
}

/// Leaves a line in B's log that comes after everything B logged so far: a
/// connection from A that opens with an empty handshake frame, which B
/// refuses and logs with A's address and port. Returns that port once B has
/// closed the connection.
async fn mark_b_log(b: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (alive, host) = b.split_once('@').expect("B's name");
    let epmd =
        beamlink::epmd::EpmdClient::new(host, beamlink::epmd::default_port()).with_timeout(Duration::from_secs(20));
    let info = epmd.port_please(alive).await.expect("ask B's EPMD").expect("B registered");
    let addr: std::net::IpAddr = host.parse().expect("B's address");
    let mut s = tokio::net::TcpStream::connect((addr, info.port)).await.expect("connect to B");
    let port = s.local_addr().expect("local address").port();
    s.write_all(&[0, 0]).await.expect("an empty handshake frame");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "B kept the marker connection open");
    port
}

/// Node A's part of the soak: connects, then sends `{Me, N}` to B's `echo`
/// every 50 ms for `SOAK_SECS` while collecting the echoes, and reports.
#[test]
fn soak_node_a() {
    let Ok(role) = std::env::var(SOAK_ENV) else { return };
    let mut parts = role.split_whitespace();
    let (me, b) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let ticktime = Duration::from_secs(SOAK_TICKTIME);
        let node = Node::builder(&me).cookie(COOKIE).ticktime(ticktime).start().await.unwrap();
        // The handshake runs under the impairment too: a lost SYN costs a second.
        let mut echo = None;
        for _ in 0..5 {
            if let Ok(Term::Pid(p)) =
                node.rpc_call(&b, "erlang", "whereis", vec![Term::atom("echo")], Duration::from_secs(10)).await
            {
                echo = Some(p);
                break;
            }
        }
        let echo = echo.expect("B's echo");
        let mut q = node.process();
        q.monitor_node(&b);
        println!("ROLE: ready");
        let me = Term::Pid(q.pid().clone());
        let (mut sent, mut got, mut nodedown) = (0u64, Vec::new(), false);
        let start = tokio::time::Instant::now();
        let end = start + Duration::from_secs(SOAK_SECS);
        let mut next_send = start;
        let mut record = |m: Term, got: &mut Vec<u64>| match m.as_u64() {
            Some(n) => got.push(n),
            None => nodedown |= matches!(m.as_tuple(), Some([t, _]) if t.is_atom("nodedown")),
        };
        while tokio::time::Instant::now() < end {
            if tokio::time::Instant::now() >= next_send {
                sent += 1;
                q.send(&echo, Term::Tuple(vec![me.clone(), Term::from(sent)])).await.expect("send");
                next_send += Duration::from_millis(50);
            }
            if let Ok(Some(m)) = q.recv_timeout(next_send.saturating_duration_since(tokio::time::Instant::now())).await
            {
                record(m, &mut got);
            }
        }
        // The last echoes are still on their way.
        let drain_until = tokio::time::Instant::now() + ticktime * 2;
        while got.last() != Some(&sent) && tokio::time::Instant::now() < drain_until {
            if let Ok(Some(m)) =
                q.recv_timeout(drain_until.saturating_duration_since(tokio::time::Instant::now())).await
            {
                record(m, &mut got);
            }
        }
        // Anything duplicated would come after the last one.
        while let Ok(Some(m)) = q.recv_timeout(Duration::from_millis(500)).await {
            record(m, &mut got);
        }
        let marker = mark_b_log(&b).await;
        let list: Vec<String> = got.iter().map(u64::to_string).collect();
        println!("ROLE: soak nodedown={nodedown} sent={sent} marker={marker} seq={}", list.join(","));
    });
}

/// Node A's part, run inside its namespace by the test above.
#[test]
fn partition_node_a() {
    let Ok(role) = std::env::var(ROLE_ENV) else { return };
    let mut parts = role.split_whitespace();
    let (me, b) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let node = Node::builder(&me).cookie(COOKIE).ticktime(Duration::from_secs(TICKTIME)).start().await.unwrap();
        let whereis = |name: &'static str| {
            let (node, b) = (node.clone(), b.clone());
            async move {
                match node.rpc_call(&b, "erlang", "whereis", vec![Term::atom(name)], Duration::from_secs(20)).await {
                    Ok(Term::Pid(p)) => p,
                    other => panic!("whereis({name}) on {b}: {other:?}"),
                }
            }
        };
        let (echo, sink) = (whereis("echo").await, whereis("sink").await);
        let mut p = node.process();
        p.trap_exit(true);
        p.link(&sink);
        let mref = p.monitor(&sink);
        p.monitor_node(&b);
        node.rpc_call(&b, "erlang", "node", vec![], Duration::from_secs(20)).await.unwrap();
        let mut q = node.process();
        let mut got = Vec::new();
        send_numbered(&q, &echo, BEFORE).await;
        collect_numbered(&mut q, &mut got, Some(*BEFORE.end()), Duration::from_secs(20)).await;
        println!("ROLE: ready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "cut");
        // Into the cut: queued on a connection that will not come back.
        send_numbered(&q, &echo, DURING).await;
        let (mut exit, mut monitor, mut nodedown) = (None, None, false);
        while exit.is_none() || monitor.is_none() || !nodedown {
            let msg = p.recv().await.unwrap();
            match msg.as_tuple() {
                Some([t, Term::Pid(from), reason]) if t.is_atom("EXIT") && *from == sink => {
                    exit = Some(reason.to_string())
                }
                Some([t, Term::Ref(r), _, _, reason]) if t.is_atom("DOWN") && **r == mref => {
                    monitor = Some(reason.to_string())
                }
                Some([t, _]) if t.is_atom("nodedown") => nodedown = true,
                _ => {}
            }
        }
        println!("ROLE: down exit={} monitor={} nodedown", exit.unwrap(), monitor.unwrap());
        // While the link is cut the route to B fails at once (a link that is
        // down has no route; a blackhole route refuses to send): so does a dial.
        let started = tokio::time::Instant::now();
        match node.connect(&b).await {
            Ok(()) => println!("ROLE: dial during the cut succeeded"),
            Err(e) => println!("ROLE: dial during the cut failed after {} ms: {e}", started.elapsed().as_millis()),
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "reconnect");
        // The first call after healing sets up a new connection. (A send made
        // while the healed link is still coming up is lost with its connection
        // attempt, as in Erlang, so try a few times.)
        let mut answer = None;
        for attempt in 1..=20 {
            match node.rpc_call(&b, "erlang", "whereis", vec![Term::atom("sink")], Duration::from_secs(2)).await {
                Ok(t) => {
                    answer = Some((attempt, t));
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        let (attempt, sink_now) = answer.expect("no answer in 20 calls after healing");
        // B's sink process was linked to ours: the partition killed it with noconnection.
        println!("ROLE: reconnected after {attempt} call(s); sink on B is now {sink_now}");
        send_numbered(&q, &echo, AFTER).await;
        collect_numbered(&mut q, &mut got, Some(*AFTER.end()), Duration::from_secs(20)).await;
        // Anything duplicated would come after the last one: wait a little for it.
        collect_numbered(&mut q, &mut got, None, Duration::from_millis(500)).await;
        let list: Vec<String> = got.iter().map(u64::to_string).collect();
        println!("ROLE: seq {}", list.join(","));
    });
}
