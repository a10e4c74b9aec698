//! The well-known services every node runs, and the demo services of
//! `beamlink serve`.
//!
//! - `net_kernel` answers `net_adm:ping/1` (`{is_auth, Node}` → `yes`).
//! - `rex` serves `rpc:call`, `rpc:block_call`, `rpc:cast` and older peers;
//!   [`spawn`] serves `erpc` (OTP 25+ `rpc:call`) through spawn requests.
//!   Both run the functions registered with [`Node::register_rpc`](super::Node::register_rpc).
//! - A group leader that answers I/O requests from functions called remotely.
//! - [`echo`] and [`sink`]: the load-generator targets `beamlink serve` offers.

pub mod echo;
mod group_leader;
mod net_kernel;
pub mod rpc;
pub mod sink;
pub(crate) mod spawn;

use super::{Node, NodeError};
use crate::term::Pid;

/// Starts the services every node runs: `net_kernel`, `rex`, the group leader.
pub(crate) fn start_builtin(node: &Node) -> Result<(), NodeError> {
    net_kernel::start(node)?;
    let rex = rpc::start_rex(node)?;
    group_leader::start(node)?;
    rpc::register_builtins(node);
    let mesh = super::mesh::start(node)?;
    let _ = node.inner.services.set(ServicePids { rex, mesh });
    Ok(())
}

/// The pids of the services the dispatcher treats apart from other processes.
#[derive(Debug)]
pub(crate) struct ServicePids {
    /// `rex`: requests from peers are checked and served as they arrive.
    pub rex: Pid,
    /// The mesh process (visible nodes only): hears only well-formed news.
    pub mesh: Option<Pid>,
}
