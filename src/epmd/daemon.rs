//! An EPMD that real Erlang nodes can use in place of OTP's `epmd`, and that
//! a program can embed.
//!
//! It speaks the same protocol with the same answers (see [`codec`](super::codec)),
//! assigns creation numbers as OTP's epmd does (a restarted node gets a new
//! one), refuses duplicate names with `76 01 00 00 00 63`, and is hardened by
//! default, because EPMDs exposed to the internet are common:
//!
//! - it listens on loopback only unless addresses are given;
//! - registration (ALIVE2), KILL, STOP, and also NAMES and DUMP are served
//!   only to local peers (see [`access`](super::access)), unless
//!   [`DaemonConfig::relaxed_command_check`] (registration, KILL with live
//!   nodes, STOP) or [`DaemonConfig::allow_remote_names`] (NAMES, DUMP) says
//!   otherwise; lookups (PORT_PLEASE2) are served to everyone, which is the
//!   point of an EPMD;
//! - a connection must deliver its whole request within
//!   [`DaemonConfig::packet_timeout`]; a length field over the largest valid
//!   request closes the connection at once;
//! - connections are capped in all ([`DaemonConfig::max_connections`]) and
//!   per source address ([`DaemonConfig::max_connections_per_address`]; a
//!   node's registration counts against the first cap only and is never
//!   closed to make room). Past the per-address cap a new connection
//!   displaces the oldest other connection of its own address; past the
//!   global cap, the oldest of the address holding the most. So an address
//!   flooding with stalled requests displaces only itself, and a client from
//!   an address holding less gets in; a connection is refused only when
//!   registrations hold every slot;
//! - registered names are capped ([`DaemonConfig::max_names`]); past the cap,
//!   registrations are refused;
//! - accept errors (`EMFILE` and the like) are logged and survived with a
//!   short back-off; bad input only ever closes the connection it came on.
//!
//! Differences from OTP's epmd, all deliberate: NAMES and DUMP are local-only
//! by default (OTP answers NAMES to anyone); [`DaemonConfig::relaxed_command_check`]
//! also admits registrations from non-local peers (OTP never does); a STOP of
//! an unknown name answers `NOEXIST` alone (OTP sends `NOEXISTSTOPPED`); the
//! name table has a cap (OTP's has none); the DUMP `fd =` field carries a
//! connection number.
//!
//! ```no_run
//! use beamlink::epmd::{DaemonConfig, EpmdDaemon};
//!
//! # async fn demo() -> Result<(), beamlink::epmd::EpmdError> {
//! let daemon = EpmdDaemon::bind(DaemonConfig { port: 4400, ..DaemonConfig::default() }).await?;
//! let handle = daemon.spawn(); // serves on the current tokio runtime
//! // ... ERL_EPMD_PORT=4400 erl -sname a  registers with it ...
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, debug, debug_span, error, info, warn};

use super::access::is_local_peer;
use super::admission::{Admission, ConnectionTable, source_of};
use super::codec::{
    Alive2Response, Dump, KillResponse, Names, NodeInfo, Port2Response, Request, RequestDecoder, RequestError,
    StopResponse,
};
use super::registry::{Refusal, Registry};
use super::{EpmdError, default_port};

/// Default cap on registered names.
pub const DEFAULT_MAX_NAMES: usize = 512;
/// Default cap on open connections (registered nodes hold one each).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default cap on connections from one source address other than
/// registrations: a sixteenth of [`DEFAULT_MAX_CONNECTIONS`].
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// Default time a connection has to deliver its whole request.
pub const DEFAULT_PACKET_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a listener pauses after an accept error such as `EMFILE`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Connections accepted but not yet handed to a task.
const ACCEPT_QUEUE: usize = 64;

