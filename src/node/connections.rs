//! The connection table (the role of OTP's `net_kernel`): one connection per
//! peer, set up on demand, simultaneous connects resolved by name order, and
//! node up/down bookkeeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::{ConnectError, NodeEvent, NodeInner};
use crate::conn::{self, ConnError, OutQueue, Running};
use crate::proto::handshake::{AcceptDecision, HandshakeError};
use crate::proto::{DistFlags, NodeName};
use crate::term::Atom;
use crate::transport::{BoxStream, Incoming, Listener, PeerIdentity, SetupTimeouts};

/// A connection that is up.
pub(crate) struct PeerConn {
    pub id: u64,
    pub peer: NodeName,
    pub flags: DistFlags,
    pub creation: u32,
    /// Listed in `nodes()`: the peer advertised PUBLISHED (Erlang), or said
    /// hello as a visible beamlink node.
    pub visible: AtomicBool,
    /// The peer is a beamlink node taking part in the mesh.
    pub beamlink: AtomicBool,
    pub identity: PeerIdentity,
    /// What protects the stream (TLS version and suite), if anything.
    pub security: Option<Arc<str>>,
    /// When the connection came up.
    pub since: std::time::SystemTime,
    /// Its counters.
    pub stats: Arc<conn::ConnStats>,
    /// Which side started the connection.
    pub direction: Direction,
    pub queue: Arc<OutQueue>,
    running: Running,
}

impl PeerConn {
    /// Whether the peer is listed in `nodes()`.
    pub fn is_visible(&self) -> bool {
        self.visible.load(Ordering::Acquire)
    }

    /// Whether the peer is a visible beamlink node of the mesh.
    pub fn is_mesh_member(&self) -> bool {
        self.is_visible() && self.beamlink.load(Ordering::Acquire)
    }
}

#[derive(Clone, Debug)]
enum SetupStatus {
    InProgress,
    Up,
    Failed(Arc<ConnError>),
}

struct Pending {
    /// Our own dial that owns the entry. Incoming attempts make no entry
    /// until they have authenticated (see `decide_incoming`).
    owner: u64,
    /// The dial's task, stopped when an authenticated incoming connection
    /// from the same node takes the entry over.
    dial: AbortHandle,
    queue: Arc<OutQueue>,
    status: watch::Sender<SetupStatus>,
}

enum Entry {
    Pending(Pending),
    Up(Arc<PeerConn>),
}

/// What the transport verified of a new connection's peer, and what protects it.
struct Verified {
    identity: PeerIdentity,
    security: Option<Arc<str>>,
}

/// Which side started a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Outgoing,
    Incoming,
}

/// The table of connections, keyed by peer node name.
/// How often [`Connections::flush_all`] looks at the queues again.
const FLUSH_POLL: Duration = Duration::from_millis(2);

#[derive(Default)]
pub(crate) struct Connections {
    map: Mutex<HashMap<Atom, Entry>>,
    ids: AtomicU64,
    /// Incoming handshakes under way, by claimed name: a dial waits for them.
    claims: Arc<super::incoming_claims::IncomingClaims>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, HashMap<Atom, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Peers with an up connection that satisfy `filter`.
    pub fn peers(&self, filter: impl Fn(&PeerConn) -> bool) -> Vec<NodeName> {
        let mut peers: Vec<NodeName> = self
            .lock()
            .values()
            .filter_map(|e| match e {
                Entry::Up(c) if filter(c) => Some(c.peer.clone()),
                _ => None,
            })
            .collect();
        peers.sort();
        peers
    }

    /// The negotiated flags of an up connection.
    pub fn flags_of(&self, node: &Atom) -> Option<DistFlags> {
        match self.lock().get(node) {
            Some(Entry::Up(c)) => Some(c.flags),
            _ => None,
        }
    }

