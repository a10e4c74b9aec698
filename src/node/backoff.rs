//! Authentication back-off: failed cookie and certificate checks slow a
//! guesser down without locking out the honest nodes that share its address.
//!
//! Failures are counted under three keys:
//!
//! - **the address and the claimed name** (`Pair`): after
//!   [`Limits::auth_failures_before_backoff`] failures, that name from that
//!   address is refused at its first message for a back-off that doubles
//!   from [`Limits::auth_backoff`] to [`Limits::auth_backoff_max`]. This is
//!   what stops a guesser: of 200 rapid guesses under one name, only the
//!   first few and one per back-off period reach the challenge.
//! - **the address** (`Address`), over every name: after four times as many
//!   failures, names that have never authenticated from that address are
//!   refused the same way, so rotating names does not buy more guesses. A
//!   name that has authenticated from the address before (a *known* pair) is
//!   exempt: a node on the same host, behind the same NAT or SNAT, keeps
//!   getting in while a neighbour guesses.
//! - **the address's transport** (`Transport`): certificates refused before
//!   any name is known (TLS). An address in this back-off is closed on
//!   arrival, since no name can be exempted before its certificate is read.
//!
//! Both tables are bounded ([`MAX_TRACKED`] entries each) and forget their
//! oldest entry first: never a wholesale reset that would give every guesser
//! a clean slate at once.
//!
//! [`Limits::auth_failures_before_backoff`]: super::Limits::auth_failures_before_backoff
//! [`Limits::auth_backoff`]: super::Limits::auth_backoff
//! [`Limits::auth_backoff_max`]: super::Limits::auth_backoff_max

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Limits;

/// How many keys each table remembers; the oldest are forgotten first.
pub(crate) const MAX_TRACKED: usize = 65_536;

/// The address-wide back-off starts after this many times the per-name threshold.
const ADDRESS_FACTOR: u32 = 4;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Pair(IpAddr, String),
    Address(IpAddr),
    Transport(IpAddr),
}

#[derive(Debug)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    backoff: Duration,
}

/// A map that holds at most `cap` keys and evicts the one inserted longest ago.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, (u64, V)>,
    order: VecDeque<(K, u64)>,
    next: u64,
    cap: usize,
}

impl<K: Clone + Eq + Hash, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded { map: HashMap::new(), order: VecDeque::new(), next: 0, cap }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(_, v)| v)
    }

    fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                let Some((old, generation)) = self.order.pop_front() else { break };
                if self.map.get(&old).is_some_and(|(g, _)| *g == generation) {
                    self.map.remove(&old);
                }
            }
            let generation = self.next;
            self.next += 1;
            self.order.push_back((key.clone(), generation));
            self.map.insert(key.clone(), (generation, make()));
            // Keys removed earlier leave their place in `order`; drop such places
            // once they outnumber the live keys, so `order` stays bounded too.
            if self.order.len() > 2 * self.cap {
                let map = &self.map;
                self.order.retain(|(k, g)| map.get(k).is_some_and(|(live, _)| live == g));
            }
        }
        &mut self.map.get_mut(&key).unwrap_or_else(|| unreachable!("inserted above")).1
    }

    fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug)]
struct State {
    failures: Bounded<Key, Failures>,
    /// Name and address pairs that have authenticated.
    known: Bounded<(IpAddr, String), ()>,
}

/// Counts failed authentications and decides who is in back-off (see the
/// module documentation).
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    state: Mutex<State>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle::with_capacity(MAX_TRACKED)
    }
}

/// Why a connection is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This name from this address failed too often.
    Name,
    /// This address failed too often under names it never authenticated with.
    Address,
}

