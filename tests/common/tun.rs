//! A link between two network namespaces that the test process carries
//! packet by packet, for impairments without a kernel qdisc (`sch_netem`).
//!
//! Each namespace gets a TUN device with a point-to-point address whose peer
//! is the other namespace's address. One thread per direction reads the IP
//! packets the kernel routes into one TUN device and writes them into the
//! other after an [`Impairment`]: a delay with jitter, loss, and an extra
//! delay for some packets so that they are overtaken. The fate of each packet
//! comes from a seeded generator, so a schedule can be replayed.
//!
//! Everything is undone when the [`ImpairedLink`] drops, a panicking test
//! included: the threads stop and are joined, the TUN descriptors close and
//! the namespaces are deleted. Needs root, `ip` and `/dev/net/tun`.

use crate::common::ip;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The name the TUN device has in both namespaces.
pub const DEVICE: &str = "blt0";
/// Namespace A's address; B's is [`ADDR_B`]. Each namespace has its own
/// addresses, so concurrent links do not clash.
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
/// Namespace B's address.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);

/// Why the machine cannot make an [`ImpairedLink`], if it cannot (for a
/// test to print when it skips).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("no `ip` command".into()),
    }
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    name: String,
    handle: Arc<File>,
}

impl Netns {
    /// Makes namespace `name` with its loopback up.
    pub fn create(name: &str) -> Result<Netns, String> {
        ip(&["netns", "add", name])?;
        let handle = match File::open(format!("/run/netns/{name}")) {
            Ok(handle) => handle,
            Err(e) => {
                let _ = ip(&["netns", "del", name]);
                return Err(format!("open namespace {name}: {e}"));
            }
        };
        // From here on the namespace is deleted again if anything fails.
        let ns = Netns { name: name.to_string(), handle: Arc::new(handle) };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle for [`enter`] that keeps working for as long as it is held.
    pub fn handle(&self) -> Arc<File> {
        self.handle.clone()
    }

    /// Runs `f` on a new thread that has entered this namespace, so that
    /// the sockets and devices `f` makes belong to it. The calling thread
    /// stays where it is.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&self.handle).map_err(|e| format!("setns {}: {e}", self.name))?;
                Ok(f())
            })
            .join()
            .map_err(|_| format!("a thread in {} panicked", self.name))?
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Moves the calling thread into the network namespace behind `handle`
/// (other threads are not affected).
pub fn enter(handle: &File) -> std::io::Result<()> {
    // SAFETY: setns only reads the descriptor, which `handle` keeps open.
    if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Creates TUN device [`DEVICE`] (IP packets, no extra header) in `ns` and
/// returns its non-blocking descriptor.
fn open_tun(ns: &Netns) -> Result<File, String> {
    ns.run(|| -> std::io::Result<File> {
        let tun = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in req.ifr_name.iter_mut().zip(DEVICE.bytes()) {
            *slot = byte as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes one ifreq, which `req` is.
        if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(tun)
    })?
    .map_err(|e| format!("TUN device in {}: {e}", ns.name))
}

/// What happens to the packets on their way, in each direction.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// The mean delay.
    pub delay: Duration,
    /// Delays are spread evenly over `delay ± jitter`.
    pub jitter: Duration,
    /// Percent of packets dropped.
    pub loss_percent: u64,
    /// Percent of the packets not dropped that are held back [`Impairment::hold_back`] longer.
    pub reorder_percent: u64,
    /// The extra delay of a held-back packet.
    pub hold_back: Duration,
    /// The generator's seed; the directions use different streams of it.
    pub seed: u64,
}

impl Impairment {
    /// Every packet passed on at once.
    pub fn none() -> Impairment {
        Impairment {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss_percent: 0,
            reorder_percent: 0,
            hold_back: Duration::ZERO,
            seed: 1,
        }
    }
}

/// What becomes of one packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fate {
    /// It is lost.
    Dropped,
    /// It is passed on after `delay`; `held_back` when that includes the extra delay.
    Delayed { delay: Duration, held_back: bool },
}

/// The seeded sequence of fates for one direction (xorshift64*).
pub struct Schedule {
    state: u64,
    impairment: Impairment,
}