    /// Every connection that is up.
    pub fn all_up(&self) -> Vec<Arc<PeerConn>> {
        self.lock()
            .values()
            .filter_map(|e| match e {
                Entry::Up(c) => Some(c.clone()),
                Entry::Pending(_) => None,
            })
            .collect()
    }

    /// The up connection to `node`.
    pub fn get(&self, node: &Atom) -> Option<Arc<PeerConn>> {
        match self.lock().get(node) {
            Some(Entry::Up(c)) => Some(c.clone()),
            _ => None,
        }
    }

    fn is_up(&self, node: &Atom) -> bool {
        matches!(self.lock().get(node), Some(Entry::Up(_)))
    }

    /// The queue for messages to `node`, starting a connection if there is none.
    pub fn queue_for(&self, node_inner: &NodeInner, node: &Atom) -> Result<Arc<OutQueue>, ConnectError> {
        if let Some(entry) = self.lock().get(node) {
            return Ok(match entry {
                Entry::Up(c) => c.queue.clone(),
                Entry::Pending(p) => p.queue.clone(),
            });
        }
        node_inner.start_dial(node).map(|(queue, _)| queue)
    }

    /// The outgoing queue of the connection to `node` if it is up.
    pub fn up_queue(&self, node: &Atom) -> Option<Arc<OutQueue>> {
        match self.lock().get(node) {
            Some(Entry::Up(c)) => Some(c.queue.clone()),
            _ => None,
        }
    }

    /// Closes the connection to `node` whose queue is `queue` (up, or still
    /// being set up): the node holds nothing more for it.
    pub fn close_peer(&self, node: &Atom, queue: &Arc<OutQueue>) {
        let up = match self.lock().get(node) {
            Some(Entry::Up(c)) if Arc::ptr_eq(&c.queue, queue) => Some(c.clone()),
            _ => None,
        };
        match up {
            Some(c) => c.running.close(),
            None => queue.close(),
        }
    }

    /// Closes every connection and abandons every attempt.
    /// Waits until every established connection has written what is queued
    /// for it, or until `within` has passed: so that exit signals queued at
    /// shutdown reach the peers before the connections close.
    pub async fn flush_all(&self, within: Duration) {
        let queues: Vec<Arc<OutQueue>> = self
            .lock()
            .values()
            .filter_map(|entry| match entry {
                Entry::Up(c) => Some(c.queue.clone()),
                Entry::Pending(_) => None,
            })
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        for queue in queues {
            while queue.queued_bytes() > 0 && !queue.is_closed() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(FLUSH_POLL).await;
            }
        }
    }

    pub fn close_all(&self) {
        let entries: Vec<Entry> = self.lock().drain().map(|(_, e)| e).collect();
        for entry in entries {
            match entry {
                Entry::Up(c) => c.running.close(),
                Entry::Pending(p) => {
                    p.dial.abort();
                    p.queue.close();
                    let _ = p
                        .status
                        .send(SetupStatus::Failed(Arc::new(ConnError::Local("the node is shutting down".into()))));
                }
            }
        }
    }
}

impl NodeInner {
    /// An outgoing queue for a new connection, with the node's bounds.
    fn new_queue(&self) -> Arc<OutQueue> {
        Arc::new(OutQueue::new(self.options.send_queue_high_water, self.limits.max_queued_control_bytes))
    }

