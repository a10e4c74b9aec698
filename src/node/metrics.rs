//! The `metrics` feature: a node's [`NodeStatus`] published through the
//! [`metrics`] facade, so that whatever exporter the program installs
//! (Prometheus, StatsD, ...) carries it. Every series has a `node` label;
//! per-connection series a `peer` label too:
//!
//! | series | kind |
//! |---|---|
//! | `beamlink_connections` | gauge: connections up |
//! | `beamlink_connection_bytes_received_total`, `..._sent_total` | counter |
//! | `beamlink_connection_messages_received_total`, `..._sent_total` | counter |
//! | `beamlink_connection_ticks_received_total`, `..._sent_total` | counter |
//! | `beamlink_connection_queued_bytes` | gauge |
//! | `beamlink_setup_failures_total` (labels `direction`, `kind`) | counter |

use std::time::Duration;

use super::{Node, NodeStatus};

/// Records one status snapshot: counters are set to the totals, gauges to now.
pub fn record(status: &NodeStatus) {
    let node = status.node.to_string();
    metrics::gauge!("beamlink_connections", "node" => node.clone()).set(status.connections.len() as f64);
    for c in &status.connections {
        let labels = [("node", node.clone()), ("peer", c.peer.to_string())];
        let n = &c.counters;
        metrics::counter!("beamlink_connection_bytes_received_total", &labels).absolute(n.bytes_in);
        metrics::counter!("beamlink_connection_bytes_sent_total", &labels).absolute(n.bytes_out);
        metrics::counter!("beamlink_connection_messages_received_total", &labels).absolute(n.messages_in);
        metrics::counter!("beamlink_connection_messages_sent_total", &labels).absolute(n.messages_out);
        metrics::counter!("beamlink_connection_ticks_received_total", &labels).absolute(n.ticks_in);
        metrics::counter!("beamlink_connection_ticks_sent_total", &labels).absolute(n.ticks_out);
        metrics::gauge!("beamlink_connection_queued_bytes", &labels).set(c.queued_bytes as f64);
    }
    for ((direction, kind), count) in &status.setup_failures {
        let labels = [("node", node.clone()), ("direction", direction.to_string()), ("kind", kind.to_string())];
        metrics::counter!("beamlink_setup_failures_total", &labels).absolute(*count);
    }
}

impl Node {
    /// Publishes [`Node::status`] through the `metrics` facade now and every
    /// `interval` after, until the node is dropped (see [`record`] for the
    /// series). Install the exporter's recorder first.
    pub fn publish_metrics(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = std::sync::Arc::downgrade(&self.inner);
        self.inner.runtime.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                record(&Node { inner }.status());
                tokio::time::sleep(interval).await;
            }
        })
    }
}
