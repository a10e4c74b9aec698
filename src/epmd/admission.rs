//! Which connections the daemon keeps: its connection accounting, as a pure
//! table (no I/O, no clock).
//!
//! Two kinds of connection count against the global cap
//! ([`DaemonConfig::max_connections`](super::DaemonConfig::max_connections)):
//!
//! - *registrations*: a node's ALIVE2 connection once its request has been
//!   read, held for the node's lifetime. They are bounded by the name cap and
//!   served only to local peers (unless the relaxed command check is on),
//!   every node on a host holds one from loopback, and closing one would
//!   unregister a live node; so they are never closed to make room and do not
//!   count against the per-source cap.
//! - *requests*: every other connection, that is one that has not delivered a
//!   complete request yet or is being answered. Honest ones last one round
//!   trip; a stalled one lasts until the packet timeout. They are also counted
//!   per source ([`source_of`]) against
//!   [`DaemonConfig::max_connections_per_address`](super::DaemonConfig::max_connections_per_address).
//!
//! A new connection from source S is admitted as a request, and if that
//! crosses a cap, one request is closed to make room:
//!
//! 1. S already holds the per-source cap: S's own oldest request is closed.
//!    A flood from one source only ever displaces itself, and an honest
//!    client sharing S's address still gets in (its connection is the newest).
//! 2. The table is full: the oldest request of the source that holds the
//!    most requests (S counted with the newcomer; ties go to the source whose
//!    oldest request is oldest) is closed. A source holding less than the
//!    biggest share always gets in at the biggest one's expense.
//!
//! The newcomer is refused only when nothing can make room: the per-source
//! cap is 0, or every slot holds a registration.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};

/// What [`ConnectionTable::admit`] decided.
#[derive(Debug)]
pub(crate) enum Admission<T> {
    /// Admitted; no cap was crossed.
    Admitted,
    /// Admitted in place of another request, which is to be closed.
    Displaced(Displaced<T>),
    /// Refused: nothing could make room.
    Refused,
}

/// A request closed to make room for a new connection.
#[derive(Debug)]
pub(crate) struct Displaced<T> {
    /// The token it was admitted with; dropping it tells the connection to close.
    pub(crate) token: T,
    /// Its source.
    pub(crate) source: IpAddr,
    /// Its connection id.
    pub(crate) id: u64,
    /// Which cap made room necessary.
    pub(crate) cap: Cap,
}

/// The caps of a [`ConnectionTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cap {
    /// The cap on requests from one source.
    PerSource,
    /// The cap on all connections.
    Total,
}

/// Open connections: registrations by count, requests by source and age.
#[derive(Debug)]
pub(crate) struct ConnectionTable<T> {
    /// Requests per source, oldest first (ids only grow).
    requests: HashMap<IpAddr, VecDeque<(u64, T)>>,
    request_count: usize,
    registrations: usize,
    max_total: usize,
    max_per_source: usize,
}

/// The source a connection from `peer` is accounted to: an IPv4 address
/// (IPv4-mapped IPv6 addresses count as the IPv4 address they carry), an
/// IPv6 loopback or link-local address as is, and any other IPv6 address as
/// its /64 prefix, the block one host or one LAN is normally given.
pub(crate) fn source_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) if !v6.is_loopback() && !v6.is_unicast_link_local() => {
            IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX)))
        }
        other => other,
    }
}

impl<T> ConnectionTable<T> {
    /// An empty table for at most `max_total` connections, of which at most
    /// `max_per_source` requests from one source.
    pub(crate) fn new(max_total: usize, max_per_source: usize) -> ConnectionTable<T> {
        ConnectionTable { requests: HashMap::new(), request_count: 0, registrations: 0, max_total, max_per_source }
    }

    /// Admits connection `id` (ids must grow) from `source` (see
    /// [`source_of`]) as a request, keeping `token` until it ends; see the
    /// module documentation for who makes room when a cap is crossed.
    pub(crate) fn admit(&mut self, source: IpAddr, id: u64, token: T) -> Admission<T> {
        let own = self.requests.get(&source).map_or(0, VecDeque::len);
        let displaced = if own >= self.max_per_source {
            match self.evict_oldest(source, Cap::PerSource) {
                Some(displaced) => Some(displaced),
                None => return Admission::Refused,
            }
        } else if self.total() >= self.max_total {
            match self.biggest_source(source, own + 1).and_then(|victim| self.evict_oldest(victim, Cap::Total)) {
                Some(displaced) => Some(displaced),
                None => return Admission::Refused,
            }
        } else {
            None
        };
        self.requests.entry(source).or_default().push_back((id, token));
        self.request_count += 1;
        displaced.map_or(Admission::Admitted, Admission::Displaced)
    }

