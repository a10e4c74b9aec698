//! N9: a peer's host name does not resolve. The connect fails with an error
//! naming the host, and 1,024 such attempts, under a time cap, leave no file
//! descriptor and no connection entry behind (the node still connects to a
//! real peer with a table of 4 connections at most).
//!
//! Two variants:
//! - through the real resolver path (EPMD resolver, `getaddrinfo`), run
//!   inside a network namespace the test makes, whose `resolv.conf` points
//!   at a small DNS responder on the namespace's loopback that answers
//!   NXDOMAIN: no query leaves the machine. Skipped, with a printed reason,
//!   without root or `ip`.
//! - everywhere, with a resolver that fails the way DNS does, injected
//!   through the public `Resolver` trait.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use beamlink::node::{Limits, Node};
use beamlink::proto::NodeName;
use beamlink::transport::{BoxFuture, ResolveError, Resolved, Resolver};
use common::ip;

const COOKIE: &str = "resolve";
const ATTEMPTS: usize = 1024;
/// All 1,024 failed attempts together take no longer than this.
const CAP: Duration = Duration::from_secs(60);
const ROLE_ENV: &str = "BEAMLINK_RESOLVE_ROLE";

/// The tests in this binary count this process's file descriptors: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// Runs the checks of N9 against `node`, whose lookups of `*.invalid` hosts
/// fail and which can reach `peer`; returns how long the 1,024 attempts took.
async fn check(node: &Node, peer: &str) -> Duration {
    let typed = node.connect("victim@no-such-host.invalid").await.expect_err("an unresolvable host");
    let err = typed.to_string();
    assert!(err.contains("no-such-host.invalid") && err.contains("resolve"), "the error should name the host: {err}");
    // The cause is kept, typed: the kind, and the resolver's own error under source().
    assert_eq!(typed.kind(), beamlink::node::ConnectFailure::UnknownHost);
    let cause = std::error::Error::source(&typed).expect("a cause");
    let cause = cause.downcast_ref::<beamlink::conn::ConnError>().expect("a ConnError");
    assert!(
        matches!(cause, beamlink::conn::ConnError::Resolve(e) if matches!(**e, beamlink::transport::ResolveError::Host { .. })),
        "{cause:?}"
    );
    match node.ping_detailed("victim@no-such-host.invalid").await.expect_err("ping") {
        beamlink::node::CallError::Connect(e) => {
            assert_eq!(e.kind(), beamlink::node::ConnectFailure::UnknownHost);
            assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
        }
        other => panic!("ping should keep the connect error: {other:?}"),
    }

    // Warm up whatever the runtime opens once (its blocking threads), then count.
    for i in 0..8 {
        let _ = node.connect(&format!("warm{i}@warm{i}.invalid")).await;
    }
    let before = open_fds();
    let started = Instant::now();
    for i in 0..ATTEMPTS {
        let name = format!("victim{i}@host{i}.no-such-host.invalid");
        let err = node.connect(&name).await.expect_err("an unresolvable host").to_string();
        assert!(err.contains(&format!("host{i}.no-such-host.invalid")), "{err}");
        assert!(started.elapsed() < CAP, "{i} attempts took {:?}", started.elapsed());
    }
    let took = started.elapsed();
    let after = open_fds();
    assert!(after <= before, "{} file descriptors more after {ATTEMPTS} failed lookups", after - before);
    assert!(node.connected_nodes().is_empty());
    // The table holds 4 entries at most: had failed attempts left theirs
    // behind, there would be no room for this one.
    node.connect(peer).await.expect("a real peer after the failures");
    assert_eq!(node.connected_nodes().len(), 1);
    took
}

fn small_table() -> Limits {
    Limits { max_connections: 4, ..Limits::default() }
}

/// Fails every lookup but `peer`'s the way the system resolver does for a
/// name that does not exist.
struct FailingDns {
    peer: NodeName,
    addr: SocketAddr,
    lookups: Arc<AtomicUsize>,
}

impl Resolver for FailingDns {
    fn resolve<'a>(&'a self, node: &'a NodeName) -> BoxFuture<'a, Result<Resolved, ResolveError>> {
        Box::pin(async move {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            if *node == self.peer {
                return Ok(Resolved { addr: self.addr, version: 6 });
            }
            Err(ResolveError::Host { host: node.host().to_string(), reason: "Name or service not known".into() })
        })
    }
}

