//! `net_kernel`: answers the `{is_auth, Node}` call behind `net_adm:ping/1`.

use crate::node::{GenCall, Node, NodeError};
use crate::term::Term;

/// Starts the registered `net_kernel` process.
pub(super) fn start(node: &Node) -> Result<(), NodeError> {
    node.spawn_service(Some("net_kernel"), |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if let Some(call) = GenCall::parse(&msg)
                && matches!(call.request.as_tuple(), Some([tag, _]) if tag.is_atom("is_auth"))
            {
                // The handshake already proved the cookie; OTP answers `yes` unconditionally.
                p.node().inner.service_reply(p.pid(), &call.from, Term::atom("yes"));
            }
        }
    })?;
    Ok(())
}