    /// Starts dialling `node` unless an entry exists; returns the entry's queue
    /// and a receiver for the setup status.
    fn start_dial(&self, node: &Atom) -> Result<(Arc<OutQueue>, Option<watch::Receiver<SetupStatus>>), ConnectError> {
        if node == self.name.atom() {
            return Err(ConnectError::ToSelf);
        }
        let peer = NodeName::try_from(node).map_err(|e| ConnectError::BadName(e.to_string()))?;
        peer.dialable_from(self.mode)?;
        let mut map = self.conns.lock();
        match map.get(node) {
            Some(Entry::Up(c)) => return Ok((c.queue.clone(), None)),
            Some(Entry::Pending(p)) => return Ok((p.queue.clone(), Some(p.status.subscribe()))),
            None => {}
        }
        if map.len() >= self.limits.max_connections {
            return Err(ConnectError::ConnectionLimit { node: node.to_string(), limit: self.limits.max_connections });
        }
        let Some(me) = self.self_ref.upgrade() else { return Err(ConnectError::ShuttingDown(node.to_string())) };
        let attempt = self.conns.next_id();
        let queue = self.new_queue();
        let (status, rx) = watch::channel(SetupStatus::InProgress);
        let task = self.runtime.spawn(me.dial(peer, attempt));
        map.insert(
            node.clone(),
            Entry::Pending(Pending { owner: attempt, dial: task.abort_handle(), queue: queue.clone(), status }),
        );
        Ok((queue, Some(rx)))
    }

    /// Makes sure a connection to `node` exists or is being set up.
    pub(crate) fn ensure_connection(&self, node: &Atom) {
        if let Err(reason) = self.conns.queue_for(self, node) {
            tracing::debug!(%node, %reason, "cannot connect");
            self.node_down_cleanup(node);
        }
    }

    /// Connects to `peer` and waits for the outcome.
    pub(crate) async fn connect(&self, peer: &NodeName) -> Result<(), ConnectError> {
        let failed = |cause: Arc<ConnError>| ConnectError::Failed { node: peer.to_string(), cause };
        let (_, status) = self.start_dial(peer.atom())?;
        let Some(mut status) = status else { return Ok(()) };
        let outcome = status.wait_for(|s| !matches!(s, SetupStatus::InProgress)).await.map(|s| s.clone());
        match outcome {
            Ok(SetupStatus::Up) => Ok(()),
            Ok(SetupStatus::Failed(cause)) => Err(failed(cause)),
            Ok(SetupStatus::InProgress) | Err(_) => {
                if self.conns.is_up(peer.atom()) {
                    Ok(())
                } else {
                    Err(failed(Arc::new(ConnError::Local("the attempt was abandoned".into()))))
                }
            }
        }
    }

    /// Closes the connection to `node` (and stops keeping it connected).
    pub(crate) fn disconnect(&self, node: &str) -> bool {
        let Ok(atom) = Atom::try_new(node) else { return false };
        self.forget_persistent(&atom);
        match self.conns.get(&atom) {
            Some(c) => {
                c.running.close();
                true
            }
            None => false,
        }
    }

