//! The node runtime: processes, mailboxes, registered names, links,
//! monitors, the connection table, and the services Erlang peers expect
//! (`net_kernel`, `rex`, spawn requests for `erpc`).
//!
//! This layer never names TCP or TLS: it gets byte streams and peer
//! identities from a [`Transport`].
//!
//! ```no_run
//! use beamlink::node::Node;
//! use beamlink::term::Term;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::builder("rust@localhost").cookie("secret").start().await?;
//! // A process that echoes `{From, Msg}` back to `From`.
//! node.spawn_registered("echo", |mut p| async move {
//!     while let Ok(msg) = p.recv().await {
//!         if let Some([Term::Pid(from), payload]) = msg.as_tuple() {
//!             let _ = p.send(from, payload.clone()).await;
//!         }
//!     }
//! })?;
//! // From Erlang: {echo, 'rust@localhost'} ! {self(), hello}.
//! # Ok(()) }
//! ```

mod backoff;
mod builder;
mod connections;
mod dispatch;
mod error;
mod firewall;
mod gen_server;
pub mod hostname;
mod incoming_claims;
mod limits;
mod mailbox;
mod mesh;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "policy-file")]
mod policy_file;
mod process;
mod router;
#[cfg(feature = "serde")]
mod server;
pub mod services;
mod signals;
mod status;
#[cfg(feature = "serde")]
mod supervisor;
mod table;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "serde")]
mod typed;
mod unread;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a shutdown waits for the exit signals it queued to be written; a
/// peer that does not read keeps the node no longer than this.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

use tokio::sync::broadcast;

pub use builder::{Cookie, NodeBuilder};
pub use error::{CallError, ConnectError, ConnectFailure, NodeError, SendError};
pub use firewall::{Firewall, NameRule, Policy, RpcRule};
pub use gen_server::{GenCall, ReplyTo, parse_cast};
pub use limits::Limits;
#[cfg(feature = "policy-file")]
pub use policy_file::{PolicyFile, PolicyFileError};
pub use process::{Exited, IntoExitReason, Process};
#[cfg(feature = "serde")]
pub use server::{CallOutcome, GenServer, GenServerRef, Outcome, StartError};
pub use services::rpc::{RpcException, RpcFunction, RpcResult};
pub use status::{CertificateSummary, ConnectionStatus, NodeStatus};
#[cfg(feature = "serde")]
pub use supervisor::{ChildInfo, ChildSpec, Restart, Shutdown, Strategy, Supervisor, SupervisorRef};
#[cfg(feature = "serde")]
pub use typed::RecvError;

use crate::conn::ConnConfig;
use crate::proto::handshake::HandshakeConfig;
use crate::proto::{NameMode, NodeName};
use crate::term::{Atom, Pid, Reference, Term};
use crate::transport::{Resolver, Transport};

/// Something that happened to the node's connections.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// A connection to `node` came up.
    Up {
        /// The peer.
        node: NodeName,
        /// Whether the peer is hidden.
        hidden: bool,
    },
    /// The connection to `node` went down.
    Down {
        /// The peer.
        node: NodeName,
        /// Why, in words.
        reason: String,
        /// Why, as the connection reported it ([`crate::conn::ConnError::limit`] names
        /// the limit a peer crossed).
        cause: Arc<crate::conn::ConnError>,
    },
}

/// What this node knows about a connected peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// The peer's node name.
    pub node: NodeName,
    /// The peer's creation (changes when it restarts).
    pub creation: u32,
    /// The distribution flags the connection uses.
    pub flags: crate::proto::DistFlags,
    /// Whether the peer is listed in `nodes()`.
    pub visible: bool,
    /// What the transport verified about the peer (its certificate chain under TLS).
    pub identity: crate::transport::PeerIdentity,
}

/// Options fixed when the node starts.
#[derive(Clone, Debug)]
pub(crate) struct NodeOptions {
    /// Runs as a hidden node (no mesh, no transitive connections).
    pub hidden: bool,
    /// Resolving a peer, and opening its socket, may each take this long.
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    pub send_queue_high_water: usize,
    pub call_timeout: Duration,
    /// Never takes over a connection a peer holds under this node's name:
    /// answers `false` when a peer asks whether its connection is stale.
    pub yield_to_live_connections: bool,
}

