//! `net_kernel`: answers the `{is_auth, Node}` call behind `net_adm:ping/1`.

use crate::node::{GenCall, Node, NodeError};
use crate::term::{Pid, Term};

/// Starts the registered `net_kernel` process.
pub(super) fn start(node: &Node) -> Result<Pid, NodeError> {
    node.spawn_service(Some("net_kernel"), |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if let Some(call) = GenCall::parse(&msg)
                && matches!(call.request.as_tuple(), Some([tag, _]) if tag.is_atom("is_auth"))
            {
                // The handshake already proved the cookie; OTP answers `yes` unconditionally.
                p.node().inner.service_reply(p.pid(), &call.from, Term::atom("yes"));
            }
        }
    })
}

/// The answer to `request` when it is a ping (`{is_auth, Node}` as a
/// gen_server call): who to answer and how. Peers' pings are answered as
/// they arrive, by the dispatcher, so that one peer's flood of them never
/// queues another's behind it in this process's mailbox.
pub(crate) fn ping_answer(request: &Term) -> Option<GenCall> {
    let call = GenCall::parse(request)?;
    matches!(call.request.as_tuple(), Some([tag, _]) if tag.is_atom("is_auth")).then_some(call)
}
