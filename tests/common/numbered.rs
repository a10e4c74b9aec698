//! Collecting numbered test messages from a channel.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

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
