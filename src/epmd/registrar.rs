//! Publishing a node with EPMD, including starting one when none runs.
//!
//! [`register_and_keep`] registers the node, returns once it is registered,
//! and then keeps the registration alive in a background task for as long as
//! the returned [`PublishedNode`] lives.
//!
//! # What OTP does
//!
//! - **Starting epmd.** `erl -sname`/`-name` runs `epmd -daemon` before the
//!   VM boots (unless `-start_epmd false`): a detached process that outlives
//!   the node. If one already listens, the new `epmd` exits at once.
//! - **Losing epmd.** `erl_epmd` (kernel) keeps the ALIVE2 socket open. When
//!   it closes, it schedules a reconnect after 2 s (`RECONNECT_TIME`) and
//!   retries every 2 s until a registration succeeds, *ignoring the creation
//!   the new epmd assigns*: the node keeps its original creation, so its pids
//!   and references stay valid. It never starts an epmd itself at that point;
//!   it waits for one to appear.
//!
//! # What we do, and why
//!
//! A starting node whose EPMD is unreachable on a loopback `epmd_host`
//! (connection refused) starts an **embedded daemon** — an
//! [`EpmdDaemon`] inside its own process — and registers
//! with it. If two nodes start at the same moment, one wins the bind and the
//! other gets "address in use" and simply registers with the winner.
//!
//! When the process hosting the daemon exits, every registration it held
//! drops. Each surviving registrar then does what OTP's `erl_epmd` does —
//! waits [`RegistrarConfig::retry_interval`] and re-registers, keeping its
//! original creation — with one addition: if nothing answers, it starts an
//! embedded daemon itself (**take-over**) and registers with that. The first
//! survivor to try becomes the new host; the others find it on their next
//! attempt. `erl` nodes that were registered with the old host re-register
//! with the new one within their own 2 s retry.
//!
//! We chose this over spawning a detached `beamlink epmd` process because:
//! - a library cannot count on a `beamlink` executable being installed, on
//!   `PATH`, or of a matching version; a program embedding beamlink would
//!   silently depend on one;
//! - a detached daemon outlives the program that started it (an OTP `epmd`
//!   keeps running after the last node stops), which surprises users, leaks
//!   processes from test suites, and escapes the program's supervision and
//!   logging;
//! - detaching a process properly (new session, closed descriptors) means
//!   platform-specific code, which this crate avoids.
//!
//! The cost: when the hosting process exits, lookups on that host fail for up
//! to one retry interval, until a survivor takes over. What a user sees:
//! **start two nodes on a fresh machine in any order, and it just works;
//! kill the first, and the second is reachable again within one retry.** A
//! host where nodes come and go around long-lived `erl` nodes is better
//! served by a standing `beamlink epmd` (or OTP's `epmd`), which the
//! registrar simply uses when it finds one.
//!
//! ```no_run
//! use beamlink::epmd::{RegistrarConfig, register_and_keep};
//!
//! # async fn demo() -> Result<(), beamlink::epmd::EpmdError> {
//! let node = register_and_keep(RegistrarConfig::new("simple_cache", 41000)).await?;
//! println!("registered with creation {}", node.creation());
//! // ... the node runs; the registration is kept alive in the background ...
//! node.shutdown().await; // unregisters, and stops the daemon if this process hosts it
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::client::{EpmdClient, Registration};
use super::codec::{Alive2Request, NodeInfo, NodeType};
use super::daemon::{DaemonConfig, DaemonHandle, EpmdDaemon, loopback_addresses};
use super::{EpmdError, default_port};

/// How often a registrar that lost a bind race looks for the winner.
const RACE_ATTEMPTS: usize = 20;
/// The pause between those looks.
const RACE_PAUSE: Duration = Duration::from_millis(50);

