//! The well-known services every node runs, and the demo services of
//! `beamlink serve`.
//!
//! - `net_kernel` answers `net_adm:ping/1` (`{is_auth, Node}` → `yes`).
//! - `rex` serves `rpc:call`, `rpc:block_call`, `rpc:cast` and older peers;
//!   `spawn` serves `erpc` (OTP 25+ `rpc:call`) through spawn requests.
//!   Both run the functions registered with [`Node::register_rpc`](super::Node::register_rpc).
//! - A group leader that answers I/O requests from functions called remotely.
//! - [`echo`] and [`sink`]: the load-generator targets `beamlink serve` offers.

pub mod echo;
mod group_leader;
pub(crate) mod net_kernel;
pub mod rpc;
pub mod sink;
pub(crate) mod spawn;

use super::GenCall;
use super::{Node, NodeError};
use crate::term::{Pid, Term};

/// Starts the services every node runs: `net_kernel`, `rex`, the group leader.
pub(crate) fn start_builtin(node: &Node) -> Result<(), NodeError> {
    let net_kernel = net_kernel::start(node)?;
    let rex = rpc::start_rex(node)?;
    group_leader::start(node)?;
    rpc::register_builtins(node);
    let mesh = super::mesh::start(node)?;
    let _ = node.inner.services.set(ServicePids { net_kernel, rex, mesh });
    Ok(())
}

/// The pid a shared service would answer for `request`: a gen_server
/// call's caller, `{From, _}` (rex's classic calls and `features_request`,
/// `echo`), `{done, From}` (`sink`), and `{io_request, From, ReplyAs, _}`
/// (the group leader).
pub(crate) fn answer_address(request: &Term) -> Option<Pid> {
    if let Some(call) = GenCall::parse(request) {
        return Some(call.from.pid);
    }
    match request.as_tuple()? {
        [Term::Pid(from), _] => Some(from.clone()),
        [tag, Term::Pid(from)] if tag.is_atom("done") => Some(from.clone()),
        [tag, Term::Pid(from), _, _] if tag.is_atom("io_request") => Some(from.clone()),
        _ => None,
    }
}

impl Node {
    /// Spawns a shared service (see [`answer_address`]), registered as `name`
    /// when given; it is marked before it can receive anything.
    pub(crate) fn spawn_service<F, Fut>(&self, name: Option<&str>, body: F) -> Result<Pid, NodeError>
    where
        F: FnOnce(super::Process) -> Fut + Send + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: super::IntoExitReason,
    {
        let node = self.clone();
        let name = name.map(str::to_string);
        super::process::spawn(self.clone(), body, move |pid| {
            if let Some(slot) = node.inner.local_slot(pid) {
                slot.service.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            match &name {
                Some(name) => node.register(name, pid),
                None => Ok(()),
            }
        })
    }
}

/// The pids of the services the dispatcher treats apart from other processes.
#[derive(Debug)]
pub(crate) struct ServicePids {
    /// `net_kernel`: peers' pings are answered as they arrive.
    pub net_kernel: Pid,
    /// `rex`: requests from peers are checked and served as they arrive.
    pub rex: Pid,
    /// The mesh process (visible nodes only): hears only well-formed news.
    pub mesh: Option<Pid>,
}
