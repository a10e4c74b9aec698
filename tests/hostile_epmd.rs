//! A hostile EPMD, and EPMD requests from another host.
//!
//! - The client side of fault matrix row E10 (garbage, oversized, truncated
//!   and endless replies) and N8 (a stale port), against a fake EPMD on a
//!   private loopback port: the client fails with a clear error, quickly and
//!   with bounded memory, and a node looking peers up there fails the lookup
//!   cleanly and keeps working.
//! - E7 over the wire: our daemon answers requests from a network namespace
//!   the test makes (another host as far as EPMD can tell), refusing
//!   registration, KILL, STOP, NAMES and DUMP. Skipped, with a printed
//!   reason, without root or the `ip` tool.
//! - E12: one loopback address (127.0.0.2), then four, flood our daemon with
//!   stalled partial requests past its connection cap and keep renewing
//!   them, while lookups from 127.0.0.1 must all be answered within 1 s.
//!
//! The daemon's other rows (E1–E6, E8, E9, E11) are in tests/epmd_bad_input.rs
//! and the `epmd` unit tests; the reply decoders are also fuzzed (`epmd_response`).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use beamlink::epmd::codec::{NodeInfo, Port2Response};
use beamlink::epmd::{EpmdClient, EpmdError};
use common::hostile::{Carrier, FakePeer, PROMPT, PeerOptions};
use common::rust::TestNode;

/// What the fake EPMD does with each request it reads.
type Answer = Arc<dyn Fn(&[u8], &mut TcpStream) + Send + Sync>;

/// A fake EPMD on 127.0.0.1: reads one request per connection and lets
/// `answer` reply; stops when dropped.
struct FakeEpmd {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeEpmd {
    fn start(answer: impl Fn(&[u8], &mut TcpStream) + Send + Sync + 'static) -> FakeEpmd {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the fake epmd");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Answer = Arc::new(answer);
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let answer = answer.clone();
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).unwrap();
                            stream.set_read_timeout(Some(PROMPT)).unwrap();
                            let mut len = [0u8; 2];
                            if stream.read_exact(&mut len).is_err() {
                                return;
                            }
                            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                            if stream.read_exact(&mut body).is_err() {
                                return;
                            }
                            answer(&body, &mut stream);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeEpmd { port, stop }
    }

    fn client(&self) -> EpmdClient {
        EpmdClient::new("127.0.0.1", self.port).with_timeout(Duration::from_secs(2))
    }
}

impl Drop for FakeEpmd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A PORT2_RESP header for a found node: result 0, port, type, proto, versions.
fn port2_head(port: u16) -> Vec<u8> {
    let mut v = vec![119, 0];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&[77, 0, 0, 6, 0, 5]);
    v
}

fn lookup(epmd: &FakeEpmd) -> (Result<Option<NodeInfo>, EpmdError>, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let result = rt.block_on(epmd.client().port_please("victim"));
    (result, started.elapsed())
}

