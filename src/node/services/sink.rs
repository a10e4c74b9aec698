//! `sink`: counts the messages it gets. `{done, From}` makes it send
//! `{count, N}` to `From` (N not counting the `done` message) and reset.

use crate::node::{Node, NodeError};
use crate::term::{Pid, Term};

/// Starts `sink`, registered under `name`.
pub fn start(node: &Node, name: &str) -> Result<Pid, NodeError> {
    node.spawn_service(Some(name), |mut p| async move {
        let mut count: u64 = 0;
        while let Ok(msg) = p.recv().await {
            if let Some([tag, Term::Pid(from)]) = msg.as_tuple()
                && tag.is_atom("done")
            {
                let reply = Term::Tuple(vec![Term::atom("count"), Term::from(count)]);
                p.node().inner.service_send(p.pid(), from, reply);
                count = 0;
            } else {
                count += 1;
            }
        }
    })
}
