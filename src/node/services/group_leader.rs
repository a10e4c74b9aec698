//! A group leader for functions called from other nodes: it answers every
//! Erlang I/O request with `ok` (logging any output) so a remote function that
//! prints never waits forever for a reply.

use crate::node::{Node, NodeError};
use crate::term::Term;

/// Starts the group leader and records its pid on the node.
pub(super) fn start(node: &Node) -> Result<(), NodeError> {
    let pid = node.spawn_service(None, |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if let Some([tag, Term::Pid(from), reply_as, request]) = msg.as_tuple()
                && tag.is_atom("io_request")
            {
                tracing::debug!(request = %request.bounded(200), "I/O request from a remote call");
                let reply = Term::Tuple(vec![Term::atom("io_reply"), reply_as.clone(), Term::atom("ok")]);
                p.node().inner.service_send(p.pid(), from, reply);
            }
        }
    })?;
    *node.inner.group_leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(pid);
    Ok(())
}
