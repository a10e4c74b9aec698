//! `echo`: sends back what it gets. A message `{From, Term}` gets `Term`
//! sent to `From`; a gen_server call gets its request as the reply.

use crate::node::{GenCall, Node, NodeError};
use crate::term::{Pid, Term};

/// Starts `echo`, registered under `name`.
pub fn start(node: &Node, name: &str) -> Result<Pid, NodeError> {
    node.spawn_service(Some(name), |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if let Some(call) = GenCall::parse(&msg) {
                p.node().inner.service_reply(p.pid(), &call.from, call.request);
            } else if let Term::Tuple(mut items) = msg
                && items.len() == 2
                && let Term::Pid(from) = &items[0]
            {
                let from = from.clone();
                let payload = items.pop().unwrap_or_else(|| unreachable!("two elements"));
                p.node().inner.service_send(p.pid(), &from, payload);
            }
        }
    })
}
