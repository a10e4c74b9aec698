//! Resolvers: from `name@host` to the address the node listens on.
//!
//! [`EpmdResolver`] asks the port mapper on the node's host, as Erlang does.
//! [`StaticResolver`] needs no EPMD at all: a fixed port for every node (like
//! `erl -erl_epmd_port P`) and/or an explicit table of addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::BoxFuture;
use crate::epmd;
use crate::proto::NodeName;

/// Where a node listens, and the highest distribution version it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The highest handshake version the node registered (6 for OTP 23+).
    pub version: u16,
}

/// Why a node could not be found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The host name did not resolve.
    #[error("cannot resolve host {host}: {reason}")]
    Host {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// EPMD on the host does not know the node.
    #[error("{node} is not registered with EPMD on {host} (port {epmd_port})")]
    NotRegistered {
        /// The node.
        node: NodeName,
        /// The host asked.
        host: String,
        /// EPMD's port.
        epmd_port: u16,
    },
    /// EPMD could not be asked.
    #[error("cannot ask EPMD on {host} port {epmd_port} for {node}: {source}")]
    Epmd {
        /// The node.
        node: NodeName,
        /// The host asked.
        host: String,
        /// EPMD's port.
        epmd_port: u16,
        /// The failure.
        #[source]
        source: epmd::EpmdError,
    },
    /// The node speaks only an old handshake.
    #[error("{node} registered distribution version {version}; version 6 (OTP 23+) is required")]
    TooOld {
        /// The node.
        node: NodeName,
        /// Its highest version.
        version: u16,
    },
    /// The static table has no entry and no default port.
    #[error("no static address for {0} and no default port")]
    NoStaticEntry(NodeName),
}

/// Turns node names into addresses.
pub trait Resolver: Send + Sync + 'static {
    /// Finds where `node` listens.
    fn resolve<'a>(&'a self, node: &'a NodeName) -> BoxFuture<'a, Result<Resolved, ResolveError>>;
}

/// The IP addresses of `host` (an IP literal, or a name looked up through the system resolver).
pub async fn host_addresses(host: &str) -> Result<Vec<IpAddr>, ResolveError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| ResolveError::Host { host: host.to_string(), reason: e.to_string() })?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    if ips.is_empty() {
        return Err(ResolveError::Host { host: host.to_string(), reason: "no addresses".into() });
    }
    Ok(ips)
}

/// Asks EPMD on the node's host (Erlang's way).
#[derive(Clone, Debug)]
pub struct EpmdResolver {
    /// EPMD's port on every host (`ERL_EPMD_PORT` or 4369 by default).
    pub epmd_port: u16,
    /// How long one EPMD query may take.
    pub timeout: Duration,
}

impl Default for EpmdResolver {
    fn default() -> Self {
        EpmdResolver { epmd_port: epmd::default_port(), timeout: Duration::from_secs(5) }
    }
}

impl Resolver for EpmdResolver {
    fn resolve<'a>(&'a self, node: &'a NodeName) -> BoxFuture<'a, Result<Resolved, ResolveError>> {
        Box::pin(async move {
            let host = node.host();
            let mut last_error = None;
            for ip in host_addresses(host).await? {
                let asked = ip.to_string();
                let client = epmd::client::EpmdClient::new(asked, self.epmd_port).with_timeout(self.timeout);
                let answer = client.port_please(node.alive()).await;
                match answer {
                    Ok(Some(info)) => {
                        if info.highest_version < 6 {
                            return Err(ResolveError::TooOld { node: node.clone(), version: info.highest_version });
                        }
                        return Ok(Resolved { addr: SocketAddr::new(ip, info.port), version: info.highest_version });
                    }
                    Ok(None) => {
                        last_error = Some(ResolveError::NotRegistered {
                            node: node.clone(),
                            host: host.to_string(),
                            epmd_port: self.epmd_port,
                        })
                    }
                    Err(source) => {
                        last_error = Some(ResolveError::Epmd {
                            node: node.clone(),
                            host: host.to_string(),
                            epmd_port: self.epmd_port,
                            source,
                        })
                    }
                }
            }
            Err(last_error
                .unwrap_or_else(|| ResolveError::Host { host: host.to_string(), reason: "no addresses".into() }))
        })
    }
}

/// Fixed addresses, no EPMD: a table of node names, and/or one port every node uses.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    entries: HashMap<String, SocketAddr>,
    port: Option<u16>,
}

impl StaticResolver {
    /// A resolver where every node `x@host` listens on `host:port` (as `erl -erl_epmd_port`).
    pub fn with_port(port: u16) -> StaticResolver {
        StaticResolver { entries: HashMap::new(), port: Some(port) }
    }

    /// Adds (or replaces) the address of one node.
    pub fn insert(mut self, node: &NodeName, addr: SocketAddr) -> StaticResolver {
        self.entries.insert(node.as_str().to_string(), addr);
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve<'a>(&'a self, node: &'a NodeName) -> BoxFuture<'a, Result<Resolved, ResolveError>> {
        Box::pin(async move {
            if let Some(addr) = self.entries.get(node.as_str()) {
                return Ok(Resolved { addr: *addr, version: 6 });
            }
            let port = self.port.ok_or_else(|| ResolveError::NoStaticEntry(node.clone()))?;
            let ip = host_addresses(node.host()).await?[0];
            Ok(Resolved { addr: SocketAddr::new(ip, port), version: 6 })
        })
    }
}
