//! Cluster membership: the full mesh among beamlink nodes, node-event
//! messages, and connections kept up in the background.
//!
//! There is no mesh logic in the distribution protocol itself: OTP's
//! transitive connections come from `global`, which beamlink does not speak.
//! beamlink nodes therefore connect to Erlang nodes as *hidden* nodes (as C
//! nodes and jinterface do) and run their own small protocol among
//! themselves: whenever a connection comes up, each side sends the other's
//! `beamlink_mesh` process `{beamlink_mesh_hello, Node, [KnownBeamlinkNode]}`;
//! the receiver marks the sender visible, connects to every node in the
//! list it is not connected to yet, and passes the news on: it sends the
//! newcomer `{beamlink_mesh_nodes, [Member]}` with every member it knows now,
//! and every other member `{beamlink_mesh_nodes, [Newcomer]}` (as `global`
//! broadcasts new nodes). When {A, B} meets {C, D}, or many nodes join
//! through one at the same moment, every member ends up connected to every
//! other.
//! Only peers whose handshake advertised [`DistFlags::BEAMLINK_MESH`] (visible
//! beamlink nodes) are sent a hello, so Erlang nodes, C nodes, `erl_call`
//! and jinterface, which read every message they receive, get nothing they
//! did not ask for; and mesh messages from any other peer are dropped.
//! A hidden beamlink node does not advertise the flag, sends no hello and
//! follows none.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Node, NodeError, NodeEvent, NodeInner};
use crate::proto::{DistFlags, NodeName};
use crate::term::{Atom, Term};

/// The registered name of the mesh process on every visible beamlink node.
pub(crate) const MESH_NAME: &str = "beamlink_mesh";
const HELLO: &str = "beamlink_mesh_hello";
const NODES: &str = "beamlink_mesh_nodes";

/// Whether a message from `peer` to the mesh process fits the protocol: a
/// hello that names its sender as the connection's own peer, or news, each
/// listing at most `max_members` node names. Anything else is dropped before
/// it can make this node dial.
pub(crate) fn admissible(peer: &NodeName, message: &Term, max_members: usize) -> bool {
    let names = |list: &Term| {
        list.as_list().is_some_and(|l| l.len() <= max_members && l.iter().all(|n| matches!(n, Term::Atom(_))))
    };
    match message.as_tuple() {
        Some([tag, Term::Atom(sender), known]) if tag.is_atom(HELLO) => sender == peer.atom() && names(known),
        Some([tag, known]) if tag.is_atom(NODES) => names(known),
        // Node events come from this node itself, never from a peer.
        _ => false,
    }
}

/// Starts the mesh process (visible nodes only); returns its pid.
pub(crate) fn start(node: &Node) -> Result<Option<crate::term::Pid>, NodeError> {
    if node.inner.options.hidden {
        return Ok(None);
    }
    let pid = node.spawn_registered(MESH_NAME, |mut p| async move {
        let mesh = Atom::new(MESH_NAME);
        while let Ok(msg) = p.recv().await {
            let node = p.node().clone();
            match msg.as_tuple() {
                Some([tag, Term::Atom(peer)]) if tag.is_atom("nodeup") => {
                    // Only beamlink nodes of the mesh hear about it: nothing unsolicited.
                    if !node.inner.conns.flags_of(peer).is_some_and(|f| f.contains(DistFlags::BEAMLINK_MESH)) {
                        continue;
                    }
                    let hello = Term::Tuple(vec![
                        Term::atom(HELLO),
                        Term::Atom(node.name().atom().clone()),
                        Term::list(node.inner.mesh_members().into_iter().map(Term::Atom).collect()),
                    ]);
                    node.inner.service_send_named(p.pid(), &mesh, peer, hello);
                }
                Some([tag, Term::Atom(peer), known]) if tag.is_atom(HELLO) => {
                    let Some(conn) = node.inner.conns.get(peer) else { continue };
                    let newcomer = !conn.beamlink.swap(true, Ordering::AcqRel);
                    conn.visible.store(true, Ordering::Release);
                    connect_to_all(&node, peer, known);
                    if newcomer {
                        // Pass the news on both ways.
                        let members = node.inner.mesh_members();
                        let others: Vec<Term> =
                            members.iter().filter(|m| *m != peer).cloned().map(Term::Atom).collect();
                        let to_newcomer = Term::Tuple(vec![Term::atom(NODES), Term::list(others)]);
                        node.inner.service_send_named(p.pid(), &mesh, peer, to_newcomer);
                        let about_newcomer =
                            Term::Tuple(vec![Term::atom(NODES), Term::list(vec![Term::Atom(peer.clone())])]);
                        for m in members.iter().filter(|m| *m != peer) {
                            node.inner.service_send_named(p.pid(), &mesh, m, about_newcomer.clone());
                        }
                    }
                }
                Some([tag, known]) if tag.is_atom(NODES) => {
                    connect_to_all(&node, node.name().atom(), known);
                }
                _ => {}
            }
        }
    })?;
    // Watch node events from here, not from the process body: a connection
    // that comes up before the body first runs must still say hello.
    node.inner.watch_nodes(&pid, true);
    Ok(Some(pid))
}