/// How a daemon listens and what it allows.
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// The TCP port; default [`default_port()`] (`$ERL_EPMD_PORT` or 4369).
    /// 0 picks a free port (the same one on every address).
    pub port: u16,
    /// The addresses to listen on; default 127.0.0.1 and ::1 (::1 is skipped
    /// when the host has no IPv6 loopback).
    pub addresses: Vec<IpAddr>,
    /// Allow KILL while nodes are registered, STOP, and registrations from
    /// non-local peers. Default off.
    pub relaxed_command_check: bool,
    /// Answer NAMES and DUMP to non-local peers. Default off.
    pub allow_remote_names: bool,
    /// Cap on registered names; default [`DEFAULT_MAX_NAMES`].
    pub max_names: usize,
    /// Time a connection has to deliver its request; default [`DEFAULT_PACKET_TIMEOUT`].
    pub packet_timeout: Duration,
    /// Cap on open connections; default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Cap on connections from one source address that are not a node's
    /// registration (unfinished requests and requests being answered);
    /// default [`DEFAULT_MAX_CONNECTIONS_PER_ADDRESS`]. An IPv6 source other
    /// than loopback and link-local counts by its /64 prefix. A connection
    /// past the cap displaces its address's oldest such connection; 0 refuses
    /// every connection. Registrations count against
    /// [`DaemonConfig::max_connections`] only.
    pub max_connections_per_address: usize,
    /// The node whose process hosts this EPMD, when it runs inside a node
    /// (the registrar's take-over): every other name that registers is
    /// warned about, since its registration goes when that process exits.
    pub hosted_by: Option<String>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            port: default_port(),
            addresses: loopback_addresses(),
            relaxed_command_check: false,
            allow_remote_names: false,
            max_names: DEFAULT_MAX_NAMES,
            packet_timeout: DEFAULT_PACKET_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            hosted_by: None,
        }
    }
}

/// 127.0.0.1 and ::1.
pub fn loopback_addresses() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
}

/// State shared by the accept loop and the connection tasks.
#[derive(Debug)]
struct Shared {
    config: DaemonConfig,
    /// The port actually bound (differs from the config's when that is 0).
    port: u16,
    /// Registered names; each entry holds the sender whose drop closes its connection.
    registry: Mutex<Registry<oneshot::Sender<()>>>,
    /// Set to true to stop the daemon (KILL_REQ, shutdown).
    stop: watch::Sender<bool>,
    /// Open connections; each request holds the sender whose drop closes it.
    connections: Mutex<ConnectionTable<oneshot::Sender<()>>>,
}

