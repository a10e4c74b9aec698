//! What one peer may make this node do: the limits that keep a hostile or
//! broken peer from crashing, freezing or exhausting the node.
//!
//! A peer that crosses a limit loses its connection, with a log line naming
//! the limit; the node and every other connection carry on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use super::unread::UnreadBytes;
use crate::conn::ConnConfig;
use crate::proto::packet::ReassemblyLimits;
use crate::term::DecodeLimits;

/// Limits on what peers may make this node do. Every field has a documented
/// default; change them on [`NodeBuilder::limits`](super::NodeBuilder::limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest connected-mode packet accepted, before fragment reassembly.
    /// Default 128 MiB (OTP peers send at most 64 KiB fragments when FRAGMENTS
    /// is negotiated, which beamlink always offers).
    pub max_frame_size: usize,
    /// Deepest nesting of a received term. Default 512 (fits a 2 MiB stack
    /// with room to spare in debug builds).
    pub max_term_depth: usize,
    /// Estimated memory one received term may occupy once decoded. Default 256 MiB.
    pub max_decoded_bytes: usize,
    /// Distinct atoms one connection may introduce. Default 1,048,576 (OTP's
    /// whole atom table); a peer exceeding it is disconnected.
    pub max_atoms_per_connection: usize,
    /// Bytes the atoms one connection introduces may occupy: each counts as
    /// its text plus [`ATOM_OVERHEAD`](crate::term::ATOM_OVERHEAD). Default
    /// 32 MiB: about 500,000 short atoms, or 30,000 of the longest. A peer
    /// exceeding it is disconnected.
    pub max_atom_bytes_per_connection: usize,
    /// Fragmented messages one peer may have in flight at once. Default 64.
    pub max_fragment_sequences: usize,
    /// Bytes one peer may have this node hold in unfinished fragmented
    /// messages. Default 256 MiB.
    pub max_reassembly_bytes: usize,
    /// Time for a connection's transport handshake (TLS) and, separately,
    /// its distribution handshake. Default 7 s (OTP's `net_setuptime`).
    pub handshake_timeout: Duration,
    /// Incoming connections still in a handshake at once; more are closed on
    /// arrival. Default 64.
    pub max_pending_handshakes: usize,
    /// Incoming connections from one source address still in a handshake
    /// (transport or distribution) at once; more are closed on arrival, so
    /// one address cannot take the slots of [`Limits::max_pending_handshakes`]
    /// from others. Default 8.
    pub max_pending_handshakes_per_address: usize,
    /// Connections (up or being set up) at once. Default 1024.
    pub max_connections: usize,
    /// Failed cookie or certificate checks under one name from one address
    /// before that pair is put in back-off (see the node's `backoff` module
    /// for the whole design). Default 5.
    pub auth_failures_before_backoff: u32,
    /// The first back-off; the pair's attempts are refused at their first
    /// message meanwhile. Default 1 s.
    pub auth_backoff: Duration,
    /// The back-off doubles with each further failure up to this. Default 60 s.
    pub auth_backoff_max: Duration,
    /// Bytes of messages the node itself queues for one peer (exit signals,
    /// monitor exits, replies of shared services such as `rex`, `net_kernel`
    /// and `echo`) not yet taken by the writer. A peer that asks for more
    /// than it reads is disconnected when it crosses this. Default 8 MiB.
    pub max_queued_control_bytes: usize,
    /// Longest a write to a peer may make no progress before the peer is
    /// disconnected (a peer that never reads). Default 60 s.
    pub write_timeout: Duration,
    /// rpc calls (through `rex`) and spawn requests of one peer running at
    /// once; more are answered with `system_limit`. Default 256.
    pub max_requests_per_peer: usize,
    /// Links and monitors one peer may hold on this node's processes, each.
    /// A peer making more is disconnected. Default 131,072.
    pub max_links_per_peer: usize,
    /// Monitors one peer may hold on this node's processes. Default 131,072.
    pub max_monitors_per_peer: usize,
    /// Links and monitors from other nodes one local process may hold, each.
    /// A peer asking for more is disconnected. Default 65,536.
    pub max_remote_links_per_process: usize,
    /// Monitors from other nodes one local process may be watched by. Default 65,536.
    pub max_remote_monitors_per_process: usize,
    /// Messages a process's mailbox may hold before the connection that
    /// brings it more pauses: the message that fills it is delivered, and
    /// that peer's connection reads nothing more until the process has read
    /// half of its backlog (back-pressure, as a busy distribution port in
    /// OTP; the peer's own sends wait, nothing is dropped). Local senders are
    /// not limited. Default 65,536.
    pub max_mailbox_messages: usize,
    /// Bytes of one peer's messages that may wait unread in local mailboxes,
    /// all processes together, estimated as
    /// [`memory_estimate`](crate::term::memory_estimate) counts them. When
    /// they reach it, the peer's connection reads nothing more until its
    /// messages are read down to half (back-pressure again; nothing is
    /// dropped). A peer that writes to a process that never reads is held up
    /// by it. Default 16 MiB.
    pub max_unread_bytes_per_peer: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        let decode = DecodeLimits::default();
        let reassembly = ReassemblyLimits::default();
        Limits {
            max_frame_size: 128 << 20,
            max_term_depth: decode.max_depth,
            max_decoded_bytes: decode.max_decoded_bytes,
            max_atoms_per_connection: 1 << 20,
            max_atom_bytes_per_connection: 32 << 20,
            max_fragment_sequences: reassembly.max_open_sequences,
            max_reassembly_bytes: reassembly.max_reassembly_bytes,
            handshake_timeout: Duration::from_secs(7),
            max_pending_handshakes: 64,
            max_pending_handshakes_per_address: 8,
            max_connections: 1024,
            auth_failures_before_backoff: 5,
            auth_backoff: Duration::from_secs(1),
            auth_backoff_max: Duration::from_secs(60),
            max_queued_control_bytes: 8 << 20,
            write_timeout: Duration::from_secs(60),
            max_requests_per_peer: 256,
            max_links_per_peer: 128 << 10,
            max_monitors_per_peer: 128 << 10,
            max_remote_links_per_process: 64 << 10,
            max_remote_monitors_per_process: 64 << 10,
            max_mailbox_messages: 64 << 10,
            max_unread_bytes_per_peer: 16 << 20,
        }
    }
}

