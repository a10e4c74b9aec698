//! Numbered test messages: 1, 2, 3... sent to a process registered as `rx`,
//! which passes them to a channel the test reads.

use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use beamlink::node::Node;
use beamlink::term::Term;

/// A process registered as `rx` on `node` that passes every number it gets
/// to the returned channel.
pub fn receiver(node: &Node) -> Receiver<u64> {
    let (tx, rx) = channel();
    node.spawn_registered("rx", move |mut p| async move {
        while let Ok(m) = p.recv().await {
            if let Some(n) = m.as_u64() {
                let _ = tx.send(n);
            }
        }
    })
    .expect("register rx");
    rx
}

/// Sends 1, 2, 3... from a process of `node` to `rx` on `peer`, one every
/// `every` for `duration`; returns how many it sent.
pub async fn send(node: Node, peer: String, every: Duration, duration: Duration) -> u64 {
    let p = node.process();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(every);
    let mut sent = 0;
    while started.elapsed() < duration {
        tick.tick().await;
        sent += 1;
        p.send_named("rx", &peer, Term::from(sent)).await.expect("send");
    }
    sent
}

/// Everything that arrives on `rx` until the number `last` (or until `limit`
/// has passed), then whatever else arrives within `linger`: anything
/// duplicated would come after the last one.
pub fn collect(rx: &Receiver<u64>, last: u64, limit: Duration, linger: Duration) -> Vec<u64> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(n) => got.push(n),
            Err(_) => break,
        }
    }
    while let Ok(n) = rx.recv_timeout(linger) {
        got.push(n);
    }
    got
}