/// A running node: a cheap handle, clone it freely.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    /// A weak handle to this node, for tasks the node starts.
    pub self_ref: std::sync::Weak<NodeInner>,
    /// The runtime the node was started on: processes and connections run
    /// there, whichever thread asks for them.
    pub runtime: tokio::runtime::Handle,
    pub name: NodeName,
    pub creation: u32,
    pub mode: NameMode,
    pub handshake: Arc<HandshakeConfig>,
    pub conn_config: ConnConfig,
    pub options: NodeOptions,
    pub transport: Arc<dyn Transport>,
    pub resolver: Arc<dyn Resolver>,
    pub procs: table::ProcessTable,
    pub conns: connections::Connections,
    pub rpc: services::rpc::RpcRegistry,
    pub events: broadcast::Sender<NodeEvent>,
    pub listen_addr: Option<SocketAddr>,
    next_ref: AtomicU64,
    /// Background work owned by the node, stopped at shutdown.
    pub background: Mutex<Vec<tokio::task::AbortHandle>>,
    /// The EPMD registration, held for the node's lifetime.
    pub published: Mutex<Option<crate::epmd::registrar::PublishedNode>>,
    /// The group leader given to remote calls (answers I/O requests).
    pub group_leader: Mutex<Option<Pid>>,
    /// Failed connection set-ups since start, by direction and kind.
    pub setup_failures: status::SetupFailures,
    /// Processes that asked for `{nodeup, Node}` / `{nodedown, Node}` messages.
    pub node_watchers: Mutex<Vec<Pid>>,
    /// Nodes the program asked to stay connected to.
    pub persistent: Mutex<std::collections::HashSet<Atom>>,
    /// The limits in force.
    pub limits: Limits,
    /// Failed authentications, by address and claimed name.
    pub auth_throttle: backoff::AuthThrottle,
    /// Incoming handshakes in progress (bounded by `limits.max_pending_handshakes`).
    pub pending_handshakes: Arc<tokio::sync::Semaphore>,
    /// The same, per source address (bounded by `limits.max_pending_handshakes_per_address`).
    pub pending_by_address: Arc<limits::PendingByAddress>,
    /// What each peer may ask of this node.
    pub firewall: std::sync::RwLock<Arc<Firewall>>,
    /// The pids of `rex` and the mesh process, set once at start.
    pub services: std::sync::OnceLock<services::ServicePids>,
    /// Set when the firewall allows everything to everyone, so the per-message
    /// checks can be skipped.
    pub firewall_open: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.inner.name)
    }
}

