//! Transports: how distribution bytes travel, and who is at the other end.
//!
//! This is the only layer that names TCP or TLS. Everything above it — the
//! handshake driver, connections, the node runtime — sees a [`Transport`]
//! that connects and accepts byte streams and reports the peer's verified
//! [`PeerIdentity`], and a [`Resolver`] that turns `name@host` into an
//! address. A new backend (QUIC, Unix sockets, an in-memory pipe) touches
//! nothing above this module.
//!
//! Backends: [`tcp::TcpTransport`] (what Erlang does by default) and, with
//! feature `tls`, `tls::TlsTransport` (mutual TLS, OTP's `inet_tls_dist`).

pub mod resolve;
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub use resolve::{EpmdResolver, ResolveError, Resolved, Resolver, StaticResolver};

use crate::proto::NodeName;
use crate::proto::frame::LengthPrefix;

/// The transport a node uses unless told otherwise: plain TCP, as Erlang.
pub fn default_transport() -> Arc<dyn Transport> {
    Arc::new(tcp::TcpTransport)
}

/// A boxed, sendable future (the trait methods return these so transports can be trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bidirectional byte stream a transport hands up.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxStream = Box<dyn ByteStream>;

/// Who the transport says is at the other end, before the distribution
/// handshake names the node.
#[derive(Clone, Debug)]
pub enum PeerIdentity {
    /// Nothing verified (plain TCP): only the cookie challenge authenticates the peer.
    Unverified,
    /// A certificate chain the transport verified against its trust roots,
    /// end-entity certificate first, each in DER.
    Certificate(Arc<Vec<Vec<u8>>>),
}

/// A connection a transport set up, ready for the distribution handshake.
pub struct Established {
    /// The byte stream.
    pub stream: BoxStream,
    /// The peer's address, when the transport knows one.
    pub peer_addr: Option<SocketAddr>,
    /// What the transport verified about the peer.
    pub identity: PeerIdentity,
    /// What protects the stream, for status reports: the TLS version and
    /// cipher suite, for example; `None` for plain TCP.
    pub security: Option<Arc<str>>,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("peer_addr", &self.peer_addr)
            .field("identity", &self.identity)
            .field("security", &self.security)
            .finish()
    }
}

/// Why a transport could not connect, accept or authorise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A socket error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The transport's own handshake (e.g. TLS) failed.
    #[error("{0}")]
    Handshake(String),
    /// The peer failed authentication: its certificate was missing or
    /// refused, or its verified identity does not permit the node name it
    /// claimed. The node counts these against the peer's address.
    #[error("{0}")]
    Identity(String),
    /// The operation took too long.
    #[error("{0} timed out")]
    Timeout(String),
}

impl TransportError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> TransportError {
        TransportError::Io { context: context.into(), source }
    }
}

/// A connection accepted at the socket level whose transport handshake (if
/// any) has not run yet. Finishing it in its own task keeps one slow peer from
/// holding up the accept loop.
pub struct Incoming {
    /// The peer's address.
    pub peer_addr: SocketAddr,
    finish: BoxFuture<'static, Result<Established, TransportError>>,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").field("peer_addr", &self.peer_addr).finish_non_exhaustive()
    }
}

impl Incoming {
    /// Wraps a peer address and the future that completes the transport handshake.
    pub fn new(peer_addr: SocketAddr, finish: BoxFuture<'static, Result<Established, TransportError>>) -> Incoming {
        Incoming { peer_addr, finish }
    }

    /// Runs the transport handshake (a no-op for TCP).
    pub async fn finish(self) -> Result<Established, TransportError> {
        self.finish.await
    }
}

/// How long each stage of an outgoing connection may take, from the node's
/// settings: the node passes them to [`Transport::connect`] and gives up on
/// a transport that overruns their sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupTimeouts {
    /// Opening the socket (the node's `connect_timeout`).
    pub connect: Duration,
    /// The transport's own handshake once the socket is open, e.g. TLS (the
    /// node's [`Limits::handshake_timeout`](crate::node::Limits::handshake_timeout)).
    pub handshake: Duration,
}

impl SetupTimeouts {
    /// `connect` for opening the socket, `handshake` for the transport's handshake.
    pub fn new(connect: Duration, handshake: Duration) -> SetupTimeouts {
        SetupTimeouts { connect, handshake }
    }

    /// The longest a whole [`Transport::connect`] may take.
    pub fn total(&self) -> Duration {
        self.connect.saturating_add(self.handshake)
    }
}

/// A listening socket of some transport. An accepted connection's
/// [`Incoming::finish`] needs no timeout of its own: the node bounds it by
/// its handshake timeout and the number of handshakes in progress.
pub trait Listener: Send + Sync {
    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Waits for the next connection.
    fn accept(&self) -> BoxFuture<'_, io::Result<Incoming>>;
}

/// A way to carry the distribution protocol between nodes.
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs: `"tcp"`, `"tls"`.
    fn name(&self) -> &'static str;

    /// How handshake messages are framed on this carrier: OTP's TCP carrier
    /// uses 2-byte lengths, its TLS carrier 4-byte lengths.
    fn handshake_framing(&self) -> LengthPrefix;

    /// Starts listening on `addr`.
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>>;

    /// Connects to `addr`, where `peer` is expected to listen, within
    /// `timeouts`: a stage that overruns its share fails with an error that
    /// says which stage it was.
    fn connect<'a>(
        &'a self,
        addr: SocketAddr,
        peer: &'a NodeName,
        timeouts: SetupTimeouts,
    ) -> BoxFuture<'a, Result<Established, TransportError>>;

    /// Called once the distribution handshake has named the peer: may the
    /// peer with this verified identity call itself `claimed`? The default
    /// (for transports that verify nothing) says yes.
    fn authorize(&self, identity: &PeerIdentity, claimed: &NodeName) -> Result<(), TransportError> {
        let _ = (identity, claimed);
        Ok(())
    }
}