    /// The outgoing side: resolve, connect, handshake, then hand over.
    async fn dial(self: Arc<Self>, peer: NodeName, attempt: u64) {
        if self.conns.claims.is_claimed(peer.atom()) {
            // The peer may be connecting to us right now: let its attempt
            // finish first (it takes this dial's place if it completes).
            tracing::debug!(%peer, "an incoming attempt from the peer is under way: the dial waits for it");
            let _ = tokio::time::timeout(self.limits.handshake_timeout, self.conns.claims.settled(peer.atom())).await;
        }
        match self.dial_handshake(&peer).await {
            Ok((stream, leftover, est, verified)) => {
                self.connection_established(attempt, Direction::Outgoing, stream, leftover, est, verified);
            }
            Err(ConnError::Handshake(HandshakeError::Nok { .. })) => {
                // The peer's own attempt wins; it arrives as an incoming
                // connection that takes this entry over. Give it the setup time.
                tracing::debug!(%peer, "simultaneous connect: the peer's attempt wins");
                tokio::time::sleep(self.limits.handshake_timeout).await;
                let why = ConnError::Local("the peer's simultaneous attempt did not complete".into());
                self.setup_failed(peer.atom(), attempt, why);
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "connection attempt failed");
                self.setup_failures.count_cause(false, &e);
                self.setup_failed(peer.atom(), attempt, e);
            }
        }
    }

    async fn dial_handshake(
        &self,
        peer: &NodeName,
    ) -> Result<(BoxStream, bytes::BytesMut, crate::proto::handshake::Established, Verified), ConnError> {
        let timeout = self.options.connect_timeout;
        let resolved = tokio::time::timeout(timeout, self.resolver.resolve(peer))
            .await
            .map_err(|_| ConnError::SetupTimeout { what: format!("looking up {peer}"), after: timeout })??;
        let timeouts = SetupTimeouts::new(timeout, self.limits.handshake_timeout);
        let established = tokio::time::timeout(timeouts.total(), self.transport.connect(resolved.addr, peer, timeouts))
            .await
            .map_err(|_| ConnError::SetupTimeout {
                what: format!("connecting to {peer} at {} ({} transport)", resolved.addr, self.transport.name()),
                after: timeouts.total(),
            })??;
        // The dialled name is known: check the verified identity against it
        // before saying anything (TLS: the server's certificate must be good for it).
        if let Err(e) = self.transport.authorize(&established.identity, peer) {
            tracing::warn!(%peer, transport = self.transport.name(), error = %e, "refused the peer's identity");
            return Err(e.into());
        }
        let mut stream = established.stream;
        let (est, leftover) = conn::handshake::initiate(
            &mut stream,
            self.transport.handshake_framing(),
            self.handshake.clone(),
            peer.clone(),
            self.limits.handshake_timeout,
            async || {
                if self.options.yield_to_live_connections {
                    return true;
                }
                // The peer says it has a connection to us already. If it is
                // one we are accepting right now, let that finish first, so
                // that the answer is not given in the moment between the
                // peer's end coming up and ours.
                let _ =
                    tokio::time::timeout(self.limits.handshake_timeout, self.conns.claims.settled(peer.atom())).await;
                self.conns.is_up(peer.atom())
            },
        )
        .await?;
        Ok((stream, leftover, est, Verified { identity: established.identity, security: established.security }))
    }

    /// The accepting side of one incoming connection; `_permit` holds its
    /// place among the pending handshakes until it is done.
    pub(crate) async fn accept_one(
        self: Arc<Self>,
        incoming: Incoming,
        _permit: tokio::sync::OwnedSemaphorePermit,
        _address_slot: super::limits::AddressSlot,
    ) {
        let peer_addr = incoming.peer_addr;
        let timeout = self.limits.handshake_timeout;
        let established = match tokio::time::timeout(timeout, incoming.finish()).await {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::warn!(%peer_addr, transport = self.transport.name(), error = %e, "refused an incoming connection");
                if matches!(e, crate::transport::TransportError::Identity(_)) {
                    self.auth_failed(peer_addr.ip(), None);
                }
                self.setup_failures.count_cause(true, &ConnError::Transport(e));
                return;
            }
            Err(_) => {
                tracing::warn!(%peer_addr, transport = self.transport.name(), "incoming connection: the transport handshake timed out after {timeout:?}");
                self.setup_failures.count(true, super::ConnectFailure::Timeout);
                return;
            }
        };
        let identity = established.identity;
        let security = established.security;
        let mut stream = established.stream;
        let attempt = self.conns.next_id();
        let mut claimed: Option<NodeName> = None;
        let mut claim = None;
        let mut identity_refused = false;
        let result = conn::handshake::accept(
            &mut stream,
            self.transport.handshake_framing(),
            self.handshake.clone(),
            timeout,
            |hello| {
                claimed = Some(hello.name.clone());
                if let Some(refusal) = self.auth_throttle.refusal(peer_addr.ip(), hello.name.as_str()) {
                    tracing::debug!(%peer_addr, peer = %hello.name, ?refusal, "refused an attempt in authentication back-off");
                    return AcceptDecision::NotAllowed;
                }
                // The claimed name must be one the verified identity allows
                // (TLS: the client certificate's node names); refuse before
                // the challenge otherwise.
                if let Err(e) = self.transport.authorize(&identity, &hello.name) {
                    tracing::warn!(%peer_addr, peer = %hello.name, transport = self.transport.name(), error = %e, "refused the peer's identity");
                    identity_refused = true;
                    return AcceptDecision::NotAllowed;
                }
                let decision = self.decide_incoming(&hello.name);
                if decision.continues() {
                    claim = Some(self.conns.claims.claim(hello.name.atom()));
                }
                decision
            },
        )
        .await;
        match result {
            Ok((est, leftover)) => {
                self.auth_throttle.succeeded(peer_addr.ip(), est.peer.as_str());
                let verified = Verified { identity, security };
                self.connection_established(attempt, Direction::Incoming, stream, leftover, est, verified);
            }
            Err(e) => {
                if identity_refused
                    || matches!(
                        e,
                        ConnError::Handshake(
                            HandshakeError::BadCookie { .. } | HandshakeError::ReflectedChallenge { .. }
                        )
                    )
                {
                    self.auth_failed(peer_addr.ip(), claimed.as_ref().map(|n| n.as_str()));
                }
                let who = claimed.as_ref().map(|n| n.to_string()).unwrap_or_else(|| "an unnamed peer".into());
                // An acceptor is never sent not_allowed: when the handshake
                // ends in it here, this node said it, and the decision that
                // made it (identity, back-off, policy) logged why.
                let ours = matches!(e, ConnError::Handshake(HandshakeError::NotAllowed { .. }));
                match (&e, identity_refused, ours) {
                    (ConnError::Handshake(HandshakeError::Nok { .. }), ..) => {}
                    (_, true, _) => self.setup_failures.count(true, super::ConnectFailure::Identity),
                    (_, false, true) => self.setup_failures.count(true, super::ConnectFailure::Refused),
                    _ => self.setup_failures.count_cause(true, &e),
                }
                match &e {
                    ConnError::Handshake(HandshakeError::Nok { .. }) => {
                        tracing::debug!(%peer_addr, peer = %who, "simultaneous connect: our own attempt wins")
                    }
                    _ if ours => tracing::debug!(%peer_addr, peer = %who, "answered not_allowed"),
                    _ => {
                        tracing::warn!(%peer_addr, peer = %who, limit = e.limit(), error = %e, "refused an incoming connection")
                    }
                }
                if let Some(peer) = claimed {
                    let reason = if ours { ConnError::Local("this node refused it (not_allowed)".into()) } else { e };
                    self.setup_failed(peer.atom(), attempt, reason);
                }
            }
        }
    }

    fn auth_failed(&self, addr: std::net::IpAddr, name: Option<&str>) {
        if let Some(backoff) = self.auth_throttle.failed(addr, name, &self.limits) {
            let peer = name.unwrap_or("(before any name)");
            tracing::warn!(%addr, peer, ?backoff, "repeated failed authentication: refusing this peer from this address for a while");
        }
    }

    /// OTP's `net_kernel` rules for the status to answer an incoming attempt.
    ///
    /// The peer has only named itself: it has not proven the cookie yet. So
    /// the answer changes nothing: no entry is made and no dial cancelled
    /// here, and a peer that stalls after its name holds nothing another
    /// attempt needs. The entry is taken when the handshake completes
    /// ([`NodeInner::connection_established`]).
    fn decide_incoming(&self, peer: &NodeName) -> AcceptDecision {
        if peer == &self.name {
            tracing::warn!(%peer, "refused a peer that claims this node's own name");
            return AcceptDecision::NotAllowed;
        }
        let map = self.conns.lock();
        let full = map.len() >= self.limits.max_connections;
        match map.get(peer.atom()) {
            None if full => {
                tracing::warn!(%peer, limit = self.limits.max_connections, "refused a connection: max_connections reached");
                AcceptDecision::NotAllowed
            }
            None => AcceptDecision::Accept,
            // Our own dial to the same node is under way: the name order decides.
            Some(Entry::Pending(_)) => AcceptDecision::for_simultaneous(&self.name, peer),
            Some(Entry::Up(_)) => AcceptDecision::Alive,
        }
    }

    /// A handshake completed (the identity was checked before it): take over
    /// the entry, start the connection's tasks.
    fn connection_established(
        &self,
        attempt: u64,
        direction: Direction,
        stream: BoxStream,
        leftover: bytes::BytesMut,
        est: crate::proto::handshake::Established,
        verified: Verified,
    ) {
        let peer = est.peer.clone();
        let mut map = self.conns.lock();
        let (queue, status, replaced) = match map.remove(peer.atom()) {
            Some(Entry::Pending(p)) if p.owner == attempt => (p.queue, Some(p.status), None),
            // An authenticated incoming connection wins over our own dial still
            // in progress (the peer was told `ok` because its name won, or our
            // dial started after its attempt was answered): the dial stops and
            // what was queued for it goes out on this connection.
            Some(Entry::Pending(p)) if direction == Direction::Incoming => {
                p.dial.abort();
                (p.queue, Some(p.status), None)
            }
            None if direction == Direction::Incoming => (self.new_queue(), None, None),
            // Two connections to the same node. The newer replaces the older
            // when the peer restarted (a new creation) or came in again (it
            // answered `alive` with true: the old connection is stale to it).
            // When both sides dialled at once and each side's handshake was
            // answered before it saw the other's, both sides keep the
            // connection that the node with the greater name started, as OTP's
            // arbitration would have.
            Some(Entry::Up(old))
                if old.creation != est.peer_creation
                    || (direction == Direction::Incoming && old.direction == Direction::Incoming)
                    || self.started_by_winner(&peer, direction) && !self.started_by_winner(&peer, old.direction) =>
            {
                (self.new_queue(), None, Some(old))
            }
            other => {
                // Another attempt took this entry over (simultaneous connect).
                if let Some(other) = other {
                    map.insert(peer.atom().clone(), other);
                }
                tracing::debug!(peer = %peer, "dropping a connection whose entry another attempt owns");
                return;
            }
        };
        let id = self.conns.next_id();
        let weak = self.self_ref.clone();
        let deliver_peer = peer.clone();
        let account =
            Arc::new(super::limits::PeerAccount::new(est.flags.contains(DistFlags::BEAMLINK_MESH), &self.limits));
        let deliver_account = account.clone();
        let deliver = move |control| match weak.upgrade() {
            Some(node) => node.dispatch(&deliver_peer, &deliver_account, control),
            None => Err(ConnError::Local("the node stopped".into())),
        };
        let weak = self.self_ref.clone();
        let down_peer = peer.atom().clone();
        let on_down = move |reason: ConnError| {
            if let Some(node) = weak.upgrade() {
                node.connection_down(&down_peer, id, reason);
            }
        };
        let stats = Arc::new(conn::ConnStats::default());
        let handles = conn::Handles { queue: queue.clone(), stats: stats.clone() };
        let running = conn::start(stream, leftover, est.flags, handles, &self.conn_config, deliver, on_down);
        let hidden = est.peer_hidden();
        let conn = Arc::new(PeerConn {
            id,
            peer: peer.clone(),
            flags: est.flags,
            creation: est.peer_creation,
            visible: AtomicBool::new(!hidden),
            beamlink: AtomicBool::new(false),
            identity: verified.identity,
            security: verified.security,
            since: std::time::SystemTime::now(),
            stats,
            direction,
            queue,
            running,
        });
        map.insert(peer.atom().clone(), Entry::Up(conn));
        drop(map);
        if let Some(status) = status {
            let _ = status.send(SetupStatus::Up);
        }
        if let Some(old) = replaced {
            old.running.close();
            self.announce_down(&old.peer, ConnError::Local("replaced by a new connection from the same node".into()));
        }
        tracing::info!(peer = %peer, transport = self.transport.name(), ?direction, hidden, "connection up");
        self.notify_node_watchers("nodeup", peer.atom());
        let _ = self.events.send(NodeEvent::Up { node: peer, hidden });
    }

    /// Whether a connection to `peer` started in `direction` was started by
    /// the node whose name compares greater: the one OTP's simultaneous-connect
    /// rule lets keep its own attempt.
    fn started_by_winner(&self, peer: &NodeName, direction: Direction) -> bool {
        match direction {
            Direction::Outgoing => self.name.as_str() > peer.as_str(),
            Direction::Incoming => peer.as_str() > self.name.as_str(),
        }
    }

    /// A connection ended.
    fn connection_down(&self, peer: &Atom, id: u64, reason: ConnError) {
        let conn = {
            let mut map = self.conns.lock();
            match map.get(peer) {
                Some(Entry::Up(c)) if c.id == id => match map.remove(peer) {
                    Some(Entry::Up(c)) => c,
                    _ => return,
                },
                _ => return,
            }
        };
        match (&reason, reason.limit()) {
            (_, Some(limit)) => {
                tracing::warn!(peer = %conn.peer, limit, %reason, "connection closed: the peer crossed a limit")
            }
            (ConnError::Local(_) | ConnError::Closed, None) => {
                tracing::info!(peer = %conn.peer, %reason, "connection closed")
            }
            _ => tracing::warn!(peer = %conn.peer, %reason, "connection lost"),
        }
        self.announce_down(&conn.peer, reason);
    }

    fn announce_down(&self, peer: &NodeName, cause: ConnError) {
        self.node_down_cleanup(peer.atom());
        self.notify_node_watchers("nodedown", peer.atom());
        let reason = cause.to_string();
        let _ = self.events.send(NodeEvent::Down { node: peer.clone(), reason, cause: Arc::new(cause) });
    }

    /// A connection attempt failed: drop its queue, fail its waiters, and
    /// break the links and monitors made while it was pending.
    fn setup_failed(&self, peer: &Atom, attempt: u64, reason: ConnError) {
        let pending = {
            let mut map = self.conns.lock();
            match map.get(peer) {
                Some(Entry::Pending(p)) if p.owner == attempt => match map.remove(peer) {
                    Some(Entry::Pending(p)) => p,
                    _ => return,
                },
                _ => return,
            }
        };
        pending.queue.close();
        let _ = pending.status.send(SetupStatus::Failed(Arc::new(reason)));
        self.node_down_cleanup(peer);
    }
}