    /// Of the sources holding requests, the one holding the most, counting
    /// `newcomer` as holding `newcomer_count`; ties go to the source with the
    /// oldest request. None when no request is open (a newcomer holding none
    /// yet is not a candidate: it has nothing to give up).
    fn biggest_source(&self, newcomer: IpAddr, newcomer_count: usize) -> Option<IpAddr> {
        let mut best: Option<(usize, u64, IpAddr)> = None;
        for (source, queue) in &self.requests {
            let Some(&(oldest, _)) = queue.front() else { continue };
            let count = if *source == newcomer { newcomer_count } else { queue.len() };
            if best.is_none_or(|(c, o, _)| count > c || (count == c && oldest < o)) {
                best = Some((count, oldest, *source));
            }
        }
        best.map(|(_, _, source)| source)
    }

    fn evict_oldest(&mut self, source: IpAddr, cap: Cap) -> Option<Displaced<T>> {
        let queue = self.requests.get_mut(&source)?;
        let (id, token) = queue.pop_front()?;
        if queue.is_empty() {
            self.requests.remove(&source);
        }
        self.request_count -= 1;
        Some(Displaced { token, source, id, cap })
    }

    /// Turns request `id` into a registration and gives back its token. None
    /// (and no change) if it is no longer in the table: it was displaced.
    pub(crate) fn hold(&mut self, source: IpAddr, id: u64) -> Option<T> {
        let token = self.remove_request(source, id)?;
        self.registrations += 1;
        Some(token)
    }

    /// Forgets request `id` (it ended); nothing if it had been displaced.
    pub(crate) fn end_request(&mut self, source: IpAddr, id: u64) {
        drop(self.remove_request(source, id));
    }

    /// Forgets one registration (it ended).
    pub(crate) fn end_registration(&mut self) {
        self.registrations = self.registrations.saturating_sub(1);
    }

    fn remove_request(&mut self, source: IpAddr, id: u64) -> Option<T> {
        let queue = self.requests.get_mut(&source)?;
        let i = queue.iter().position(|(queued, _)| *queued == id)?;
        let (_, token) = queue.remove(i)?;
        if queue.is_empty() {
            self.requests.remove(&source);
        }
        self.request_count -= 1;
        Some(token)
    }

    /// Connections counted against the global cap: requests and registrations.
    pub(crate) fn total(&self) -> usize {
        self.request_count + self.registrations
    }

