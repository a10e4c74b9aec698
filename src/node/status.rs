//! What a node can say about itself: its connections (peer, identity,
//! transport, TLS session, flags, since when, bytes, messages and ticks each
//! way, queue depth) and its failed connection set-ups by kind since it
//! started. [`Node::status`] gives it to Rust; `beamlink:status/0` gives it
//! to other nodes as a term (what `beamlink status NODE` prints).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use super::{ConnectFailure, Node};
use crate::conn::{ConnError, Counters};
use crate::proto::{DistFlags, NodeName};
use crate::term::Term;
use crate::transport::PeerIdentity;

/// One connection, as [`Node::status`] reports it.
#[derive(Clone, Debug)]
pub struct ConnectionStatus {
    /// The peer.
    pub peer: NodeName,
    /// Whether this node dialled it.
    pub outgoing: bool,
    /// Whether the peer is listed in `nodes()`.
    pub visible: bool,
    /// The transport (`tcp`, `tls`).
    pub transport: &'static str,
    /// The peer's certificate (subject and serial) under TLS.
    pub certificate: Option<CertificateSummary>,
    /// What protects the stream (TLS version and cipher suite), if anything.
    pub security: Option<String>,
    /// The distribution flags both sides agreed.
    pub flags: DistFlags,
    /// The peer's creation.
    pub creation: u32,
    /// When the connection came up.
    pub since: SystemTime,
    /// Bytes, messages and ticks each way.
    pub counters: Counters,
    /// Bytes queued for the peer and not yet written.
    pub queued_bytes: usize,
}

/// Who a peer's certificate says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The subject, one-line form (`CN=alice@host`).
    pub subject: String,
    /// The serial number in hex.
    pub serial: String,
}

/// A node's connections and failed set-ups.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// The node.
    pub node: NodeName,
    /// Its connections that are up, by peer name.
    pub connections: Vec<ConnectionStatus>,
    /// Failed set-ups since it started, by direction (`incoming`,
    /// `outgoing`) and kind ([`ConnectFailure::as_str`]).
    pub setup_failures: BTreeMap<(&'static str, &'static str), u64>,
}

/// The tally of failed set-ups.
#[derive(Debug, Default)]
pub(crate) struct SetupFailures(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl SetupFailures {
    /// Counts one failed set-up.
    pub(crate) fn count(&self, incoming: bool, kind: ConnectFailure) {
        let direction = if incoming { "incoming" } else { "outgoing" };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()).entry((direction, kind.as_str())).or_default() += 1;
    }

    /// Counts a failed set-up by its cause.
    pub(crate) fn count_cause(&self, incoming: bool, cause: &ConnError) {
        self.count(incoming, ConnectFailure::of(cause));
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Node {
    /// This node's connections and failed set-ups, now.
    pub fn status(&self) -> NodeStatus {
        let transport = self.inner.transport.name();
        let mut connections: Vec<ConnectionStatus> = self
            .inner
            .conns
            .all_up()
            .into_iter()
            .map(|c| ConnectionStatus {
                peer: c.peer.clone(),
                outgoing: c.direction == super::connections::Direction::Outgoing,
                visible: c.is_visible(),
                transport,
                certificate: certificate_summary(&c.identity),
                security: c.security.as_deref().map(str::to_string),
                flags: c.flags,
                creation: c.creation,
                since: c.since,
                counters: c.stats.snapshot(),
                queued_bytes: c.queue.queued_bytes(),
            })
            .collect();
        connections.sort_by(|a, b| a.peer.as_str().cmp(b.peer.as_str()));
        NodeStatus { node: self.inner.name.clone(), connections, setup_failures: self.inner.setup_failures.snapshot() }
    }
}

#[cfg(feature = "tls")]
fn certificate_summary(identity: &PeerIdentity) -> Option<CertificateSummary> {
    let PeerIdentity::Certificate(chain) = identity else { return None };
    let info = crate::pki::CertInfo::from_der(chain.first()?).ok()?;
    Some(CertificateSummary { subject: info.subject, serial: info.serial })
}

#[cfg(not(feature = "tls"))]
fn certificate_summary(_identity: &PeerIdentity) -> Option<CertificateSummary> {
    None
}

impl NodeStatus {
    /// The status as a term: `#{node => N, connections => [#{peer => P, ...}],
    /// setup_failures => [{Direction, Kind, Count}]}`, what `beamlink:status/0`
    /// answers.
    pub fn to_term(&self) -> Term {
        let key = |k: &str| Term::atom(k);
        let int = |n: u64| Term::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let text = |s: &str| Term::binary(s.as_bytes().to_vec());
        let connections = self
            .connections
            .iter()
            .map(|c| {
                let mut entries = vec![
                    (key("peer"), Term::Atom(c.peer.atom().clone())),
                    (key("direction"), Term::atom(if c.outgoing { "outgoing" } else { "incoming" })),
                    (key("visible"), Term::atom(if c.visible { "true" } else { "false" })),
                    (key("transport"), Term::atom(c.transport)),
                    (key("flags"), int(c.flags.bits())),
                    (key("creation"), int(u64::from(c.creation))),
                    (key("since"), int(unix_seconds(c.since))),
                    (key("bytes_in"), int(c.counters.bytes_in)),
                    (key("bytes_out"), int(c.counters.bytes_out)),
                    (key("messages_in"), int(c.counters.messages_in)),
                    (key("messages_out"), int(c.counters.messages_out)),
                    (key("ticks_in"), int(c.counters.ticks_in)),
                    (key("ticks_out"), int(c.counters.ticks_out)),
                    (key("queued_bytes"), int(c.queued_bytes as u64)),
                ];
                if let Some(security) = &c.security {
                    entries.push((key("security"), text(security)));
                }
                if let Some(cert) = &c.certificate {
                    entries.push((key("certificate_subject"), text(&cert.subject)));
                    entries.push((key("certificate_serial"), text(&cert.serial)));
                }
                Term::map(entries)
            })
            .collect();
        let failures = self
            .setup_failures
            .iter()
            .map(|((direction, kind), n)| Term::Tuple(vec![Term::atom(direction), Term::atom(kind), int(*n)]))
            .collect();
        Term::map(vec![
            (key("node"), Term::Atom(self.node.atom().clone())),
            (key("connections"), Term::List(connections)),
            (key("setup_failures"), Term::List(failures)),
        ])
    }
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
