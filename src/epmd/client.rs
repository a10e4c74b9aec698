//! Async EPMD client: register a node, look one up, list names, and the
//! administrative requests. Works against OTP's `epmd` and against ours.
//!
//! Every call is bounded: connect, request and reply together must finish
//! within the client's timeout ([`DEFAULT_TIMEOUT`] unless set with
//! [`EpmdClient::with_timeout`]). `host` is an IP literal or a host name;
//! each address it resolves to is tried in turn. Replies are bounded too:
//! a lookup reply never buffers more than about 2 KiB, a listing more than
//! [`MAX_LISTING_REPLY`].
//!
//! ```no_run
//! use beamlink::epmd::client;
//!
//! # async fn demo() -> Result<(), beamlink::epmd::EpmdError> {
//! let port = beamlink::epmd::default_port();
//! if let Some(node) = client::port_please("localhost", port, "simple_cache").await? {
//!     println!("simple_cache listens on {} (versions {}..={})", node.port, node.lowest_version, node.highest_version);
//! }
//! for (name, dist_port) in client::names("localhost", port).await?.nodes {
//!     println!("{name} at port {dist_port}");
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::EpmdError;
use super::codec::{
    Alive2Request, Alive2Response, Decoded, Dump, KillResponse, Names, NodeInfo, Port2Response, Request, ResponseError,
    StopResponse,
};

/// The bound on one exchange unless the client says otherwise (OTP's
/// `erl_epmd` waits 10 s for a reply too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest NAMES or DUMP reply the client accepts.
pub const MAX_LISTING_REPLY: usize = 4 << 20;
/// The largest length-delimited reply (PORT2_RESP with the longest name and extra).
const MAX_SHORT_REPLY: usize = 4096;

/// A client for one EPMD (host and port), with a time bound per exchange.
#[derive(Clone, Debug)]
pub struct EpmdClient {
    host: String,
    port: u16,
    timeout: Duration,
}

impl EpmdClient {
    /// A client for the EPMD at `host` (IP literal, `[v6]` literal, or host
    /// name) and `port`, bounded by [`DEFAULT_TIMEOUT`].
    pub fn new(host: impl Into<String>, port: u16) -> EpmdClient {
        EpmdClient { host: host.into(), port, timeout: DEFAULT_TIMEOUT }
    }

    /// The same client with another bound per exchange.
    pub fn with_timeout(mut self, timeout: Duration) -> EpmdClient {
        self.timeout = timeout;
        self
    }

    /// The host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The EPMD port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Looks up `alive` (the name without `@host`): its port, node type and
    /// version range, or `None` when no such node is registered.
    pub async fn port_please(&self, alive: &str) -> Result<Option<NodeInfo>, EpmdError> {
        const REQ: &str = "PORT_PLEASE2_REQ";
        let bytes = Request::PortPlease2 { name: alive.to_owned() }.encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            match read_decoded(&mut stream, addr, REQ, Port2Response::decode).await? {
                Port2Response::Found(node) => Ok(Some(node)),
                Port2Response::NotFound => Ok(None),
            }
        })
        .await
    }

    /// Lists registered names and their ports.
    pub async fn names(&self) -> Result<Names, EpmdError> {
        const REQ: &str = "NAMES_REQ";
        let bytes = Request::Names.encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            let reply = read_to_close(&mut stream, addr, REQ).await?;
            Names::decode(&reply).map_err(|source| EpmdError::Protocol { addr, request: REQ, source })
        })
        .await
    }

    /// Everything epmd knows, as text entries (local peers only).
    pub async fn dump(&self) -> Result<Dump, EpmdError> {
        const REQ: &str = "DUMP_REQ";
        let bytes = Request::Dump.encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            let reply = read_to_close(&mut stream, addr, REQ).await?;
            Dump::decode(&reply).map_err(|source| EpmdError::Protocol { addr, request: REQ, source })
        })
        .await
    }

    /// Asks epmd to exit. [`KillResponse::No`] means nodes are registered and
    /// epmd runs without the relaxed command check.
    pub async fn kill(&self) -> Result<KillResponse, EpmdError> {
        const REQ: &str = "KILL_REQ";
        let bytes = Request::Kill.encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            read_decoded(&mut stream, addr, REQ, KillResponse::decode).await
        })
        .await
    }

    /// Unregisters `name` by force (needs the relaxed command check; without
    /// it epmd closes without answering: [`EpmdError::NoAnswer`]).
    pub async fn stop(&self, name: &str) -> Result<StopResponse, EpmdError> {
        const REQ: &str = "STOP_REQ";
        let bytes = Request::Stop { name: name.to_owned() }.encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            read_decoded(&mut stream, addr, REQ, StopResponse::decode).await
        })
        .await
    }

    /// Registers a node. The registration lives exactly as long as the
    /// returned [`Registration`] (which owns the connection): drop it to
    /// unregister.
    pub async fn register(&self, node: &Alive2Request) -> Result<Registration, EpmdError> {
        const REQ: &str = "ALIVE2_REQ";
        let bytes = Request::Alive2(node.clone()).encode()?;
        self.bounded(REQ, async {
            let (mut stream, addr) = self.send(REQ, &bytes).await?;
            let reply = read_decoded(&mut stream, addr, REQ, Alive2Response::decode).await?;
            if !reply.is_ok() {
                return Err(EpmdError::RegistrationRefused { addr, name: node.name.clone(), result: reply.result });
            }
            debug!(%addr, name = node.name, creation = reply.creation, "registered with epmd");
            Ok(Registration { stream, creation: reply.creation, name: node.name.clone(), epmd: addr })
        })
        .await
    }

    async fn bounded<T>(
        &self,
        request: &'static str,
        exchange: impl Future<Output = Result<T, EpmdError>>,
    ) -> Result<T, EpmdError> {
        tokio::time::timeout(self.timeout, exchange).await.unwrap_or_else(|_| {
            Err(EpmdError::Timeout { host: self.host.clone(), port: self.port, request, timeout: self.timeout })
        })
    }

    /// Connects to the first address that accepts, and sends `bytes`.
    async fn send(&self, request: &'static str, bytes: &[u8]) -> Result<(TcpStream, SocketAddr), EpmdError> {
        let (mut stream, addr) = self.connect().await?;
        stream.write_all(bytes).await.map_err(|source| EpmdError::Io { addr, request, source })?;
        Ok((stream, addr))
    }

    async fn connect(&self) -> Result<(TcpStream, SocketAddr), EpmdError> {
        let host = self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host);
        let addrs = tokio::net::lookup_host((host, self.port))
            .await
            .map_err(|source| EpmdError::Resolve { host: self.host.clone(), source })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, addr));
                }
                Err(e) => {
                    debug!(%addr, error = %e, "epmd connect failed");
                    last = e;
                }
            }
        }
        Err(EpmdError::Connect { host: self.host.clone(), port: self.port, source: last })
    }
}

