//! Plain TCP: Erlang's default carrier (`inet_tcp_dist`). No confidentiality,
//! no peer authentication beyond the cookie challenge.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::{BoxFuture, Established, Incoming, Listener, PeerIdentity, Transport, TransportError};
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
            let listener = TcpListener::bind(addr).await?;
            Ok(Box::new(TcpAcceptor(listener)) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: SocketAddr,
        peer: &'a NodeName,
    ) -> BoxFuture<'a, Result<Established, TransportError>> {
        Box::pin(async move {
            let stream =
                connect_tcp(addr).await.map_err(|e| TransportError::io(format!("connect to {peer} at {addr}"), e))?;
            Ok(Established { stream: Box::new(stream), peer_addr: Some(addr), identity: PeerIdentity::Unverified })
        })
    }
}

/// Connects with the socket options distribution wants (no Nagle delay).
pub(crate) async fn connect_tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A TCP listener handing out accepted streams.
pub(crate) struct TcpAcceptor(pub(crate) TcpListener);

impl TcpAcceptor {
    /// Accepts one TCP connection with distribution's socket options.
    pub(crate) async fn accept_tcp(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
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
            };
            Ok(Incoming::new(peer_addr, Box::pin(async move { Ok(established) })))
        })
    }
}