impl Schedule {
    /// The fates for direction `stream` (0 or 1) of `impairment`.
    pub fn new(impairment: Impairment, stream: u64) -> Schedule {
        let state = (impairment.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        Schedule { state, impairment }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next packet's fate.
    pub fn next_fate(&mut self) -> Fate {
        let imp = self.impairment;
        if self.next_u64() % 100 < imp.loss_percent {
            return Fate::Dropped;
        }
        let spread = imp.jitter.as_micros() as u64 * 2;
        let offset = if spread == 0 { 0 } else { self.next_u64() % (spread + 1) };
        let mut delay = (imp.delay + Duration::from_micros(offset)).saturating_sub(imp.jitter);
        let held_back = self.next_u64() % 100 < imp.reorder_percent;
        if held_back {
            delay += imp.hold_back;
        }
        Fate::Delayed { delay, held_back }
    }
}

/// What one direction of the link did, counted as it happens.
#[derive(Default, Debug)]
pub struct Counters {
    /// IPv4 packets read from the sending side's TUN device.
    pub read: AtomicU64,
    /// Packets written to the receiving side's TUN device.
    pub forwarded: AtomicU64,
    /// Packets dropped on purpose.
    pub dropped: AtomicU64,
    /// Packets given the extra delay.
    pub held_back: AtomicU64,
    /// Packets written after one that was read later than they were.
    pub reordered: AtomicU64,
    /// Packets the receiving side's device refused.
    pub write_errors: AtomicU64,
    /// Packets that were not IPv4 (IPv6 neighbour discovery and the like), not passed on.
    pub ignored: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub read: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub held_back: u64,
    pub reordered: u64,
    pub write_errors: u64,
}

impl Totals {
    /// Packets read whose fate is still open: held for their time, or
    /// between the read and the count of what became of them.
    pub fn in_flight(&self) -> u64 {
        self.read - (self.forwarded + self.dropped + self.write_errors)
    }
}

/// How long the counts of a link must stay the same before [`settle`]
/// takes them.
pub const QUIET: Duration = Duration::from_millis(200);

impl Counters {
    /// The counts so far. The fates are loaded before `read`, so a packet
    /// counted as forwarded, dropped or refused is always counted as read:
    /// [`Totals::in_flight`] never goes below zero.
    pub fn totals(&self) -> Totals {
        let forwarded = self.forwarded.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let write_errors = self.write_errors.load(Ordering::Acquire);
        let reordered = self.reordered.load(Ordering::Acquire);
        Totals {
            read: self.read.load(Ordering::Acquire),
            forwarded,
            dropped,
            held_back: self.held_back.load(Ordering::Acquire),
            reordered,
            write_errors,
        }
    }
}

/// Waits until every packet read by the forwarders of `counters` has met its
/// fate (passed on, dropped or refused by the other device; none held back
/// or between its read and its count) and none of the counts has changed for
/// [`QUIET`], then returns them. A forwarder writes a packet before it counts
/// it, so the peer may already have acted on the last ACK or FIN of an
/// exchange while its count is still to come; and packets the kernel routed
/// into a device just now are yet to be read. Panics with the last counts if
/// that does not happen within `limit`.
pub fn settle(counters: &[&Counters], limit: Duration) -> Vec<Totals> {
    let deadline = Instant::now() + limit;
    let mut last: Vec<Totals> = counters.iter().map(|c| c.totals()).collect();
    let mut still_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now: Vec<Totals> = counters.iter().map(|c| c.totals()).collect();
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if now.iter().all(|t| t.in_flight() == 0) && still_since.elapsed() >= QUIET {
            return now;
        }
        if Instant::now() >= deadline {
            panic!("the link's counts did not settle within {limit:?}: {last:?}");
        }
    }
}

/// A packet waiting for its time.
struct Held {
    due: Instant,
    seq: u64,
    bytes: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// Reversed, so that the max-heap pops the earliest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// How long a forwarder sleeps at most before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Carries packets from `from` to `to` under `schedule` until `stop`.
fn forward(from: &File, to: &File, mut schedule: Schedule, counters: &Counters, stop: &AtomicBool) {
    let mut held = BinaryHeap::<Held>::new();
    let mut buf = vec![0u8; 65_536];
    let (mut next_seq, mut highest_written) = (0u64, None::<u64>);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while held.peek().is_some_and(|p| p.due <= now) {
            let packet = held.pop().expect("peeked");
            if highest_written.is_some_and(|h| packet.seq < h) {
                counters.reordered.fetch_add(1, Ordering::Release);
            } else {
                highest_written = Some(packet.seq);
            }
            // The fate is counted last (Release, paired with the Acquire
            // loads of `Counters::totals`): once it shows, so do the packet's
            // other counts.
            match (&*to).write(&packet.bytes) {
                Ok(n) if n == packet.bytes.len() => {
                    counters.forwarded.fetch_add(1, Ordering::Release);
                }
                _ => {
                    counters.write_errors.fetch_add(1, Ordering::Release);
                }
            }
        }
        let wait = held.peek().map_or(POLL, |p| p.due.saturating_duration_since(now).min(POLL));
        let mut pfd = libc::pollfd { fd: from.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = wait.as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: one valid pollfd, for a descriptor `from` keeps open.
        if unsafe { libc::poll(&mut pfd, 1, millis) } <= 0 {
            continue;
        }
        loop {
            let n = match (&*from).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: all read
            };
            if n == 0 || buf[0] >> 4 != 4 {
                counters.ignored.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            counters.read.fetch_add(1, Ordering::Release);
            match schedule.next_fate() {
                Fate::Dropped => {
                    counters.dropped.fetch_add(1, Ordering::Release);
                }
                Fate::Delayed { delay, held_back } => {
                    if held_back {
                        counters.held_back.fetch_add(1, Ordering::Release);
                    }
                    held.push(Held { due: Instant::now() + delay, seq: next_seq, bytes: buf[..n].to_vec() });
                    next_seq += 1;
                }
            }
        }
    }
}

/// Two namespaces, A ([`ADDR_A`]) and B ([`ADDR_B`]), joined through this
/// process under an [`Impairment`]. Dropping it stops and joins the
/// forwarders, closes the TUN descriptors and deletes the namespaces.
pub struct ImpairedLink {
    /// Namespace A.
    pub a: Netns,
    /// Namespace B.
    pub b: Netns,
    /// Packets from A to B.
    pub a_to_b: Arc<Counters>,
    /// Packets from B to A.
    pub b_to_a: Arc<Counters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tuns: [Weak<File>; 2],
    running: Weak<()>,
}

impl ImpairedLink {
    /// Makes the namespaces, devices, addresses and routes, and starts the forwarders.
    pub fn create(impairment: Impairment) -> Result<ImpairedLink, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let a = Netns::create(&format!("bl_ta_{id}"))?;
        let b = Netns::create(&format!("bl_tb_{id}"))?;
        let tun_a = Arc::new(open_tun(&a)?);
        let tun_b = Arc::new(open_tun(&b)?);
        for (ns, me, peer) in [(&a, ADDR_A, ADDR_B), (&b, ADDR_B, ADDR_A)] {
            let (me, peer) = (format!("{me}/32"), format!("{peer}/32"));
            ip(&["-n", ns.name(), "addr", "add", &me, "peer", &peer, "dev", DEVICE])?;
            ip(&["-n", ns.name(), "link", "set", DEVICE, "up"])?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let token = Arc::new(());
        let (a_to_b, b_to_a) = (Arc::new(Counters::default()), Arc::new(Counters::default()));
        let tuns = [Arc::downgrade(&tun_a), Arc::downgrade(&tun_b)];
        let running = Arc::downgrade(&token);
        let mut threads = Vec::new();
        for (stream, from, to, counters) in [(0, &tun_a, &tun_b, &a_to_b), (1, &tun_b, &tun_a, &b_to_a)] {
            let (from, to, counters, stopping, token) =
                (from.clone(), to.clone(), counters.clone(), stop.clone(), token.clone());
            let schedule = Schedule::new(impairment, stream);
            let spawned = std::thread::Builder::new().name(format!("tun-forward-{stream}")).spawn(move || {
                let _token = token;
                forward(&from, &to, schedule, &counters, &stopping);
            });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    threads.into_iter().for_each(|t: JoinHandle<()>| drop(t.join()));
                    return Err(format!("start a forwarder: {e}"));
                }
            }
        }
        Ok(ImpairedLink { a, b, a_to_b, b_to_a, stop, threads, tuns, running })
    }