#[test]
fn unresolvable_hosts_fail_with_the_host_named_and_leak_nothing() {
    if std::env::var_os(ROLE_ENV).is_some() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let b_name = format!("{}@127.0.0.1", common::unique_name("b"));
    let b = common::rust::TestNode::start(&b_name, COOKIE, 0, |x| x.listen(loopback).publish(false));
    let lookups = Arc::new(AtomicUsize::new(0));
    let dns = FailingDns {
        peer: NodeName::new(&b_name).unwrap(),
        addr: b.node.listen_addr().unwrap(),
        lookups: lookups.clone(),
    };
    let a = common::rust::TestNode::start(&format!("{}@127.0.0.1", common::unique_name("a")), COOKIE, 0, |x| {
        x.listen(loopback).publish(false).resolver(dns).limits(small_table())
    });
    let took = a.run(CAP * 2, check(&a.node, &b_name));
    assert!(lookups.load(Ordering::Relaxed) >= ATTEMPTS, "each attempt looks the host up again");
    eprintln!("{ATTEMPTS} failed lookups in {took:?}");
}

// ---------------------------------------------------------------------------
// The real resolver path, in a network namespace.

/// A network namespace with only a loopback interface, and a `resolv.conf`
/// of its own (`ip netns exec` puts /etc/netns/NAME/resolv.conf in place of
/// /etc/resolv.conf); both removed on drop.
struct Namespace {
    name: String,
    etc: std::path::PathBuf,
}

impl Namespace {
    fn create() -> Result<Namespace, String> {
        let name = format!("bl_dns_{}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Namespace { etc: std::path::Path::new("/etc/netns").join(&name), name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        std::fs::create_dir_all(&ns.etc).map_err(|e| format!("{}: {e}", ns.etc.display()))?;
        std::fs::write(ns.etc.join("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            .map_err(|e| format!("resolv.conf: {e}"))?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

#[test]
fn the_system_resolver_path_fails_with_the_host_named_and_leaks_nothing() {
    if std::env::var_os(ROLE_ENV).is_some() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(e) => {
            common::skip("the system resolver variant", &format!("cannot make a network namespace ({e})"));
            return;
        }
    };
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["resolve_node", "--exact", "--nocapture", "--test-threads", "1"])
        .env(ROLE_ENV, common::free_port().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the resolver check in the namespace");
    let deadline = Instant::now() + CAP * 2;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the resolver check did not finish within {:?}", CAP * 2);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("ROLE: done"), "the check in the namespace failed:\n{text}");
    eprintln!("{}", text.lines().find(|l| l.contains("ROLE: done")).unwrap_or_default());
}

/// Answers every DNS query on 127.0.0.1:53 with NXDOMAIN (the question
/// copied back, no records); counts the queries.
fn nxdomain_responder() -> Arc<AtomicUsize> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 53)).expect("bind 127.0.0.1:53 in the namespace");
    let queries = Arc::new(AtomicUsize::new(0));
    let counted = queries.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            // The question: labels up to the root label, then type and class.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += 1 + usize::from(buf[end]);
            }
            end += 5;
            if end > n {
                continue;
            }
            counted.fetch_add(1, Ordering::Relaxed);
            let mut reply = buf[..end].to_vec();
            reply[2] = 0x80 | (buf[2] & 0x79) | 0x04; // a response, same opcode and RD, authoritative
            reply[3] = 0x80 | 3; // recursion available, NXDOMAIN
            reply[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            let _ = socket.send_to(&reply, from);
        }
    });
    queries
}

/// The namespace side: a DNS that knows no name, a real peer, and the checks.
#[test]
fn resolve_node() {
    let Ok(epmd_port) = std::env::var(ROLE_ENV) else { return };
    let epmd_port: u16 = epmd_port.parse().unwrap();
    let queries = nxdomain_responder();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        // B registers with an EPMD it starts itself, on the namespace's loopback.
        let b =
            Node::builder("b@127.0.0.1").cookie(COOKIE).listen(loopback).epmd_port(epmd_port).start().await.unwrap();
        let a = Node::builder("a@127.0.0.1")
            .cookie(COOKIE)
            .listen(loopback)
            .publish(false)
            .epmd_port(epmd_port)
            .connect_timeout(Duration::from_secs(5))
            .limits(small_table())
            .start()
            .await
            .unwrap();
        let took = check(&a, b.name().as_str()).await;
        let asked = queries.load(Ordering::Relaxed);
        assert!(
            asked >= ATTEMPTS,
            "only {asked} DNS queries for {ATTEMPTS} lookups: the system resolver was not asked"
        );
        println!("ROLE: done: {ATTEMPTS} failed lookups in {took:?}, {asked} DNS queries");
    });
}
