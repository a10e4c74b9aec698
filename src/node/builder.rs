//! Configuring and starting a node.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Node, NodeError, NodeInner, NodeOptions, connections, services, table};
use crate::conn::ConnConfig;
use crate::epmd;
use crate::proto::handshake::{HandshakeConfig, OutstandingChallenges};
use crate::proto::{DistFlags, NodeName};
use crate::transport::{EpmdResolver, Resolver, Transport, default_transport};

/// Where the cookie comes from. Its `Debug` form never shows the cookie:
///
/// ```
/// let cookie = beamlink::node::Cookie::Explicit("sup3r-secret".into());
/// assert_eq!(format!("{cookie:?}"), "Explicit(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Cookie {
    /// This cookie.
    Explicit(String),
    /// `~/.erlang.cookie`, created with a random cookie when missing, as Erlang does.
    HomeFile,
    /// `~/.erlang.cookie`, which must exist: for short-lived nodes (a
    /// one-shot command), which must not leave a new cookie file behind.
    ExistingHomeFile,
}

impl std::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cookie::Explicit(_) => f.write_str("Explicit(<redacted>)"),
            Cookie::HomeFile => f.write_str("HomeFile"),
            Cookie::ExistingHomeFile => f.write_str("ExistingHomeFile"),
        }
    }
}

/// Configures a [`Node`]; [`NodeBuilder::start`] brings it up.
///
/// Defaults: plain TCP, EPMD lookups on `ERL_EPMD_PORT` (or 4369), listening
/// on every interface on a free port, registered with EPMD (started in this
/// process when none is running), cookie from `~/.erlang.cookie`,
/// `net_ticktime` 60 s, handshake timeout 7 s (OTP's `net_setuptime`).
pub struct NodeBuilder {
    name: String,
    cookie: Cookie,
    transport: Arc<dyn Transport>,
    resolver: Option<Arc<dyn Resolver>>,
    listen: Option<SocketAddr>,
    publish: bool,
    epmd_port: u16,
    auto_start_epmd: bool,
    creation: Option<u32>,
    ticktime: Duration,
    limits: super::Limits,
    firewall: super::Firewall,
    options: NodeOptions,
}