impl Node {
    /// Starts configuring a node named `name` (`alive@host`).
    pub fn builder(name: &str) -> NodeBuilder {
        NodeBuilder::new(name)
    }

    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// This node's creation (changes on every restart).
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// Where the node accepts connections, if it listens.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr
    }

    /// The transport's name (`"tcp"`, `"tls"`).
    pub fn transport_name(&self) -> &'static str {
        self.inner.transport.name()
    }

    /// A new process owned by the caller: use it from ordinary async code to
    /// send, receive, link, monitor and call. It exits (reason `normal`) when
    /// dropped.
    pub fn process(&self) -> Process {
        Process::new_handle(self.clone())
    }

    /// Spawns a process running `body`. Its exit reason is `normal` when
    /// `body` returns `()` or `Ok(())`, the error term for `Err(reason)`, and
    /// `killed`/the signal's reason when an exit signal kills it.
    pub fn spawn<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Process) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        process::spawn(self.clone(), body, |_| Ok(()))
            .unwrap_or_else(|_| unreachable!("spawn without registration cannot fail"))
    }

    /// Spawns a process and registers it under `name` before it runs.
    pub fn spawn_registered<F, Fut>(&self, name: &str, body: F) -> Result<Pid, NodeError>
    where
        F: FnOnce(Process) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let atom = Atom::try_new(name).map_err(|e| NodeError::BadName(e.to_string()))?;
        let node = self.clone();
        process::spawn(self.clone(), body, move |pid| node.register(atom.as_str(), pid))
    }

    /// Registers `name` for the local process `pid`.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), NodeError> {
        self.inner.register(name, pid)
    }

    /// Removes a registered name.
    pub fn unregister(&self, name: &str) -> bool {
        self.inner.unregister(name)
    }

    /// The local pid registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.procs.whereis(name)
    }

    /// Every locally registered name.
    pub fn registered(&self) -> Vec<Atom> {
        self.inner.procs.registered()
    }

    /// How many local processes are alive.
    pub fn process_count(&self) -> usize {
        self.inner.procs.len()
    }

    /// Sends `msg` to a pid, local or remote, from no particular process
    /// (OTP's SEND without a sender). Waits while the connection's outgoing
    /// buffer is full.
    pub async fn send(&self, to: &Pid, msg: Term) -> Result<(), SendError> {
        self.inner.send_to_pid(None, to, msg, true).await
    }

    /// Sends `msg` to the process registered as `name` on `node`.
    pub async fn send_named(&self, name: &str, node: &str, msg: Term) -> Result<(), SendError> {
        let p = self.process();
        p.send_named(name, node, msg).await
    }

    /// Connects to `node` (if not connected) and waits until the connection
    /// is up or has failed.
    pub async fn connect(&self, node: &str) -> Result<(), ConnectError> {
        let peer: NodeName = node.parse().map_err(|e: crate::proto::NameError| ConnectError::BadName(e.to_string()))?;
        self.inner.connect(&peer).await
    }

    /// Closes the connection to `node`, if any. Returns whether there was one.
    pub fn disconnect(&self, node: &str) -> bool {
        self.inner.disconnect(node)
    }

    /// `net_adm:ping/1`: connects and asks the peer's `net_kernel` whether it
    /// accepts this node. True for `pong`.
    pub async fn ping(&self, node: &str) -> bool {
        self.ping_detailed(node).await.is_ok()
    }

    /// [`Node::ping`], with the reason on failure: [`CallError::Connect`]
    /// when no connection could be set up.
    pub async fn ping_detailed(&self, node: &str) -> Result<(), CallError> {
        if node != self.inner.name.as_str() {
            self.connect(node).await?;
        }
        let mut p = self.process();
        let request = Term::Tuple(vec![Term::atom("is_auth"), Term::Atom(self.inner.name.atom().clone())]);
        let timeout = self.inner.options.call_timeout;
        match p.call_named("net_kernel", node, request, timeout).await? {
            t if t.is_atom("yes") => Ok(()),
            other => Err(CallError::Unexpected(other.to_string())),
        }
    }

    /// The peers this node is connected to and that are visible: Erlang
    /// nodes that are not hidden, and beamlink nodes of the mesh (`nodes()`).
    pub fn nodes(&self) -> Vec<NodeName> {
        self.inner.conns.peers(|c| c.is_visible())
    }

    /// Keeps a connection to `node`: connects now and, whenever the connection
    /// drops, again in the background with exponential back-off (100 ms to 30 s),
    /// until [`Node::disconnect`] or shutdown.
    pub fn keep_connected(&self, node: &str) -> Result<(), ConnectError> {
        let peer: NodeName = node.parse().map_err(|e: crate::proto::NameError| ConnectError::BadName(e.to_string()))?;
        if peer == self.inner.name {
            return Err(ConnectError::ToSelf);
        }
        self.inner.keep_connected(peer);
        Ok(())
    }

    /// What this node knows about its connection to `node`, if it is up.
    pub fn peer_info(&self, node: &str) -> Option<PeerInfo> {
        let atom = Atom::try_new(node).ok()?;
        let c = self.inner.conns.get(&atom)?;
        Some(PeerInfo {
            node: c.peer.clone(),
            creation: c.creation,
            flags: c.flags,
            visible: c.is_visible(),
            identity: c.identity.clone(),
        })
    }

    /// Every connected peer, hidden or not (`nodes(connected)`).
    pub fn connected_nodes(&self) -> Vec<NodeName> {
        self.inner.conns.peers(|_| true)
    }

    /// A stream of node up/down events.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// Makes a reference unique across the cluster.
    pub fn make_ref(&self) -> Reference {
        self.inner.make_ref()
    }

    /// Registers a Rust function callable from Erlang as `Module:Function/Arity`
    /// (`rpc:call/4`, `erpc:call/4`, `rpc:cast/4`, `spawn/4`).
    pub fn register_rpc(&self, module: &str, function: &str, arity: u8, f: impl RpcFunction) {
        self.inner.rpc.register(module, function, arity, Arc::new(f));
    }

    /// Calls `Module:Function(Args)` on `node` through its `rex` server
    /// (works with every OTP release and with beamlink nodes). Connects
    /// first if needed (bounded by the node's connect and handshake
    /// timeouts; a failure is [`CallError::Connect`], with its cause); then
    /// waits at most `timeout` for the answer.
    pub async fn rpc_call(
        &self,
        node: &str,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, CallError> {
        services::rpc::call(self, node, (module, function, args), None, timeout).await
    }

    /// [`Node::rpc_call`], with `group_leader` (a process of this node that
    /// answers the Erlang I/O protocol) as the group leader of the remote
    /// call: what the function prints is sent there as I/O requests.
    pub async fn rpc_call_with_group_leader(
        &self,
        node: &str,
        (module, function, args): (&str, &str, Vec<Term>),
        group_leader: &Pid,
        timeout: Duration,
    ) -> Result<Term, CallError> {
        services::rpc::call(self, node, (module, function, args), Some(group_leader), timeout).await
    }

    /// Replaces the distribution firewall; applies to every message received from now on.
    pub fn set_firewall(&self, firewall: Firewall) {
        let open = firewall.allows_everything();
        *self.inner.firewall.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(firewall);
        self.inner.firewall_open.store(open, Ordering::Release);
    }

    /// Stops the node: every local process exits with reason `shutdown` (peers hear it
    /// before the connection closes; a peer that does not read is waited for
    /// at most a second),
    /// every connection closes, the node stops accepting and leaves EPMD.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

impl NodeInner {
    pub(crate) fn make_ref(&self) -> Reference {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        // OTP keeps the first word to 18 bits; the rest is a plain counter.
        let words = [(n & 0x3_ffff) as u32, (n >> 18) as u32, (n >> 50) as u32 ^ self.creation];
        Reference::new(self.name.atom().clone(), self.creation, &words).unwrap_or_else(|| unreachable!("3 words"))
    }

    pub(crate) fn is_local(&self, pid: &Pid) -> bool {
        pid.node == *self.name.atom()
    }

    fn register(&self, name: &str, pid: &Pid) -> Result<(), NodeError> {
        let atom = Atom::try_new(name).map_err(|e| NodeError::BadName(e.to_string()))?;
        if !self.is_local(pid) {
            return Err(NodeError::NotLocal(pid.clone()));
        }
        let slot = self.procs.get(pid).ok_or_else(|| NodeError::NoProcess(pid.clone()))?;
        let mut state = slot.state();
        if !state.alive {
            return Err(NodeError::NoProcess(pid.clone()));
        }
        if state.name.is_some() {
            return Err(NodeError::AlreadyNamed(pid.clone()));
        }
        if !self.procs.register(atom.clone(), pid.clone()) {
            return Err(NodeError::NameTaken(name.to_string()));
        }
        state.name = Some(atom);
        Ok(())
    }

    fn unregister(&self, name: &str) -> bool {
        let Ok(atom) = Atom::try_new(name) else { return false };
        match self.procs.unregister(&atom) {
            Some(pid) => {
                if let Some(slot) = self.procs.get(&pid) {
                    slot.state().name = None;
                }
                true
            }
            None => false,
        }
    }

    async fn shutdown(&self) {
        for task in self.background.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
        for slot in self.procs.all() {
            self.kill(&slot, Term::atom("shutdown"));
        }
        // Peers hear each process's exit (`shutdown`) before the connection
        // goes down (`noconnection` for anything not yet told).
        self.conns.flush_all(SHUTDOWN_FLUSH).await;
        self.conns.close_all();
        let published = self.published.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(published) = published {
            published.shutdown().await;
        }
    }
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        for task in self.background.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}
