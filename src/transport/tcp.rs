//! Plain TCP: Erlang's default carrier (`inet_tcp_dist`). No confidentiality,
//! no peer authentication beyond the cookie challenge.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::{BoxFuture, Established, Incoming, Listener, PeerIdentity, SetupTimeouts, Transport, TransportError};
use crate::proto::NodeName;
use crate::proto::frame::LengthPrefix;

/// The plain-TCP transport.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTransport;

impl Transport for TcpTransport {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn handshake_framing(&self) -> LengthPrefix {
        LengthPrefix::U16
    }

    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = bind_listener(addr)?;
            Ok(Box::new(TcpAcceptor(listener)) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: SocketAddr,
        peer: &'a NodeName,
        timeouts: SetupTimeouts,
    ) -> BoxFuture<'a, Result<Established, TransportError>> {
        Box::pin(async move {
            let stream = connect_tcp_within(addr, peer, timeouts.connect).await?;
            Ok(Established {
                stream: Box::new(stream),
                peer_addr: Some(addr),
                identity: PeerIdentity::Unverified,
                security: None,
            })
        })
    }
}

/// Binds a listening socket at `addr`. The IPv6 wildcard `[::]` listens on
/// IPv4 and IPv6 alike (`IPV6_V6ONLY` off, whatever the system default),
/// and falls back to the IPv4 wildcard on a host without IPv6.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    match bind_socket(addr, false) {
        Err(e) if addr.ip() == std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) && no_ipv6(&e) => {
            tracing::debug!(error = %e, "no IPv6 on this host: listening on IPv4 only");
            bind_socket(SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port()), false)
        }
        other => other,
    }
}

/// Whether a bind failed because the host has no IPv6 at all.
fn no_ipv6(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT))
}

/// A listening socket bound at `addr` (address reuse on, non-blocking);
/// an IPv6 one takes IPv6 alone when `v6_only`, IPv4 too otherwise.
pub(crate) fn bind_socket(addr: SocketAddr, v6_only: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(v6_only)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Connects with the socket options distribution wants (no Nagle delay).
pub(crate) async fn connect_tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// [`connect_tcp`] to `peer` at `addr`, giving up after `limit`.
pub(crate) async fn connect_tcp_within(
    addr: SocketAddr,
    peer: &NodeName,
    limit: std::time::Duration,
) -> Result<TcpStream, TransportError> {
    match tokio::time::timeout(limit, connect_tcp(addr)).await {
        Ok(connected) => connected.map_err(|e| TransportError::io(format!("connect to {peer} at {addr}"), e)),
        Err(_) => Err(TransportError::Timeout(format!("connecting to {peer} at {addr} (limit {limit:?})"))),
    }
}

/// A TCP listener handing out accepted streams.
pub(crate) struct TcpAcceptor(pub(crate) TcpListener);

impl TcpAcceptor {
    /// Accepts one TCP connection with distribution's socket options. An
    /// IPv4 peer of a dual-stack listener is reported by its IPv4 address,
    /// not the IPv4-mapped IPv6 form, so that limits and back-off keyed by
    /// address see one address per peer.
    pub(crate) async fn accept_tcp(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, SocketAddr::new(addr.ip().to_canonical(), addr.port())))
    }
}

impl Listener for TcpAcceptor {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn accept(&self) -> BoxFuture<'_, io::Result<Incoming>> {
        Box::pin(async move {
            let (stream, peer_addr) = self.accept_tcp().await?;
            let established = Established {
                stream: Box::new(stream),
                peer_addr: Some(peer_addr),
                identity: PeerIdentity::Unverified,
                security: None,
            };
            Ok(Incoming::new(peer_addr, Box::pin(async move { Ok(established) })))
        })
    }
}