impl std::fmt::Debug for NodeBuilder {
    /// The cookie stays out (its `Debug` is redacted anyway), and so do the
    /// limits and the firewall, which have their own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("name", &self.name)
            .field("transport", &self.transport.name())
            .field("listen", &self.listen)
            .field("publish", &self.publish)
            .field("epmd_port", &self.epmd_port)
            .field("hidden", &self.options.hidden)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    pub(crate) fn new(name: &str) -> NodeBuilder {
        NodeBuilder {
            name: name.to_string(),
            cookie: Cookie::HomeFile,
            transport: default_transport(),
            resolver: None,
            listen: Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)),
            publish: true,
            epmd_port: epmd::default_port(),
            auto_start_epmd: true,
            creation: None,
            ticktime: ConnConfig::default().ticktime,
            limits: super::Limits::default(),
            firewall: super::Firewall::allow_all(),
            options: NodeOptions {
                hidden: false,
                connect_timeout: Duration::from_secs(7),
                max_message_size: 256 << 20,
                send_queue_high_water: 64 << 20,
                call_timeout: Duration::from_secs(15),
                yield_to_live_connections: false,
            },
        }
    }

    /// Uses this cookie.
    pub fn cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Cookie::Explicit(cookie.into());
        self
    }

    /// Chooses where the cookie comes from.
    pub fn cookie_source(mut self, cookie: Cookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// Carries distribution over this transport (default: plain TCP).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Arc::new(transport);
        self
    }

    /// Carries distribution over this shared transport.
    pub fn transport_arc(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = transport;
        self
    }

    /// Finds other nodes with this resolver (default: EPMD).
    pub fn resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Listens on this address (port 0 picks a free one).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Listens on every interface on this port, IPv4 and IPv6 (falling back
    /// to IPv4 alone on a host without IPv6).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.listen = Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
        self
    }

    /// Does not listen at all: the node can dial others but nobody can dial it
    /// (what one-shot commands want). Implies no EPMD registration.
    pub fn no_listen(mut self) -> Self {
        self.listen = None;
        self.publish = false;
        self
    }

    /// Whether to register with EPMD (default true).
    pub fn publish(mut self, publish: bool) -> Self {
        self.publish = publish;
        self
    }

    /// EPMD's port, for registration and for the default resolver.
    pub fn epmd_port(mut self, port: u16) -> Self {
        self.epmd_port = port;
        self
    }

    /// Whether to start an EPMD in this process when none answers (default
    /// true). It listens where `ERL_EPMD_ADDRESS` says (with the loopback
    /// addresses added, as OTP's epmd), else where the node listens.
    pub fn auto_start_epmd(mut self, on: bool) -> Self {
        self.auto_start_epmd = on;
        self
    }

    /// Runs as a hidden node (`erl -hidden`): no transitive connections, not
    /// listed in peers' `nodes()`.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.options.hidden = hidden;
        self
    }

    /// When a peer it dials says it already has a connection to this node's
    /// name (`alive`), answer that the connection is live, so that the peer
    /// keeps it and this attempt fails, instead of the default: a node that
    /// has no connection to the peer says the old one is stale, as a
    /// restarted node does, and the peer drops it. For short-lived nodes
    /// (one-shot commands) that must never take a running node's place.
    pub fn yield_to_live_connections(mut self, on: bool) -> Self {
        self.options.yield_to_live_connections = on;
        self
    }

    /// Uses this creation instead of EPMD's (tests; never 0).
    pub fn creation(mut self, creation: u32) -> Self {
        self.creation = Some(creation.max(1));
        self
    }

    /// OTP's `net_ticktime`.
    pub fn ticktime(mut self, ticktime: Duration) -> Self {
        self.ticktime = ticktime;
        self
    }

    /// How long a handshake (after the transport's own) may take; the same as
    /// setting [`Limits::handshake_timeout`](super::Limits::handshake_timeout).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// What each peer may ask of this node (default: everything, as Erlang).
    pub fn firewall(mut self, firewall: super::Firewall) -> Self {
        self.firewall = firewall;
        self
    }

    /// The limits on what peers may make this node do (see [`Limits`](super::Limits)).
    pub fn limits(mut self, limits: super::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long resolving and connecting to a peer may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// The default timeout of calls the node makes itself (ping).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.options.call_timeout = timeout;
        self
    }

    /// The largest message this node sends (encoded bytes).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.options.max_message_size = bytes;
        self
    }

    /// Outgoing bytes queued per connection before senders wait.
    pub fn send_queue_limit(mut self, bytes: usize) -> Self {
        self.options.send_queue_high_water = bytes;
        self
    }

    /// Starts the node: listens, registers with EPMD, starts the built-in services.
    pub async fn start(self) -> Result<Node, NodeError> {
        let name = NodeName::new(&self.name).map_err(|e| NodeError::Start(e.to_string()))?;
        let cookie = match &self.cookie {
            Cookie::Explicit(c) if c.is_empty() => {
                return Err(NodeError::Start("the cookie is empty; give a non-empty cookie".into()));
            }
            Cookie::Explicit(c) => c.clone().into_bytes(),
            Cookie::HomeFile => read_home_cookie(CreateCookie::WhenMissing).map_err(NodeError::Start)?,
            Cookie::ExistingHomeFile => read_home_cookie(CreateCookie::Never).map_err(NodeError::Start)?,
        };
        let listener = match self.listen {
            Some(addr) => Some(
                self.transport
                    .listen(addr)
                    .await
                    .map_err(|e| NodeError::Start(format!("cannot listen on {addr}: {e}")))?,
            ),
            None => None,
        };
        let listen_addr = match &listener {
            Some(l) => Some(l.local_addr().map_err(|e| NodeError::Start(e.to_string()))?),
            None => None,
        };
        let mut published = None;
        let creation = match (self.creation, self.publish, listen_addr) {
            (Some(c), _, _) => c,
            (None, true, Some(addr)) => {
                let mut config = epmd::registrar::RegistrarConfig::new(name.alive(), addr.port());
                config.epmd_port = self.epmd_port;
                // An EPMD started here listens where the node does, so that
                // peers that can reach the node can also look it up.
                // A node on every interface (IPv4 and IPv6) gets an EPMD on both wildcards.
                // ERL_EPMD_ADDRESS, when set, says where, as for OTP's epmd.
                let from_env = match self.auto_start_epmd {
                    true => epmd::listen_addresses_from_env().map_err(|e| NodeError::Start(e.to_string()))?,
                    false => None,
                };
                config.auto_start = self.auto_start_epmd.then(|| epmd::registrar::AutoStart {
                    addresses: if let Some(addresses) = from_env {
                        addresses
                    } else if addr.ip().is_loopback() {
                        epmd::registrar::AutoStart::default().addresses
                    } else if addr.ip().is_unspecified() {
                        vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()]
                    } else {
                        vec![addr.ip()]
                    },
                });
                let mut attempts = 0;
                let node = loop {
                    match epmd::registrar::register_and_keep(config.clone()).await {
                        Ok(node) => break node,
                        Err(e) if e.is_transient() && attempts < 5 => {
                            attempts += 1;
                            tracing::debug!(error = %e, attempts, "EPMD registration failed; retrying");
                            tokio::time::sleep(Duration::from_millis(100 * attempts)).await;
                        }
                        Err(e) => return Err(NodeError::Start(format!("cannot register {name} with EPMD: {e}"))),
                    }
                };
                let creation = node.creation();
                published = Some(node);
                creation
            }
            _ => random_creation(),
        };
        let resolver: Arc<dyn Resolver> = match self.resolver {
            Some(r) => r,
            None => Arc::new(EpmdResolver { epmd_port: self.epmd_port, ..EpmdResolver::default() }),
        };
        let handshake = Arc::new(HandshakeConfig {
            name: name.clone(),
            creation,
            // Visible beamlink nodes tell each other apart from other peers
            // by a capability of their own (see `DistFlags::BEAMLINK_MESH`).
            flags: if self.options.hidden { DistFlags::DEFAULT } else { DistFlags::DEFAULT | DistFlags::BEAMLINK_MESH },
            required: DistFlags::MANDATORY,
            cookie,
            outstanding: Arc::new(OutstandingChallenges::default()),
        });
        let mode = name.mode();
        let options = self.options;
        let conn_config = self.limits.connection_config(self.ticktime);
        let pending_handshakes = Arc::new(tokio::sync::Semaphore::new(self.limits.max_pending_handshakes));
        let (events, _) = tokio::sync::broadcast::channel(256);
        let inner = Arc::new_cyclic(|weak| NodeInner {
            self_ref: weak.clone(),
            runtime: tokio::runtime::Handle::current(),
            name,
            creation,
            mode,
            handshake,
            conn_config,
            options,
            transport: self.transport,
            resolver,
            procs: table::ProcessTable::default(),
            conns: connections::Connections::default(),
            rpc: services::rpc::RpcRegistry::default(),
            events,
            listen_addr,
            next_ref: Default::default(),
            background: Mutex::new(Vec::new()),
            published: Mutex::new(published),
            group_leader: Mutex::new(None),
            setup_failures: Default::default(),
            node_watchers: Mutex::new(Vec::new()),
            persistent: Mutex::new(Default::default()),
            limits: self.limits,
            auth_throttle: Default::default(),
            pending_handshakes,
            pending_by_address: Default::default(),
            services: Default::default(),
            firewall_open: std::sync::atomic::AtomicBool::new(self.firewall.allows_everything()),
            firewall: std::sync::RwLock::new(Arc::new(self.firewall)),
        });
        let node = Node { inner };
        // The services first, so that the first connection finds them (the
        // mesh process must hear of it to say hello).
        services::start_builtin(&node)?;
        if let Some(listener) = listener {
            let task = tokio::spawn(connections::accept_loop(Arc::downgrade(&node.inner), listener));
            node.inner.background.lock().unwrap_or_else(|p| p.into_inner()).push(task.abort_handle());
        }
        tracing::info!(node = %node.name(), creation, listen = ?listen_addr, transport = node.transport_name(), "node started");
        Ok(node)
    }
}