    /// Requests from `source` right now.
    #[cfg(test)]
    pub(crate) fn requests_from(&self, source: IpAddr) -> usize {
        self.requests.get(&source).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The id and source of the request a decision displaced, if any.
    fn displaced(admission: Admission<u64>) -> Option<(u64, IpAddr, Cap)> {
        match admission {
            Admission::Admitted => None,
            Admission::Displaced(d) => {
                assert_eq!(d.token, d.id, "the token of another connection came back");
                Some((d.id, d.source, d.cap))
            }
            Admission::Refused => panic!("refused"),
        }
    }

    /// Admits `id` from `source` with the id as its token.
    fn admit(table: &mut ConnectionTable<u64>, source: &str, id: u64) -> Option<(u64, IpAddr, Cap)> {
        displaced(table.admit(ip(source), id, id))
    }

    #[test]
    fn sources_are_addresses_and_ipv6_slash_64s() {
        assert_eq!(source_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(source_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(source_of(ip("127.0.0.2")), ip("127.0.0.2"));
        assert_eq!(source_of(ip("::1")), ip("::1"));
        assert_eq!(source_of(ip("fe80::1:2:3:4")), ip("fe80::1:2:3:4"));
        assert_eq!(source_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_eq!(source_of(ip("2001:db8:1:2::9")), source_of(ip("2001:db8:1:2:ffff::")));
        assert_ne!(source_of(ip("2001:db8:1:2::9")), source_of(ip("2001:db8:1:3::9")));
    }

    #[test]
    fn under_the_caps_everyone_is_admitted() {
        let mut t = ConnectionTable::new(10, 4);
        for id in 0..4 {
            assert_eq!(admit(&mut t, "10.0.0.1", id), None);
        }
        assert_eq!(admit(&mut t, "10.0.0.2", 4), None);
        assert_eq!(t.total(), 5);
        assert_eq!(t.requests_from(ip("10.0.0.1")), 4);
        t.end_request(ip("10.0.0.1"), 2);
        t.end_request(ip("10.0.0.2"), 4);
        assert_eq!(t.total(), 3);
        assert_eq!(t.requests_from(ip("10.0.0.2")), 0);
    }

    #[test]
    fn a_source_at_its_cap_displaces_its_own_oldest_request() {
        let mut t = ConnectionTable::new(100, 3);
        admit(&mut t, "127.0.0.1", 0);
        for id in 1..4 {
            admit(&mut t, "127.0.0.2", id);
        }
        for id in 4..50 {
            let (gone, from, cap) = admit(&mut t, "127.0.0.2", id).expect("over the per-source cap");
            assert_eq!((gone, from, cap), (id - 3, ip("127.0.0.2"), Cap::PerSource));
            assert_eq!(t.requests_from(ip("127.0.0.2")), 3);
        }
        // The other source was never touched, and the flood holds its share only.
        assert_eq!(t.requests_from(ip("127.0.0.1")), 1);
        assert_eq!(t.total(), 4);
        // A displaced request that ends later changes nothing.
        t.end_request(ip("127.0.0.2"), 1);
        assert_eq!(t.total(), 4);
    }

    #[test]
    fn a_full_table_displaces_the_biggest_sources_oldest_request() {
        let mut t = ConnectionTable::new(6, 4);
        // a: 3 (ids 0, 2, 4), b: 2 (ids 1, 3), c: 1 (id 5).
        for (id, source) in ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"].iter().enumerate()
        {
            admit(&mut t, source, id as u64);
        }
        assert_eq!(t.total(), 6);
        // A newcomer displaces a's oldest.
        assert_eq!(admit(&mut t, "10.0.0.9", 6), Some((0, ip("10.0.0.1"), Cap::Total)));
        // a and b now hold 2 each; the tie goes to the oldest request (b's id 1).
        assert_eq!(admit(&mut t, "10.0.0.8", 7), Some((1, ip("10.0.0.2"), Cap::Total)));
        // a source at the top displaces its own oldest (a: ids 2, 4 and the newcomer).
        assert_eq!(admit(&mut t, "10.0.0.1", 8), Some((2, ip("10.0.0.1"), Cap::Total)));
        assert_eq!(t.total(), 6);
    }

    #[test]
    fn many_sources_of_one_each_displace_the_oldest_first() {
        let mut t = ConnectionTable::new(4, 4);
        for id in 0..4 {
            admit(&mut t, &format!("10.0.1.{id}"), id);
        }
        for id in 4..20 {
            let (gone, _, _) = admit(&mut t, &format!("10.0.1.{id}"), id).expect("full");
            assert_eq!(gone, id - 4, "not the oldest");
        }
    }

    #[test]
    fn registrations_count_but_are_never_displaced() {
        let mut t = ConnectionTable::new(4, 2);
        for id in 0..3 {
            t.admit(ip("127.0.0.1"), id, id);
            assert_eq!(t.hold(ip("127.0.0.1"), id), Some(id));
        }
        // Registrations do not count against the per-source cap.
        assert_eq!(admit(&mut t, "127.0.0.1", 3), None);
        assert_eq!(t.total(), 4);
        // Full: the only request makes room, whichever source comes.
        assert_eq!(admit(&mut t, "127.0.0.2", 4), Some((3, ip("127.0.0.1"), Cap::Total)));
        assert_eq!(t.hold(ip("127.0.0.2"), 4), Some(4));
        // Only registrations left: nothing can make room.
        assert!(matches!(t.admit(ip("127.0.0.3"), 5, 5), Admission::Refused));
        assert_eq!(t.total(), 4);
        t.end_registration();
        assert_eq!(admit(&mut t, "127.0.0.3", 6), None);
    }

    #[test]
    fn a_displaced_request_cannot_become_a_registration() {
        let mut t = ConnectionTable::new(10, 1);
        t.admit(ip("127.0.0.1"), 0, 0);
        assert_eq!(admit(&mut t, "127.0.0.1", 1), Some((0, ip("127.0.0.1"), Cap::PerSource)));
        assert_eq!(t.hold(ip("127.0.0.1"), 0), None);
        assert_eq!(t.total(), 1);
        assert_eq!(t.hold(ip("127.0.0.1"), 1), Some(1));
        assert_eq!(t.total(), 1);
    }

    #[test]
    fn zero_caps_refuse() {
        let mut t: ConnectionTable<()> = ConnectionTable::new(10, 0);
        assert!(matches!(t.admit(ip("127.0.0.1"), 0, ()), Admission::Refused));
        let mut t: ConnectionTable<()> = ConnectionTable::new(0, 10);
        assert!(matches!(t.admit(ip("127.0.0.1"), 0, ()), Admission::Refused));
        assert_eq!(t.total(), 0);
    }

    #[test]
    fn the_total_never_exceeds_the_cap() {
        // A deterministic mix of arrivals, ends and registrations from a few sources.
        let mut t = ConnectionTable::new(16, 5);
        let mut live: Vec<(IpAddr, u64)> = Vec::new();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for id in 0..5000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let source = IpAddr::from([10, 0, 0, (state % 7) as u8]);
            match state % 5 {
                0 if !live.is_empty() => {
                    let (s, i) = live.swap_remove((state as usize / 5) % live.len());
                    t.end_request(s, i);
                }
                1 if !live.is_empty() && t.registrations < 4 => {
                    let (s, i) = live.swap_remove((state as usize / 5) % live.len());
                    t.hold(s, i);
                }
                _ => {
                    if let Admission::Displaced(d) = t.admit(source, id, ()) {
                        live.retain(|&(_, i)| i != d.id);
                    }
                    live.push((source, id));
                }
            }
            assert!(t.total() <= 16, "{} connections", t.total());
            assert!(t.requests.values().all(|q| q.len() <= 5));
            assert_eq!(t.request_count, t.requests.values().map(VecDeque::len).sum::<usize>());
        }
    }
}