impl Limits {
    /// The settings of each connection: these limits, the node's tick time,
    /// and the connection layer's defaults for everything else. The only
    /// way a node's connections are configured, so no limit has a second
    /// place to be set.
    pub(crate) fn connection_config(&self, ticktime: Duration) -> ConnConfig {
        let defaults = ConnConfig::default();
        ConnConfig {
            ticktime,
            max_frame: self.max_frame_size,
            decode_limits: DecodeLimits {
                max_depth: self.max_term_depth,
                max_decoded_bytes: self.max_decoded_bytes,
                ..defaults.decode_limits.clone()
            },
            max_atoms: self.max_atoms_per_connection,
            max_atom_bytes: self.max_atom_bytes_per_connection,
            write_timeout: self.write_timeout,
            reassembly: ReassemblyLimits {
                max_open_sequences: self.max_fragment_sequences,
                max_reassembly_bytes: self.max_reassembly_bytes,
            },
            ..defaults
        }
    }
}

/// What one connected peer makes this node hold, counted against its limits.
/// Each unit is a [`Charge`] that gives itself back when dropped, so whatever
/// path removes a link, a monitor or a finished request, the count follows.
#[derive(Debug)]
pub(crate) struct PeerAccount {
    /// The peer is a beamlink node of the mesh (both sides advertised
    /// `DistFlags::BEAMLINK_MESH`): only then does the mesh process hear it.
    pub mesh_member: bool,
    links: std::sync::Arc<AtomicUsize>,
    monitors: std::sync::Arc<AtomicUsize>,
    requests: std::sync::Arc<AtomicUsize>,
    /// The bytes of its messages waiting in local mailboxes.
    pub unread: std::sync::Arc<UnreadBytes>,
}

/// Which of a peer's counts a [`Charge`] is against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// Links to local processes.
    Link,
    /// Monitors of local processes.
    Monitor,
    /// rpc calls and spawn requests running.
    Request,
}