impl AuthThrottle {
    fn with_capacity(cap: usize) -> AuthThrottle {
        AuthThrottle { state: Mutex::new(State { failures: Bounded::new(cap), known: Bounded::new(cap) }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a connection from `addr` is closed on arrival: its
    /// certificates were refused too often.
    pub fn transport_blocked(&self, addr: IpAddr) -> bool {
        blocked(&self.lock(), &Key::Transport(addr), Instant::now())
    }

    /// Whether `name`, claimed from `addr`, is refused before the challenge.
    pub fn refusal(&self, addr: IpAddr, name: &str) -> Option<Refusal> {
        let state = self.lock();
        let now = Instant::now();
        if blocked(&state, &Key::Pair(addr, name.to_string()), now) {
            return Some(Refusal::Name);
        }
        let known = state.known.get(&(addr, name.to_string())).is_some();
        (!known && blocked(&state, &Key::Address(addr), now)).then_some(Refusal::Address)
    }

    /// Records a failed check of `name` (or, with `None`, of a certificate
    /// before any name was given) from `addr`; returns the back-off it
    /// started or lengthened, if any.
    pub fn failed(&self, addr: IpAddr, name: Option<&str>, limits: &Limits) -> Option<Duration> {
        let mut state = self.lock();
        let threshold = limits.auth_failures_before_backoff;
        match name {
            None => count(&mut state, Key::Transport(addr), threshold, limits),
            Some(name) => {
                let address = count(&mut state, Key::Address(addr), threshold.saturating_mul(ADDRESS_FACTOR), limits);
                count(&mut state, Key::Pair(addr, name.to_string()), threshold, limits).or(address)
            }
        }
    }

    /// `name` authenticated from `addr`: its own failures are forgotten and
    /// the pair is exempt from the address-wide back-off from now on.
    pub fn succeeded(&self, addr: IpAddr, name: &str) {
        let mut state = self.lock();
        state.failures.remove(&Key::Pair(addr, name.to_string()));
        state.failures.remove(&Key::Transport(addr));
        state.known.entry((addr, name.to_string()), || ());
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().failures.len()
    }
}

fn blocked(state: &State, key: &Key, now: Instant) -> bool {
    state.failures.get(key).and_then(|f| f.blocked_until).is_some_and(|until| now < until)
}

fn count(state: &mut State, key: Key, threshold: u32, limits: &Limits) -> Option<Duration> {
    let entry = state.failures.entry(key, || Failures { count: 0, blocked_until: None, backoff: limits.auth_backoff });
    entry.count = entry.count.saturating_add(1);
    if entry.count < threshold {
        return None;
    }
    let backoff = entry.backoff;
    entry.blocked_until = Some(Instant::now() + backoff);
    entry.backoff = (backoff * 2).min(limits.auth_backoff_max);
    Some(backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            auth_failures_before_backoff: 3,
            auth_backoff: Duration::from_millis(100),
            auth_backoff_max: Duration::from_millis(300),
            ..Limits::default()
        }
    }

    #[test]
    fn a_name_backs_off_after_k_failures_and_doubles() {
        let (t, limits) = (AuthThrottle::default(), limits());
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(t.failed(ip, Some("x@h"), &limits), None);
        assert_eq!(t.failed(ip, Some("x@h"), &limits), None);
        assert_eq!(t.refusal(ip, "x@h"), None);
        assert_eq!(t.failed(ip, Some("x@h"), &limits), Some(Duration::from_millis(100)));
        assert_eq!(t.refusal(ip, "x@h"), Some(Refusal::Name));
        assert_eq!(t.failed(ip, Some("x@h"), &limits), Some(Duration::from_millis(200)));
        assert_eq!(t.failed(ip, Some("x@h"), &limits), Some(Duration::from_millis(300)));
        assert_eq!(t.failed(ip, Some("x@h"), &limits), Some(Duration::from_millis(300)), "capped");
        assert_eq!(t.refusal(ip, "y@h"), None, "another name from the same address");
        assert_eq!(t.refusal("127.0.0.3".parse().unwrap(), "x@h"), None, "the same name from another address");
        t.succeeded(ip, "x@h");
        assert_eq!(t.refusal(ip, "x@h"), None);
    }

    #[test]
    fn rotating_names_meets_the_address_back_off_but_known_pairs_are_exempt() {
        let (t, limits) = (AuthThrottle::default(), limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        t.succeeded(ip, "honest@h");
        for i in 0..12 {
            t.failed(ip, Some(&format!("guess{i}@h")), &limits);
        }
        assert_eq!(t.refusal(ip, "guess99@h"), Some(Refusal::Address), "a new name from a guessing address");
        assert_eq!(t.refusal(ip, "honest@h"), None, "a name that authenticated here before");
    }

    #[test]
    fn certificate_failures_close_the_address_on_arrival() {
        let (t, limits) = (AuthThrottle::default(), limits());
        let ip: IpAddr = "::1".parse().unwrap();
        for _ in 0..3 {
            t.failed(ip, None, &limits);
        }
        assert!(t.transport_blocked(ip));
        assert_eq!(t.refusal(ip, "a@h"), None, "named checks are counted apart");
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest_first() {
        let t = AuthThrottle::with_capacity(8);
        let limits = Limits { auth_failures_before_backoff: 1, ..limits() };
        let first: IpAddr = "192.0.2.1".parse().unwrap();
        t.failed(first, None, &limits);
        assert!(t.transport_blocked(first));
        for i in 0..100u8 {
            t.failed(IpAddr::from([198, 51, 100, i]), None, &limits);
            assert!(t.tracked() <= 8);
        }
        assert!(!t.transport_blocked(first), "the oldest entry went first");
        let last = IpAddr::from([198, 51, 100, 99]);
        assert!(t.transport_blocked(last), "recent entries stay: no wholesale reset");
    }
}
