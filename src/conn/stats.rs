//! The counters of one connection: bytes, messages and ticks each way,
//! kept by its reader and writer tasks (one relaxed add per read or write
//! batch, not per message), read by `Node::status`.

use std::sync::atomic::{AtomicU64, Ordering};

/// A connection's live counters.
#[derive(Debug, Default)]
pub struct ConnStats {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    ticks_in: AtomicU64,
    ticks_out: AtomicU64,
}

/// The counters of a connection at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes read from the peer, framing included.
    pub bytes_in: u64,
    /// Bytes written to the peer, framing included.
    pub bytes_out: u64,
    /// Messages (control messages, with or without a payload) received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Ticks received.
    pub ticks_in: u64,
    /// Ticks sent.
    pub ticks_out: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl ConnStats {
    /// What the reader took in.
    pub(crate) fn received(&self, bytes: u64, messages: u64, ticks: u64) {
        add(&self.bytes_in, bytes);
        add(&self.messages_in, messages);
        add(&self.ticks_in, ticks);
    }

    /// What the writer put out.
    pub(crate) fn sent(&self, bytes: u64, messages: u64, ticks: u64) {
        add(&self.bytes_out, bytes);
        add(&self.messages_out, messages);
        add(&self.ticks_out, ticks);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            ticks_in: get(&self.ticks_in),
            ticks_out: get(&self.ticks_out),
        }
    }
}
