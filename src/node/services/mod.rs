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

/// Starts the services every node runs: `net_kernel`, `rex`, the group leader.
pub(crate) fn start_builtin(node: &Node) -> Result<(), NodeError> {
    net_kernel::start(node)?;
    rpc::start_rex(node)?;
    group_leader::start(node)?;
    rpc::register_builtins(node);
    super::mesh::start(node)?;
    Ok(())
}