/// How a node publishes itself.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// Where EPMD runs; default 127.0.0.1. Auto-start applies only to loopback hosts.
    pub epmd_host: IpAddr,
    /// EPMD's port; default [`default_port()`] (`$ERL_EPMD_PORT` or 4369).
    pub epmd_port: u16,
    /// The node name without `@host`.
    pub alive: String,
    /// The node's distribution listen port.
    pub dist_port: u16,
    /// The node type to register; default [`NodeType::Normal`], as OTP sends.
    pub node_type: NodeType,
    /// Highest distribution version; default 6.
    pub highest_version: u16,
    /// Lowest distribution version; default 6 (OTP 25 sends 5).
    pub lowest_version: u16,
    /// Extra data stored with the registration; default empty.
    pub extra: Vec<u8>,
    /// Start an embedded daemon when none answers; default on, on loopback.
    pub auto_start: Option<AutoStart>,
    /// The wait before each re-registration attempt; default 1 s.
    pub retry_interval: Duration,
}

impl RegistrarConfig {
    /// The defaults for node `alive` listening on `dist_port`.
    pub fn new(alive: impl Into<String>, dist_port: u16) -> RegistrarConfig {
        RegistrarConfig {
            epmd_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            epmd_port: default_port(),
            alive: alive.into(),
            dist_port,
            node_type: NodeType::Normal,
            highest_version: 6,
            lowest_version: 6,
            extra: Vec::new(),
            auto_start: Some(AutoStart::default()),
            retry_interval: Duration::from_secs(1),
        }
    }

    fn request(&self) -> Alive2Request {
        NodeInfo {
            port: self.dist_port,
            node_type: self.node_type,
            protocol: 0,
            highest_version: self.highest_version,
            lowest_version: self.lowest_version,
            name: self.alive.clone(),
            extra: self.extra.clone(),
        }
    }
}

/// What an embedded daemon, started because no EPMD answered, listens on.
/// `epmd_host` is always added (first) so the registrar can reach it.
#[derive(Clone, Debug)]
pub struct AutoStart {
    /// The addresses to bind; default 127.0.0.1 and ::1.
    pub addresses: Vec<IpAddr>,
}

impl Default for AutoStart {
    fn default() -> Self {
        AutoStart { addresses: loopback_addresses() }
    }
}

/// Flags the background task keeps up to date.
#[derive(Debug, Default)]
struct Status {
    registered: AtomicBool,
    hosts_daemon: AtomicBool,
}