impl Resource {
    /// The limit's name in [`Limits`].
    pub fn limit_name(self) -> &'static str {
        match self {
            Resource::Link => "max_links_per_peer",
            Resource::Monitor => "max_monitors_per_peer",
            Resource::Request => "max_requests_per_peer",
        }
    }

    fn limit(self, limits: &Limits) -> usize {
        match self {
            Resource::Link => limits.max_links_per_peer,
            Resource::Monitor => limits.max_monitors_per_peer,
            Resource::Request => limits.max_requests_per_peer,
        }
    }
}

/// One unit of a peer's count; given back on drop.
#[derive(Debug)]
pub(crate) struct Charge(std::sync::Arc<AtomicUsize>);

impl Drop for Charge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, AtomicOrdering::Relaxed);
    }
}

impl PeerAccount {
    /// A fresh account; `mesh_member` as the handshake's flags say.
    pub fn new(mesh_member: bool, limits: &Limits) -> PeerAccount {
        PeerAccount {
            mesh_member,
            links: Default::default(),
            monitors: Default::default(),
            requests: Default::default(),
            unread: UnreadBytes::new(limits.max_unread_bytes_per_peer),
        }
    }

    /// One more of `what`, unless the peer is at its limit.
    pub fn charge(&self, what: Resource, limits: &Limits) -> Option<Charge> {
        let counter = match what {
            Resource::Link => &self.links,
            Resource::Monitor => &self.monitors,
            Resource::Request => &self.requests,
        };
        let limit = what.limit(limits);
        counter
            .fetch_update(AtomicOrdering::Relaxed, AtomicOrdering::Relaxed, |n| (n < limit).then_some(n + 1))
            .ok()?;
        Some(Charge(counter.clone()))
    }

    /// How many of `what` the peer holds now.
    pub fn held(&self, what: Resource) -> usize {
        match what {
            Resource::Link => &self.links,
            Resource::Monitor => &self.monitors,
            Resource::Request => &self.requests,
        }
        .load(AtomicOrdering::Relaxed)
    }
}

/// Incoming handshakes in progress per source address, so that one address
/// cannot hold every pending-handshake slot. An entry lives only while it
/// holds a slot, so the table never outgrows the global pending limit.
#[derive(Debug, Default)]
pub(crate) struct PendingByAddress {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One pending handshake's place in [`PendingByAddress`]; given back on drop.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    table: std::sync::Arc<PendingByAddress>,
    addr: IpAddr,
}

impl PendingByAddress {
    /// A slot for `addr`, unless it already holds `limit`.
    pub fn try_take(self: &std::sync::Arc<Self>, addr: IpAddr, limit: usize) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(addr).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot { table: self.clone(), addr })
    }

    /// Slots `addr` holds now.
    #[cfg(test)]
    pub fn held(&self, addr: IpAddr) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(&addr).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_and_given_back_on_drop() {
        let limits = Limits { max_links_per_peer: 2, ..Limits::default() };
        let account = PeerAccount::new(false, &limits);
        let a = account.charge(Resource::Link, &limits).expect("first");
        let b = account.charge(Resource::Link, &limits).expect("second");
        assert!(account.charge(Resource::Link, &limits).is_none(), "over the limit");
        assert!(account.charge(Resource::Monitor, &limits).is_some(), "counts are separate");
        drop(a);
        assert_eq!(account.held(Resource::Link), 1);
        let _c = account.charge(Resource::Link, &limits).expect("room again");
        drop(b);
        assert_eq!(account.held(Resource::Link), 1);
    }

    #[test]
    fn pending_slots_are_counted_per_address_and_given_back() {
        let table = std::sync::Arc::new(PendingByAddress::default());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| table.try_take(a, 3).expect("a slot")).collect();
        assert!(table.try_take(a, 3).is_none(), "a fourth from the same address");
        let other = table.try_take(b, 3).expect("another address is not affected");
        drop(held);
        assert_eq!(table.held(a), 0);
        assert!(table.counts.lock().unwrap().len() == 1, "an address holding nothing leaves the table");
        drop(other);
        assert!(table.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn limits_reach_the_connection_config() {
        let limits =
            Limits { max_frame_size: 1000, max_term_depth: 7, max_atoms_per_connection: 9, ..Limits::default() };
        let conn = limits.connection_config(Duration::from_secs(9));
        assert_eq!((conn.max_frame, conn.decode_limits.max_depth, conn.max_atoms), (1000, 7, 9));
        assert_eq!(conn.ticktime, Duration::from_secs(9));
    }
}