/// Connects to every node in `known` this node is not connected to yet.
fn connect_to_all(node: &Node, via: &Atom, known: &Term) {
    for other in known.as_list().unwrap_or(&[]) {
        if let Term::Atom(n) = other
            && n != node.name().atom()
            && node.inner.conns.get(n).is_none()
        {
            tracing::debug!(via = %via.as_str(), node = %n.as_str(), "joining a mesh member");
            node.inner.ensure_connection(n);
        }
    }
}

impl NodeInner {
    /// The visible beamlink peers: what a hello tells a newcomer.
    fn mesh_members(&self) -> Vec<Atom> {
        self.conns.peers(|c| c.is_mesh_member()).into_iter().map(|n| n.atom().clone()).collect()
    }

    /// Starts (`on`) or stops sending `pid` `{nodeup, Node}` and `{nodedown, Node}`.
    pub(crate) fn watch_nodes(&self, pid: &crate::term::Pid, on: bool) {
        let mut watchers = self.node_watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|p| p != pid);
        if on {
            watchers.push(pid.clone());
        }
    }

    /// Sends `{Event, Node}` to every process that asked for node events.
    pub(crate) fn notify_node_watchers(&self, event: &str, node: &Atom) {
        let watchers = self.node_watchers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let msg = Term::Tuple(vec![Term::atom(event), Term::Atom(node.clone())]);
        for pid in watchers {
            self.deliver_local(&pid, msg.clone());
        }
    }

    /// Starts keeping `peer` connected (idempotent).
    pub(crate) fn keep_connected(&self, peer: NodeName) {
        let newly = self.persistent.lock().unwrap_or_else(|p| p.into_inner()).insert(peer.atom().clone());
        if !newly {
            return;
        }
        let Some(me) = self.self_ref.upgrade() else { return };
        let task = self.runtime.spawn(reconnect_loop(Arc::downgrade(&me), peer));
        self.background.lock().unwrap_or_else(|p| p.into_inner()).push(task.abort_handle());
    }

    /// Stops keeping `node` connected.
    pub(crate) fn forget_persistent(&self, node: &Atom) {
        self.persistent.lock().unwrap_or_else(|p| p.into_inner()).remove(node);
    }
}

/// Connects, waits for the connection to drop, reconnects with back-off.
async fn reconnect_loop(node: std::sync::Weak<NodeInner>, peer: NodeName) {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(30);
    let mut backoff = FIRST;
    loop {
        let Some(inner) = node.upgrade() else { return };
        if !inner.persistent.lock().unwrap_or_else(|p| p.into_inner()).contains(peer.atom()) {
            return;
        }
        let mut events = inner.events.subscribe();
        match inner.connect(&peer).await {
            Ok(()) => {
                backoff = FIRST;
                drop(inner);
                // Wait for this peer's connection to go down.
                loop {
                    match events.recv().await {
                        Ok(NodeEvent::Down { node: n, .. }) if n == peer => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let Some(inner) = node.upgrade() else { return };
                            if inner.conns.get(peer.atom()).is_none() {
                                break;
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
            Err(e) => {
                drop(inner);
                tracing::debug!(%peer, error = %e, retry_in = ?backoff, "reconnect failed");
                let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 4 + 1));
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::node::NodeBuilder;

    /// On a current-thread runtime no spawned task runs before `start`
    /// returns, so this sees whether the watch was set up by the spawner.
    #[tokio::test(flavor = "current_thread")]
    async fn the_mesh_process_hears_of_connections_before_its_body_first_runs() {
        let node = NodeBuilder::new("mesh_watch@localhost")
            .cookie("c")
            .no_listen()
            .publish(false)
            .start()
            .await
            .expect("a node without a listener starts");
        let mesh = node.whereis(super::MESH_NAME).expect("the mesh process is registered");
        let watchers = node.inner.node_watchers.lock().unwrap().clone();
        assert!(watchers.contains(&mesh), "the mesh process watches node events from the start");
        node.shutdown().await;
    }
}