#[test]
fn e10_garbage_and_oversized_port2_replies_are_errors() {
    type Case = (&'static str, Box<dyn Fn(&mut TcpStream) + Send + Sync>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "HTTP instead of a reply",
            Box::new(|s| drop(s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n"))),
            "expected a PORT2_RESP",
        ),
        (
            "name length 65535",
            Box::new(|s| drop(s.write_all(&[&port2_head(4000)[..], &[0xff, 0xff]].concat()))),
            "node name is too long",
        ),
        (
            "extra length 65535",
            Box::new(|s| drop(s.write_all(&[&port2_head(4000)[..], &[0, 1, b'v', 0xff, 0xff]].concat()))),
            "extra data is too long",
        ),
        (
            "invalid UTF-8 name",
            Box::new(|s| drop(s.write_all(&[&port2_head(4000)[..], &[0, 1, 0xff, 0, 0]].concat()))),
            "not valid UTF-8",
        ),
        (
            "truncated, then closed",
            Box::new(|s| drop(s.write_all(&port2_head(4000)[..5]))),
            "closed in the middle of the reply",
        ),
        (
            "trickled forever",
            Box::new(|s| {
                for b in port2_head(4000) {
                    if s.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                std::thread::sleep(Duration::from_secs(5));
            }),
            "did not answer",
        ),
        ("silence", Box::new(|_| std::thread::sleep(Duration::from_secs(5))), "did not answer"),
    ];
    for (what, reply, why) in cases {
        let reply = Arc::new(reply);
        let epmd = FakeEpmd::start(move |_, s| reply(s));
        let (result, took) = lookup(&epmd);
        let err = result.expect_err(what);
        assert!(err.to_string().contains(why), "{what}: {err}");
        assert!(took < Duration::from_secs(4), "{what}: took {took:?} with a 2 s client timeout");
    }
}

#[test]
fn e10_endless_and_malformed_listings_are_bounded() {
    // NAMES: far more than the client accepts, sent as fast as it reads.
    let epmd = FakeEpmd::start(|_, s| {
        let _ = s.write_all(&4369u32.to_be_bytes());
        let line = b"name a at port 1\n".repeat(4096);
        for _ in 0..200 {
            if s.write_all(&line).is_err() {
                return;
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(epmd.client().names()).expect_err("an endless NAMES reply");
    assert!(err.to_string().contains("larger than"), "{err}");
    // Binary junk in the listing.
    let epmd = FakeEpmd::start(|_, s| drop(s.write_all(b"\0\0\x11\x11name \xff\xfe at port 1\n")));
    let err = rt.block_on(epmd.client().names()).expect_err("a junk NAMES reply");
    assert!(err.to_string().contains("malformed reply"), "{err}");
    // ALIVE2: the wrong reply tag.
    let epmd = FakeEpmd::start(|_, s| drop(s.write_all(b"OK")));
    let err = rt.block_on(epmd.client().register(&NodeInfo::new("victim", 4000))).expect_err("a junk ALIVE2 reply");
    assert!(err.to_string().contains("expected a ALIVE2 reply"), "{err}");
}

#[test]
fn a_node_whose_epmd_lies_fails_lookups_cleanly_and_keeps_working() {
    // N8: a stale port (nothing listens there), and E10: garbage.
    let stale = common::free_port();
    let lying = FakeEpmd::start(move |body, s| {
        if body.first() == Some(&122) {
            let reply = Port2Response::Found(NodeInfo::new("victim", stale)).encode().unwrap();
            let _ = s.write_all(&reply);
        }
    });
    let garbage = FakeEpmd::start(|_, s| {
        drop(s.write_all(&[119, 0, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
    });
    for epmd in [&lying, &garbage] {
        let name = format!("{}@localhost", common::unique_name("asker"));
        let node = TestNode::start(&name, "c", epmd.port, |b| {
            b.listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).creation(77).connect_timeout(Duration::from_secs(2))
        });
        let started = Instant::now();
        let err = node.run(Duration::from_secs(20), node.node.connect("victim@localhost")).expect_err("no such peer");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        let text = err.to_string();
        assert!(text.contains("victim@localhost"), "{text}");
        // The node still works: a peer that dials it directly is served.
        let options = PeerOptions::new("direct", "c");
        let addr = node.node.listen_addr().unwrap();
        let mut peer = FakePeer::connect(&Carrier::tcp(), addr, &name, &options).expect("served after a failed lookup");
        assert!(peer.ping(PROMPT));
    }
}

// ---------------------------------------------------------------------------
// E7: requests from another host

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// A network namespace joined to this one by a veth pair: another host as
/// far as EPMD can tell. Removed on drop.
struct OtherHost {
    ns: String,
    /// This side's address.
    here: std::net::IpAddr,
    /// The namespace's address.
    there: std::net::IpAddr,
}

impl OtherHost {
    fn create() -> Result<OtherHost, String> {
        let id = std::process::id();
        let net = 10 + id % 200;
        let host = OtherHost {
            ns: format!("bl_e7_{id}"),
            here: format!("10.232.{net}.1").parse().unwrap(),
            there: format!("10.232.{net}.2").parse().unwrap(),
        };
        let (veth_here, veth_there) = (format!("ble7h{id}"), format!("ble7n{id}"));
        ip(&["netns", "add", &host.ns])?;
        ip(&["link", "add", &veth_here, "type", "veth", "peer", "name", &veth_there])?;
        ip(&["link", "set", &veth_there, "netns", &host.ns])?;
        ip(&["addr", "add", &format!("{}/24", host.here), "dev", &veth_here])?;
        ip(&["link", "set", &veth_here, "up"])?;
        ip(&["-n", &host.ns, "addr", "add", &format!("{}/24", host.there), "dev", &veth_there])?;
        ip(&["-n", &host.ns, "link", "set", &veth_there, "up"])?;
        ip(&["-n", &host.ns, "link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// Sends `request` (framed) from the other host to `port` on this side's
    /// address and returns what the daemon answered within 3 s, and whether
    /// it still held the connection open then.
    fn ask(&self, port: u16, request: &[u8]) -> (Vec<u8>, bool) {
        let escaped: String = request.iter().map(|b| format!("\\x{b:02x}")).collect();
        let script = format!(
            "exec 3<>/dev/tcp/{}/{port} || exit 3; printf \"$1\" >&3; timeout 3 od -An -v -tx1 <&3; echo end $?",
            self.here
        );
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "bash", "-c", &script, "bash", &escaped])
            .output()
            .expect("run bash in the namespace");
        assert!(
            out.status.success(),
            "cannot reach the daemon from the other host: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (bytes, status) = text.rsplit_once("end ").expect("the script's last line");
        let bytes = bytes.split_whitespace().map(|h| u8::from_str_radix(h, 16).expect("od output")).collect();
        (bytes, status.trim() == "124")
    }

    /// [`OtherHost::ask`] for a request the daemon must refuse: it closes
    /// (with at most a refusal reply); returns that reply.
    fn refused(&self, port: u16, request: &[u8], what: &str) -> Vec<u8> {
        let (reply, held_open) = self.ask(port, request);
        assert!(!held_open, "{what} from another host: the daemon kept the connection open (accepted?)");
        reply
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

#[test]
fn e7_registration_kill_stop_and_listings_from_another_host_are_refused() {
    let privileged = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let has_tools = ["ip", "bash", "od", "timeout"].iter().all(|t| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !privileged || !has_tools {
        common::skip("E7", "needs root and ip, bash, od, timeout to make a network namespace");
        return;
    }
    let other = match OtherHost::create() {
        Ok(h) => h,
        Err(e) => {
            common::skip("E7", &format!("cannot make a network namespace: {e}"));
            return;
        }
    };
    use beamlink::epmd::codec::Request;
    use beamlink::epmd::{DaemonConfig, EpmdDaemon};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let start = |relaxed: bool| {
        let config = DaemonConfig {
            port: common::free_port(),
            addresses: vec![Ipv4Addr::LOCALHOST.into(), other.here],
            relaxed_command_check: relaxed,
            ..DaemonConfig::default()
        };
        rt.block_on(async { EpmdDaemon::bind(config).await.expect("bind our epmd").spawn() })
    };
    let local = |port: u16| EpmdClient::new("127.0.0.1", port).with_timeout(Duration::from_secs(5));

    // A strict daemon (OTP's default): nothing registered, so a local KILL would succeed.
    let strict = start(false);
    // The other host can reach it: a lookup (allowed to anyone) is answered.
    let lookup = Request::PortPlease2 { name: "nobody".into() }.encode().unwrap();
    assert_eq!(other.ask(strict.port(), &lookup), (vec![119, 1], false));
    let alive2 = Request::Alive2(NodeInfo::new("intruder", 4000)).encode().unwrap();
    let reply = other.refused(strict.port(), &alive2, "ALIVE2");
    assert!(reply.is_empty() || reply.starts_with(&[118, 1]), "a remote registration was accepted: {reply:?}");
    let names = rt.block_on(local(strict.port()).names()).expect("local NAMES");
    assert!(names.nodes.iter().all(|(n, _)| n != "intruder"), "the registry changed: {names:?}");
    for (request, what) in [(Request::Names, "NAMES"), (Request::Dump, "DUMP")] {
        assert!(
            other.refused(strict.port(), &request.encode().unwrap(), what).is_empty(),
            "{what} answered to another host"
        );
    }
    assert_ne!(
        other.refused(strict.port(), &Request::Kill.encode().unwrap(), "KILL"),
        b"OK",
        "KILL obeyed from another host"
    );
    assert!(rt.block_on(local(strict.port()).names()).is_ok(), "the daemon survived a remote KILL");

    // A relaxed daemon allows STOP, but only from this host.
    let relaxed = start(true);
    let registration =
        rt.block_on(local(relaxed.port()).register(&NodeInfo::new("victim", 4001))).expect("register locally");
    let reply = other.refused(relaxed.port(), &Request::Stop { name: "victim".into() }.encode().unwrap(), "STOP");
    assert_ne!(reply, b"STOPPED", "STOP obeyed from another host");
    let names = rt.block_on(local(relaxed.port()).names()).expect("local NAMES");
    assert!(names.nodes.iter().any(|(n, _)| n == "victim"), "the registration was stopped: {names:?}");
    drop(registration);
}

// ---------------------------------------------------------------------------
// E12: one address (or a few) floods our daemon with stalled partial requests

/// A flood of stalled partial requests to 127.0.0.1:`port`: `per_source`
/// connections from each address in `sources`, each of which sends the first
/// byte of a request and stalls; whenever the daemon closes one, it is opened
/// again at once. Runs on a thread of its own; stops when dropped.
struct StallFlood {
    /// Connections opened so far, renewals included.
    opened: Arc<std::sync::atomic::AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StallFlood {
    fn start(port: u16, sources: &[Ipv4Addr], per_source: usize) -> StallFlood {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let sources = sources.to_vec();
        let counter = Arc::clone(&opened);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut stallers = tokio::task::JoinSet::new();
                for source in sources {
                    for _ in 0..per_source {
                        let opened = Arc::clone(&counter);
                        stallers.spawn(async move {
                            loop {
                                let connect = async {
                                    let socket = tokio::net::TcpSocket::new_v4()?;
                                    socket.bind(SocketAddr::from((source, 0)))?;
                                    socket.connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
                                };
                                let Ok(Ok(mut stream)) = tokio::time::timeout(PROMPT, connect).await else {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                };
                                opened.fetch_add(1, Ordering::Relaxed);
                                // One byte of a length field, then nothing until the daemon closes.
                                if stream.write_all(&[0]).await.is_ok() {
                                    let mut sink = [0u8; 16];
                                    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut sink)).await;
                                }
                            }
                        });
                    }
                }
                let _ = stopped.await;
                stallers.shutdown().await;
            });
        });
        StallFlood { opened, stop: Some(stop), thread: Some(thread) }
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for StallFlood {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Asks our daemon on `port`, from 127.0.0.1, for `name` 30 times, 20 ms
/// apart, with a 1 s timeout each; returns the failures (empty when every
/// one was answered with `port_of_name` within 1 s).
fn honest_lookups(rt: &tokio::runtime::Runtime, port: u16, name: &str, port_of_name: u16) -> Vec<String> {
    let client = EpmdClient::new("127.0.0.1", port).with_timeout(Duration::from_secs(1));
    let mut failures = Vec::new();
    for i in 0..30 {
        let started = Instant::now();
        let result = rt.block_on(client.port_please(name));
        let took = started.elapsed();
        match result {
            Ok(Some(node)) if node.port == port_of_name && took < Duration::from_secs(1) => {}
            Ok(other) => failures.push(format!("#{i}: {other:?} after {took:?}")),
            Err(e) => failures.push(format!("#{i}: {e} after {took:?}")),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    failures
}

#[test]
fn e12_a_flood_of_stalled_requests_from_one_address_does_not_shut_others_out() {
    use beamlink::epmd::daemon::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS as PER_ADDRESS;
    use beamlink::epmd::{DaemonConfig, EpmdDaemon};
    // Linux routes all of 127.0.0.0/8 to lo; elsewhere the flood has no second address to come from.
    if std::net::TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).is_err() {
        eprintln!("skipping E12: this host cannot use 127.0.0.2 as a source address");
        return;
    }
    // The global cap is lowered from 1,024 to keep the sockets this test holds
    // (both ends of every connection) well under a 1,024-descriptor limit; the
    // per-address cap is the default.
    const CAP: usize = 128;
    let daemon_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let start = || {
        let config = DaemonConfig {
            port: common::free_port(),
            addresses: vec![Ipv4Addr::LOCALHOST.into()],
            max_connections: CAP,
            ..DaemonConfig::default()
        };
        daemon_rt.block_on(async { EpmdDaemon::bind(config).await.expect("bind our epmd").spawn() })
    };
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // One address opens more stalled requests than the whole table holds.
    let daemon = start();
    let local = EpmdClient::new("127.0.0.1", daemon.port()).with_timeout(PROMPT);
    let registration =
        client_rt.block_on(local.register(&NodeInfo::new("steady", 4100))).expect("register from 127.0.0.1");
    let flooders = CAP + CAP / 4;
    let flood = StallFlood::start(daemon.port(), &[Ipv4Addr::new(127, 0, 0, 2)], flooders);
    wait_for("every flood connection to open", &|| flood.opened() >= flooders);
    std::thread::sleep(Duration::from_millis(200));
    let failures = honest_lookups(&client_rt, daemon.port(), "steady", 4100);
    let held = daemon.connection_count();
    eprintln!("one address: {} flood connections opened, {held} open at the end", flood.opened());
    drop(flood);
    assert!(
        failures.is_empty(),
        "one address flooding: {} of 30 lookups from another address failed: {failures:#?}",
        failures.len()
    );
    // The flood holds its share and no more: the registration, the flood, perhaps one lookup.
    assert!(held <= 1 + PER_ADDRESS + 1, "{held} connections open with one address flooding");
    drop(registration);
    daemon_rt.block_on(daemon.shutdown());

    // Four addresses, each under the per-address cap, that together fill the table.
    let daemon = start();
    let local = EpmdClient::new("127.0.0.1", daemon.port()).with_timeout(PROMPT);
    let registration =
        client_rt.block_on(local.register(&NodeInfo::new("steady", 4100))).expect("register from 127.0.0.1");
    let sources: Vec<Ipv4Addr> = (3..7).map(|last| Ipv4Addr::new(127, 0, 0, last)).collect();
    let per_source = PER_ADDRESS - PER_ADDRESS / 4;
    let flood = StallFlood::start(daemon.port(), &sources, per_source);
    wait_for("every flood connection to open", &|| flood.opened() >= sources.len() * per_source);
    std::thread::sleep(Duration::from_millis(200));
    let failures = honest_lookups(&client_rt, daemon.port(), "steady", 4100);
    let held = daemon.connection_count();
    eprintln!("four addresses: {} flood connections opened, {held} open at the end", flood.opened());
    drop(flood);
    assert!(
        failures.is_empty(),
        "four addresses flooding: {} of 30 lookups from another address failed: {failures:#?}",
        failures.len()
    );
    assert!(held <= CAP, "{held} connections open, the cap is {CAP}");
    // The registration survived both floods.
    assert_eq!(client_rt.block_on(local.port_please("steady")).expect("lookup").map(|n| n.port), Some(4100));
    drop(registration);
    daemon_rt.block_on(daemon.shutdown());
}