    /// Both directions' counts, A to B then B to A, once they have settled
    /// together (see [`settle`]).
    pub fn settled(&self, limit: Duration) -> (Totals, Totals) {
        let both = settle(&[&self.a_to_b, &self.b_to_a], limit);
        (both[0], both[1])
    }

    /// What is left to clean up once the link is dropped: a test keeps this
    /// and checks [`Leftovers::check`] afterwards.
    pub fn leftovers(&self) -> Leftovers {
        Leftovers {
            namespaces: vec![self.a.name().to_string(), self.b.name().to_string()],
            tuns: self.tuns.clone(),
            running: self.running.clone(),
        }
    }
}

impl Drop for ImpairedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The threads held the only references to the TUN descriptors: they
        // are closed now. The namespaces are deleted as the fields drop.
    }
}

/// Traces of an [`ImpairedLink`] that must all be gone once it has dropped.
pub struct Leftovers {
    namespaces: Vec<String>,
    tuns: [Weak<File>; 2],
    running: Weak<()>,
}

impl Leftovers {
    /// An error naming whatever is still there.
    pub fn check(&self) -> Result<(), String> {
        let mut left = Vec::new();
        for ns in &self.namespaces {
            if std::path::Path::new("/run/netns").join(ns).exists() {
                left.push(format!("namespace {ns}"));
            }
        }
        if self.tuns.iter().any(|t| t.strong_count() > 0) {
            left.push("an open TUN descriptor".into());
        }
        if self.running.strong_count() > 0 {
            left.push("a forwarder thread".into());
        }
        if left.is_empty() { Ok(()) } else { Err(left.join(", ")) }
    }
}