/// A published node. While it lives, its registration is kept (and restored
/// after EPMD restarts or moves). [`PublishedNode::shutdown`] or dropping it
/// unregisters the node and stops the daemon this process hosts, if any.
#[derive(Debug)]
pub struct PublishedNode {
    name: String,
    creation: u32,
    status: Arc<Status>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl PublishedNode {
    /// The creation from the first registration, kept for the node's lifetime.
    pub fn creation(&self) -> u32 {
        self.creation
    }

    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True while an EPMD holds the registration.
    pub fn is_registered(&self) -> bool {
        self.status.registered.load(Ordering::SeqCst)
    }

    /// True while this process hosts the embedded EPMD.
    pub fn hosts_daemon(&self) -> bool {
        self.status.hosts_daemon.load(Ordering::SeqCst)
    }

    /// Unregisters, stops the embedded daemon if this process hosts it, and
    /// waits until both are done.
    pub async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PublishedNode {
    fn drop(&mut self) {
        // Dropping the sender tells the task to unregister and stop its daemon.
        self.stop.take();
    }
}

/// Registers the node (starting an embedded EPMD if none answers and
/// `auto_start` allows it), returns once registered, and keeps the
/// registration alive in a background task on the current tokio runtime.
///
/// Fails when the name is taken or invalid, or when no EPMD answers and none
/// could be started.
pub async fn register_and_keep(config: RegistrarConfig) -> Result<PublishedNode, EpmdError> {
    let status = Arc::new(Status::default());
    let mut keeper = Keeper {
        client: EpmdClient::new(config.epmd_host.to_string(), config.epmd_port),
        request: config.request(),
        config,
        daemon: None,
        status: Arc::clone(&status),
    };
    let registration = keeper.attempt().await?;
    let creation = registration.creation();
    status.registered.store(true, Ordering::SeqCst);
    info!(name = keeper.config.alive, creation, hosts_daemon = keeper.daemon.is_some(), "node published");
    let (stop, stopped) = oneshot::channel();
    let name = keeper.config.alive.clone();
    let task = tokio::spawn(keeper.keep(registration, stopped));
    Ok(PublishedNode { name, creation, status, stop: Some(stop), task: Some(task) })
}

/// The background side of a [`PublishedNode`].
struct Keeper {
    config: RegistrarConfig,
    client: EpmdClient,
    request: Alive2Request,
    daemon: Option<DaemonHandle>,
    status: Arc<Status>,
}

impl Keeper {
    /// One registration attempt, hosting a daemon when none answers.
    async fn attempt(&mut self) -> Result<Registration, EpmdError> {
        self.forget_stopped_daemon();
        match self.client.register(&self.request).await {
            Err(e) if e.is_unreachable() && self.may_host() => debug!(error = %e, "no epmd answers"),
            other => return other,
        }
        match self.host_daemon().await {
            Ok(()) => {}
            Err(EpmdError::PortInUse { addr }) => debug!(%addr, "another process started epmd first"),
            Err(e) => return Err(e),
        }
        // We host it now, or the process that won the race is about to listen.
        let mut attempts = 0;
        loop {
            match self.client.register(&self.request).await {
                Err(e) if e.is_unreachable() && attempts < RACE_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(RACE_PAUSE).await;
                }
                other => return other,
            }
        }
    }

    fn may_host(&self) -> bool {
        self.config.auto_start.is_some() && self.config.epmd_host.is_loopback() && self.daemon.is_none()
    }

    fn forget_stopped_daemon(&mut self) {
        if self.daemon.as_ref().is_some_and(DaemonHandle::is_finished) {
            self.daemon = None;
            self.status.hosts_daemon.store(false, Ordering::SeqCst);
        }
    }

    async fn host_daemon(&mut self) -> Result<(), EpmdError> {
        let wanted: Vec<IpAddr> = self.config.auto_start.iter().flat_map(|a| a.addresses.iter().copied()).collect();
        // A wildcard address of the same family already covers the loopback
        // host, and binding both would collide.
        let host = self.config.epmd_host;
        let covered = wanted.iter().any(|ip| ip.is_unspecified() && ip.is_ipv4() == host.is_ipv4());
        let mut addresses = if covered { Vec::new() } else { vec![host] };
        for ip in wanted {
            if !addresses.contains(&ip) {
                addresses.push(ip);
            }
        }
        let daemon = EpmdDaemon::bind(DaemonConfig {
            port: self.config.epmd_port,
            addresses,
            hosted_by: Some(self.config.alive.clone()),
            ..DaemonConfig::default()
        })
        .await?;
        info!(addrs = ?daemon.local_addrs(), "no epmd answered; this process now hosts one");
        self.daemon = Some(daemon.spawn());
        self.status.hosts_daemon.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Holds the registration; when it drops, re-registers every
    /// `retry_interval`, taking over as host when no EPMD answers.
    async fn keep(mut self, mut registration: Registration, mut stop: oneshot::Receiver<()>) {
        let creation = registration.creation();
        let name = self.config.alive.clone();
        let retry = self.config.retry_interval;
        loop {
            tokio::select! {
                _ = registration.closed() => {}
                _ = &mut stop => break,
            }
            self.status.registered.store(false, Ordering::SeqCst);
            warn!(name, "lost the epmd registration; re-registering every {retry:?}");
            let mut logged = false;
            registration = loop {
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = &mut stop => return self.finish(None).await,
                }
                match self.attempt().await {
                    Ok(again) => break again,
                    Err(e) if !logged => {
                        warn!(name, error = %e, "re-registration failed; still trying");
                        logged = true;
                    }
                    Err(e) => debug!(name, error = %e, "re-registration failed"),
                }
            };
            if registration.creation() != creation {
                debug!(name, assigned = registration.creation(), kept = creation, "keeping the original creation");
            }
            self.status.registered.store(true, Ordering::SeqCst);
            info!(name, hosts_daemon = self.daemon.is_some(), "re-registered with epmd");
        }
        self.finish(Some(registration)).await;
    }

    /// Unregisters, then stops the hosted daemon.
    async fn finish(mut self, registration: Option<Registration>) {
        drop(registration);
        self.status.registered.store(false, Ordering::SeqCst);
        if let Some(daemon) = self.daemon.take() {
            daemon.shutdown().await;
        }
        self.status.hosts_daemon.store(false, Ordering::SeqCst);
        debug!(name = self.config.alive, "unpublished");
    }
}