/// A random non-zero creation, for nodes that do not register with EPMD.
fn random_creation() -> u32 {
    loop {
        let c = rand::random::<u32>();
        if c >= 4 {
            return c;
        }
    }
}

fn home_cookie_path() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set, so ~/.erlang.cookie cannot be found; give a cookie")?;
    Ok(PathBuf::from(home).join(".erlang.cookie"))
}

/// Whether a missing cookie file is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateCookie {
    /// With 20 random capital letters, mode 0400, as `erl` does.
    WhenMissing,
    /// A missing file is an error.
    Never,
}

/// Reads `~/.erlang.cookie` (see [`read_cookie_file`]).
pub(crate) fn read_home_cookie(create: CreateCookie) -> Result<Vec<u8>, String> {
    read_cookie_file(&home_cookie_path()?, create)
}

/// Reads a cookie file as `erl` does: refused when group or others may
/// read or write it, or when it is empty; created when missing if `create`
/// says so.
pub(crate) fn read_cookie_file(path: &std::path::Path, create: CreateCookie) -> Result<Vec<u8>, String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) => {
            check_owner_only(path, &meta)?;
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
            let text = String::from_utf8_lossy(&bytes);
            let cookie = text.trim();
            if cookie.is_empty() {
                return Err(format!("{shown} is empty"));
            }
            Ok(cookie.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create {
            CreateCookie::WhenMissing => {
                let cookie: String = (0..20).map(|_| (b'A' + rand::random::<u8>() % 26) as char).collect();
                write_private(path, cookie.as_bytes()).map_err(|e| format!("cannot create {shown}: {e}"))?;
                Ok(cookie.into_bytes())
            }
            CreateCookie::Never => Err(format!(
                "{shown} does not exist and a short-lived node does not create one; give --cookie, or start a \
                 node that creates it (erl, beamlink serve)"
            )),
        },
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// OTP's check (`auth.erl`): a cookie file only its owner may read or write.
#[cfg(unix)]
fn check_owner_only(path: &std::path::Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} may be read or written by others than its owner (mode {mode:03o}); erl refuses it too: \
             chmod 400 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &std::path::Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_cookie_file_is_read_created_or_refused_as_erl_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".erlang.cookie");
        let err = read_cookie_file(&path, CreateCookie::Never).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(!path.exists());
        let made = read_cookie_file(&path, CreateCookie::WhenMissing).unwrap();
        assert_eq!(made.len(), 20);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o400);
        assert_eq!(read_cookie_file(&path, CreateCookie::Never).unwrap(), made);
        for mode in [0o440, 0o404, 0o600 | 0o020] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read_cookie_file(&path, CreateCookie::WhenMissing).unwrap_err();
            assert!(err.contains(&format!("mode {mode:03o}")) && err.contains("chmod 400"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "  \n").unwrap();
        assert!(read_cookie_file(&path, CreateCookie::WhenMissing).unwrap_err().contains("is empty"));
    }
}
