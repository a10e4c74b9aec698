//! `echo`: sends back what it gets. A message `{From, Term}` gets `Term`
//! sent to `From`; a gen_server call gets its request as the reply.

use crate::node::{GenCall, Node, NodeError};
use crate::term::{Pid, Term};

/// Starts `echo`, registered under `name`.
pub fn start(node: &Node, name: &str) -> Result<Pid, NodeError> {
    node.spawn_registered(name, |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if let Some(call) = GenCall::parse(&msg) {
                let _ = p.reply(&call.from, call.request).await;
            } else if let Term::Tuple(mut items) = msg
                && items.len() == 2
                && let Term::Pid(from) = &items[0]
            {
                let from = from.clone();
                let payload = items.pop().unwrap_or_else(|| unreachable!("two elements"));
                let _ = p.send(&from, payload).await;
            }
        }
    })
}