/// Accepts connections until the listener fails for good or the node stops.
/// Addresses in authentication back-off and connections beyond the pending
/// handshake limits (per source address, then in all) are closed on arrival.
pub(crate) async fn accept_loop(node: std::sync::Weak<NodeInner>, listener: Box<dyn Listener>) {
    loop {
        match listener.accept().await {
            Ok(incoming) => {
                let Some(node) = node.upgrade() else { return };
                let addr = incoming.peer_addr;
                if node.auth_throttle.transport_blocked(addr.ip()) {
                    tracing::debug!(%addr, "closed a connection from an address whose certificates keep failing");
                    continue;
                }
                let per_address = node.limits.max_pending_handshakes_per_address;
                let Some(slot) = node.pending_by_address.try_take(addr.ip(), per_address) else {
                    tracing::warn!(
                        %addr,
                        limit = per_address,
                        "closed a connection: max_pending_handshakes_per_address reached"
                    );
                    continue;
                };
                match node.pending_handshakes.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(node.accept_one(incoming, permit, slot));
                    }
                    Err(_) => tracing::warn!(
                        %addr,
                        limit = node.limits.max_pending_handshakes,
                        "closed a connection: max_pending_handshakes reached"
                    ),
                }
            }
            Err(e) => {
                // EMFILE, ECONNABORTED and the like: log, pause briefly, carry on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if node.strong_count() == 0 {
                    return;
                }
            }
        }
    }
}