impl Shared {
    fn new(config: DaemonConfig, port: u16) -> Shared {
        let (stop, _) = watch::channel(false);
        Shared {
            registry: Mutex::new(Registry::new(config.max_names)),
            connections: Mutex::new(ConnectionTable::new(config.max_connections, config.max_connections_per_address)),
            config,
            port,
            stop,
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry<oneshot::Sender<()>>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connections(&self) -> MutexGuard<'_, ConnectionTable<oneshot::Sender<()>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bound, not yet running EPMD. [`EpmdDaemon::run`] serves in the current
/// task; [`EpmdDaemon::spawn`] serves in a background task.
#[derive(Debug)]
pub struct EpmdDaemon {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

impl EpmdDaemon {
    /// Binds every configured address. Fails with [`EpmdError::PortInUse`]
    /// when another process listens on the port, with [`EpmdError::Bind`] for
    /// other socket errors. A loopback address other than the first that
    /// cannot be bound for another reason (no IPv6 on the host) is skipped
    /// with a warning.
    pub async fn bind(config: DaemonConfig) -> Result<EpmdDaemon, EpmdError> {
        let mut addresses: Vec<IpAddr> = Vec::new();
        for ip in &config.addresses {
            if !addresses.contains(ip) {
                addresses.push(*ip);
            }
        }
        if addresses.is_empty() {
            return Err(EpmdError::NoAddresses);
        }
        let mut port = config.port;
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for (i, ip) in addresses.iter().enumerate() {
            let addr = SocketAddr::new(*ip, port);
            match listen(addr) {
                Ok(listener) => {
                    let bound = listener.local_addr().map_err(|source| EpmdError::Bind { addr, source })?;
                    port = bound.port();
                    addrs.push(bound);
                    listeners.push(listener);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(EpmdError::PortInUse { addr }),
                Err(e) if i > 0 && ip.is_loopback() => {
                    warn!(%addr, error = %e, "epmd: skipping a loopback address that cannot be bound");
                }
                Err(source) => return Err(EpmdError::Bind { addr, source }),
            }
        }
        Ok(EpmdDaemon { listeners, addrs, shared: Arc::new(Shared::new(config, port)) })
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Serves until stopped by a KILL request (or until this future is
    /// dropped, which closes every connection).
    pub async fn run(self) {
        info!(addrs = ?self.addrs, "epmd listening");
        serve(self.listeners, self.shared).await;
    }

    /// Serves in a background task on the current tokio runtime.
    pub fn spawn(self) -> DaemonHandle {
        let shared = Arc::clone(&self.shared);
        let addrs = self.addrs.clone();
        let task = tokio::spawn(self.run());
        DaemonHandle { shared, addrs, task: Some(task) }
    }
}

/// A running daemon. Dropping it stops the daemon and closes all its
/// connections (which unregisters every node registered with it).
#[derive(Debug)]
pub struct DaemonHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    task: Option<JoinHandle<()>>,
}

impl DaemonHandle {
    /// Stops the daemon, closes all its connections and waits until it is done.
    pub async fn shutdown(mut self) {
        self.shared.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// True once it has stopped (after a KILL request or a shutdown).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Connections open right now, as counted against
    /// [`DaemonConfig::max_connections`] (registered nodes hold one each). A
    /// connection displaced to make room stops counting at once, a moment
    /// before its socket is closed.
    pub fn connection_count(&self) -> usize {
        self.shared.connections().total()
    }

    /// Registered names and ports, the most recent first.
    pub fn registered_names(&self) -> Vec<(String, u16)> {
        self.shared.registry().names()
    }
}

impl Drop for DaemonHandle {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds one of the daemon's addresses. An IPv6 socket takes IPv6 alone
/// (`IPV6_V6ONLY` on, whatever the system default), so that the IPv4 and
/// IPv6 wildcards (or loopbacks) bind side by side on the same port.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    crate::transport::tcp::bind_socket(addr, true)
}

/// A source of connections: a listening socket, or a stand-in in tests.
pub(crate) trait Accept: Send + 'static {
    /// The next connection and its peer address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// The accept loop: hands connections to tasks until stopped.
async fn serve<A: Accept>(acceptors: Vec<A>, shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::channel(ACCEPT_QUEUE);
    let mut accepting = JoinSet::new();
    for acceptor in acceptors {
        accepting.spawn(accept_loop(acceptor, tx.clone()));
    }
    drop(tx);
    let mut connections = JoinSet::new();
    let mut stop = shared.stop.subscribe();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    error!(error = %e, "epmd connection task panicked");
                }
            }
            accepted = rx.recv() => {
                let Some((stream, peer)) = accepted else {
                    error!("epmd: every listener stopped");
                    break;
                };
                next_id += 1;
                let source = source_of(peer.ip());
                let (closer, closed) = oneshot::channel();
                let admission = shared.connections().admit(source, next_id, closer);
                match admission {
                    Admission::Admitted => {}
                    Admission::Displaced(displaced) => {
                        debug!(
                            %peer,
                            displaced = displaced.id,
                            from = %displaced.source,
                            cap = ?displaced.cap,
                            "connection limit reached; closing the oldest request of the biggest holder"
                        );
                        // Its connection task sees the sender go and closes.
                        drop(displaced.token);
                    }
                    Admission::Refused => {
                        debug!(%peer, "connection limit reached and only registrations hold it; closing");
                        continue;
                    }
                }
                let slot = Slot { shared: Arc::clone(&shared), source, id: next_id, registered: false };
                connections.spawn(handle_connection(stream, peer, slot, closed));
            }
        }
    }
    info!("epmd stopping");
    accepting.shutdown().await;
    connections.shutdown().await;
}

async fn accept_loop<A: Accept>(mut acceptor: A, tx: mpsc::Sender<(TcpStream, SocketAddr)>) {
    let mut failing = false;
    loop {
        match acceptor.accept().await {
            Ok(conn) => {
                if failing {
                    info!("epmd accepting connections again");
                    failing = false;
                }
                if tx.send(conn).await.is_err() {
                    return;
                }
            }
            Err(e) if is_transient(&e) => debug!(error = %e, "accept: transient error"),
            Err(e) => {
                if !failing {
                    warn!(error = %e, "epmd accept failed; retrying every {ACCEPT_BACKOFF:?} until it succeeds");
                    failing = true;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// A connection's entry in the connection table, given back when it ends.
struct Slot {
    shared: Arc<Shared>,
    source: IpAddr,
    id: u64,
    /// Whether it became a registration.
    registered: bool,
}

impl Slot {
    /// Makes the connection a registration, which is never displaced; false
    /// if it was displaced already.
    fn hold(&mut self) -> bool {
        let closer = self.shared.connections().hold(self.source, self.id);
        self.registered = closer.is_some();
        self.registered
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.shared.connections();
        if self.registered {
            table.end_registration();
        } else {
            table.end_request(self.source, self.id);
        }
    }
}

/// Serves one connection; `closed` fires when the connection is displaced
/// to make room for another (which only happens before it is a registration).
async fn handle_connection(stream: TcpStream, peer: SocketAddr, mut slot: Slot, mut closed: oneshot::Receiver<()>) {
    let local = match stream.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            debug!(%peer, error = %e, "connection vanished before it could be served");
            return;
        }
    };
    let is_local = is_local_peer(peer.ip(), local.ip());
    let conn_id = slot.id;
    let shared = Arc::clone(&slot.shared);
    let span = debug_span!("epmd_conn", %peer, conn = conn_id, local = is_local);
    async move {
        let registration = tokio::select! {
            biased;
            _ = &mut closed => return debug!("closed to make room for another connection"),
            registration = serve_request(stream, is_local, &shared) => registration,
        };
        let Some((stream, node)) = registration else { return };
        if !slot.hold() {
            return debug!("closed to make room for another connection");
        }
        keep_registration(stream, node, &shared, conn_id).await;
    }
    .instrument(span)
    .await;
}

/// Why no request could be read.
enum ReadFailure {
    Closed,
    Io(io::Error),
    Bad(RequestError),
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, ReadFailure> {
    let mut decoder = RequestDecoder::new(RequestDecoder::DEFAULT_MAX_LEN);
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await.map_err(ReadFailure::Io)?;
        if n == 0 {
            return Err(ReadFailure::Closed);
        }
        if let Some(request) = decoder.feed(&buf[..n]).map_err(ReadFailure::Bad)? {
            return Ok(request);
        }
    }
}

async fn write_reply(stream: &mut TcpStream, bytes: &[u8], limit: Duration) -> io::Result<()> {
    match tokio::time::timeout(limit, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "peer did not read the reply")),
    }
}

/// Reads one request and answers it; an ALIVE2 request from a peer that may
/// register comes back instead, with its connection, to be held.
async fn serve_request(mut stream: TcpStream, is_local: bool, shared: &Shared) -> Option<(TcpStream, NodeInfo)> {
    let limit = shared.config.packet_timeout;
    let request = match tokio::time::timeout(limit, read_request(&mut stream)).await {
        Err(_) => {
            debug!("no complete request within {limit:?}; closing");
            return None;
        }
        Ok(Err(ReadFailure::Closed)) => {
            debug!("closed before sending a complete request");
            return None;
        }
        Ok(Err(ReadFailure::Io(e))) => {
            debug!(error = %e, "read failed");
            return None;
        }
        Ok(Err(ReadFailure::Bad(e))) => {
            debug!(error = %e, "bad request; closing");
            if let Some(reply) = e.error_reply() {
                let _ = write_reply(&mut stream, &reply, limit).await;
            }
            return None;
        }
        Ok(Ok(request)) => request,
    };
    debug!(request = request.kind(), "request");
    match request {
        Request::Alive2(node) if is_local || shared.config.relaxed_command_check => Some((stream, node)),
        Request::Alive2(node) => {
            warn!(name = node.name, "ALIVE2_REQ from a non-local peer refused");
            None
        }
        request => {
            answer(stream, request, is_local, shared).await;
            None
        }
    }
}

/// Answers any request but ALIVE2, then closes.
async fn answer(mut stream: TcpStream, request: Request, is_local: bool, shared: &Shared) {
    let limit = shared.config.packet_timeout;
    let config = &shared.config;
    let reply: Vec<u8> = match request {
        Request::Alive2(_) => return,
        Request::PortPlease2 { name } => {
            let found = shared.registry().lookup(&name).cloned();
            let reply = found.map_or(Port2Response::NotFound, Port2Response::Found);
            reply.encode().unwrap_or_else(|_| vec![super::codec::PORT2_RESP, super::codec::RESULT_ERROR])
        }
        Request::Names => {
            if !(is_local || config.allow_remote_names) {
                return info!("NAMES_REQ from a non-local peer refused");
            }
            Names { epmd_port: shared.port.into(), nodes: shared.registry().names() }.encode()
        }
        Request::Dump => {
            if !(is_local || config.allow_remote_names) {
                return info!("DUMP_REQ from a non-local peer refused");
            }
            let (live, old) = shared.registry().dump();
            let entries = live
                .iter()
                .map(|(name, port, id)| Dump::active_entry(name, *port, *id))
                .chain(old.iter().map(|(name, port, id)| Dump::unused_entry(name, *port, *id)))
                .collect();
            Dump { epmd_port: shared.port.into(), entries }.encode()
        }
        Request::Kill => {
            if !is_local {
                return warn!("KILL_REQ from a non-local peer refused");
            }
            if !config.relaxed_command_check && !shared.registry().is_empty() {
                info!("KILL_REQ refused: nodes are registered");
                KillResponse::No.encode().to_vec()
            } else {
                let _ = write_reply(&mut stream, KillResponse::Ok.encode(), limit).await;
                info!("KILL_REQ: epmd stops");
                shared.stop.send_replace(true);
                return;
            }
        }
        Request::Stop { name } => {
            if !is_local {
                return warn!("STOP_REQ from a non-local peer refused");
            }
            if !config.relaxed_command_check {
                return info!("STOP_REQ refused: relaxed command check is off");
            }
            let stopped = shared.registry().stop(&name);
            if stopped {
                info!(name, "unregistered by STOP_REQ");
            }
            let reply = if stopped { StopResponse::Stopped } else { StopResponse::NoExist };
            reply.encode().to_vec()
        }
    };
    if let Err(e) = write_reply(&mut stream, &reply, limit).await {
        debug!(error = %e, "could not send the reply");
    }
}

/// ALIVE2_REQ: register, answer, then hold the connection; the registration
/// ends when the node closes it (or sends anything), or on STOP_REQ.
async fn keep_registration(mut stream: TcpStream, node: NodeInfo, shared: &Shared, conn_id: u64) {
    let limit = shared.config.packet_timeout;
    let (closer, mut stopped) = oneshot::channel::<()>();
    let (name, high, port) = (node.name.clone(), node.highest_version, node.port);
    let outcome = shared.registry().register(node, conn_id, unix_now(), closer);
    let reply = match outcome {
        Ok(creation) => {
            info!(name, port, creation, "registered");
            if let Some(host) = shared.config.hosted_by.as_deref().filter(|host| *host != name) {
                warn!(
                    name,
                    "registered with the EPMD inside the process of node {host}: it goes when that process exits, \
                     and {name} can no longer be found; run a standalone EPMD (beamlink epmd --daemon, or epmd -daemon)"
                );
            }
            Alive2Response::accepted(creation, high)
        }
        Err(Refusal::Duplicate) => {
            info!(name, "registration refused: the name is in use");
            Alive2Response::refused(high)
        }
        Err(Refusal::Full) => {
            warn!(name, limit = shared.config.max_names, "registration refused: name table full");
            Alive2Response::refused(high)
        }
    };
    let written = write_reply(&mut stream, &reply.encode(), limit).await;
    if outcome.is_err() {
        return;
    }
    if let Err(e) = written {
        shared.registry().unregister_conn(conn_id);
        return debug!(name, error = %e, "could not confirm the registration; unregistered");
    }
    let mut probe = [0u8; 64];
    tokio::select! {
        read = stream.read(&mut probe) => match read {
            Ok(0) => debug!(name, "node closed its registration"),
            Ok(n) => debug!(name, "{n} unexpected bytes on a registration; closing it"),
            Err(e) => debug!(name, error = %e, "registration connection failed"),
        },
        _ = &mut stopped => {}
    }
    if let Some(name) = shared.registry().unregister_conn(conn_id) {
        info!(name, "unregistered");
    }
}

fn unix_now() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A listener that fails with `EMFILE` a few times, then accepts (fault matrix E11).
    struct Flaky {
        inner: TcpListener,
        failures_left: Arc<AtomicU32>,
    }

    impl Accept for Flaky {
        async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
            if self.failures_left.load(Ordering::SeqCst) > 0 {
                self.failures_left.fetch_sub(1, Ordering::SeqCst);
                return Err(io::Error::from_raw_os_error(libc::EMFILE));
            }
            self.inner.accept().await
        }
    }

    fn test_shared(port: u16) -> Arc<Shared> {
        Arc::new(Shared::new(DaemonConfig { port, max_names: 8, ..DaemonConfig::default() }, port))
    }

    #[tokio::test]
    async fn accept_errors_are_survived() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = inner.local_addr().unwrap().port();
        let failures_left = Arc::new(AtomicU32::new(3));
        let shared = test_shared(port);
        let server =
            tokio::spawn(serve(vec![Flaky { inner, failures_left: Arc::clone(&failures_left) }], Arc::clone(&shared)));
        let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        client.write_all(&Request::Names.encode().unwrap()).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut reply)).await.unwrap().unwrap();
        assert_eq!(Names::decode(&reply).unwrap(), Names { epmd_port: port.into(), nodes: vec![] });
        assert_eq!(failures_left.load(Ordering::SeqCst), 0, "the injected errors were not all hit");
        shared.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
    }

    #[test]
    fn transient_accept_errors() {
        assert!(is_transient(&io::Error::from(io::ErrorKind::ConnectionAborted)));
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::ENFILE)));
    }
}