/// Reads until `decode` has a complete reply; bounded by [`MAX_SHORT_REPLY`].
async fn read_decoded<T>(
    stream: &mut TcpStream,
    addr: SocketAddr,
    request: &'static str,
    decode: impl Fn(&[u8]) -> Result<Decoded<T>, ResponseError>,
) -> Result<T, EpmdError> {
    let protocol = |source| EpmdError::Protocol { addr, request, source };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|source| EpmdError::Io { addr, request, source })?;
        if n == 0 {
            return Err(if buf.is_empty() {
                EpmdError::NoAnswer { addr, request }
            } else {
                protocol(ResponseError::Truncated { reply: request, detail: "epmd closed in the middle of the reply" })
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        match decode(&buf).map_err(protocol)? {
            Decoded::Complete(value, _) => return Ok(value),
            Decoded::Incomplete if buf.len() > MAX_SHORT_REPLY => {
                return Err(protocol(ResponseError::TooLarge { reply: request, limit: MAX_SHORT_REPLY }));
            }
            Decoded::Incomplete => {}
        }
    }
}

/// Reads a reply that ends when epmd closes; bounded by [`MAX_LISTING_REPLY`].
async fn read_to_close(stream: &mut TcpStream, addr: SocketAddr, request: &'static str) -> Result<Vec<u8>, EpmdError> {
    let mut reply = Vec::new();
    let limit = MAX_LISTING_REPLY as u64 + 1;
    stream.take(limit).read_to_end(&mut reply).await.map_err(|source| EpmdError::Io { addr, request, source })?;
    if reply.is_empty() {
        return Err(EpmdError::NoAnswer { addr, request });
    }
    if reply.len() > MAX_LISTING_REPLY {
        return Err(EpmdError::Protocol {
            addr,
            request,
            source: ResponseError::TooLarge { reply: request, limit: MAX_LISTING_REPLY },
        });
    }
    Ok(reply)
}

/// A live registration: the open ALIVE2 connection. Dropping it closes the
/// connection, which unregisters the node.
#[derive(Debug)]
pub struct Registration {
    stream: TcpStream,
    creation: u32,
    name: String,
    epmd: SocketAddr,
}

impl Registration {
    /// The creation epmd assigned.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the epmd holding the registration.
    pub fn epmd_addr(&self) -> SocketAddr {
        self.epmd
    }

    /// Resolves when epmd closes the connection (it exited, or a STOP request
    /// removed the name): the registration is gone. Cancel-safe.
    pub async fn closed(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => debug!(epmd = %self.epmd, "ignoring {n} unexpected bytes on the registration"),
            }
        }
    }
}

/// [`EpmdClient::port_please`] with the default bound.
pub async fn port_please(host: &str, port: u16, alive: &str) -> Result<Option<NodeInfo>, EpmdError> {
    EpmdClient::new(host, port).port_please(alive).await
}

/// [`EpmdClient::names`] with the default bound.
pub async fn names(host: &str, port: u16) -> Result<Names, EpmdError> {
    EpmdClient::new(host, port).names().await
}

/// [`EpmdClient::dump`] with the default bound.
pub async fn dump(host: &str, port: u16) -> Result<Dump, EpmdError> {
    EpmdClient::new(host, port).dump().await
}

/// [`EpmdClient::kill`] with the default bound.
pub async fn kill(host: &str, port: u16) -> Result<KillResponse, EpmdError> {
    EpmdClient::new(host, port).kill().await
}

/// [`EpmdClient::stop`] with the default bound.
pub async fn stop(host: &str, port: u16, name: &str) -> Result<StopResponse, EpmdError> {
    EpmdClient::new(host, port).stop(name).await
}

/// [`EpmdClient::register`] with the default bound.
pub async fn register(host: &str, port: u16, node: &Alive2Request) -> Result<Registration, EpmdError> {
    EpmdClient::new(host, port).register(node).await
}
