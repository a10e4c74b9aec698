//! What one peer may make this node do: the limits that keep a hostile or
//! broken peer from crashing, freezing or exhausting the node.
//!
//! A peer that crosses a limit loses its connection, with a log line naming
//! the limit; the node and every other connection carry on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::conn::ConnConfig;
use crate::proto::packet::ReassemblyLimits;
use crate::term::DecodeLimits;

/// Limits on what peers may make this node do. Every field has a documented
/// default; change them on [`NodeBuilder::limits`](super::NodeBuilder::limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest connected-mode packet accepted, before fragment reassembly.
    /// Default 128 MiB (OTP peers send at most 64 KiB fragments when FRAGMENTS
    /// is negotiated, which beamlink always offers).
    pub max_frame_size: usize,
    /// Deepest nesting of a received term. Default 512 (fits a 2 MiB stack
    /// with room to spare in debug builds).
    pub max_term_depth: usize,
    /// Estimated memory one received term may occupy once decoded. Default 256 MiB.
    pub max_decoded_bytes: usize,
    /// Distinct atoms one connection may introduce. Default 1,048,576 (OTP's
    /// whole atom table); a peer exceeding it is disconnected.
    pub max_atoms_per_connection: usize,
    /// Fragmented messages one peer may have in flight at once. Default 64.
    pub max_fragment_sequences: usize,
    /// Bytes one peer may have this node hold in unfinished fragmented
    /// messages. Default 256 MiB.
    pub max_reassembly_bytes: usize,
    /// Time for a connection's transport handshake (TLS) and, separately,
    /// its distribution handshake. Default 7 s (OTP's `net_setuptime`).
    pub handshake_timeout: Duration,
    /// Incoming connections still in a handshake at once; more are closed on
    /// arrival. Default 64.
    pub max_pending_handshakes: usize,
    /// Connections (up or being set up) at once. Default 1024.
    pub max_connections: usize,
    /// Failed cookie or certificate checks from one address before it is
    /// put in back-off. Default 5.
    pub auth_failures_before_backoff: u32,
    /// The first back-off; connections from the address are closed on
    /// arrival meanwhile. Default 1 s.
    pub auth_backoff: Duration,
    /// The back-off doubles with each further failure up to this. Default 60 s.
    pub auth_backoff_max: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        let decode = DecodeLimits::default();
        let reassembly = ReassemblyLimits::default();
        Limits {
            max_frame_size: 128 << 20,
            max_term_depth: decode.max_depth,
            max_decoded_bytes: decode.max_decoded_bytes,
            max_atoms_per_connection: 1 << 20,
            max_fragment_sequences: reassembly.max_open_sequences,
            max_reassembly_bytes: reassembly.max_reassembly_bytes,
            handshake_timeout: Duration::from_secs(7),
            max_pending_handshakes: 64,
            max_connections: 1024,
            auth_failures_before_backoff: 5,
            auth_backoff: Duration::from_secs(1),
            auth_backoff_max: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// Applies the per-connection limits to a connection configuration.
    pub(crate) fn apply(&self, conn: &mut ConnConfig) {
        conn.max_frame = self.max_frame_size;
        conn.decode_limits = DecodeLimits {
            max_depth: self.max_term_depth,
            max_decoded_bytes: self.max_decoded_bytes,
            ..conn.decode_limits.clone()
        };
        conn.max_atoms = self.max_atoms_per_connection;
        conn.reassembly = ReassemblyLimits {
            max_open_sequences: self.max_fragment_sequences,
            max_reassembly_bytes: self.max_reassembly_bytes,
        };
    }
}

#[derive(Debug)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    backoff: Duration,
}

/// Counts failed authentications per source address and puts repeat
/// offenders in back-off, so a peer guessing cookies or presenting bad
/// certificates cannot keep the node busy.
#[derive(Debug, Default)]
pub(crate) struct AuthThrottle {
    by_addr: Mutex<HashMap<IpAddr, Failures>>,
}

/// How many addresses the throttle remembers; the oldest are forgotten first.
const MAX_TRACKED: usize = 65_536;

impl AuthThrottle {
    /// Whether connections from `addr` are refused right now.
    pub fn is_blocked(&self, addr: IpAddr) -> bool {
        let map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&addr).and_then(|f| f.blocked_until).is_some_and(|until| Instant::now() < until)
    }

    /// Records a failed check; returns the back-off now in force, if any.
    pub fn failed(&self, addr: IpAddr, limits: &Limits) -> Option<Duration> {
        let mut map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            let now = Instant::now();
            map.retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let entry = map.entry(addr).or_insert(Failures { count: 0, blocked_until: None, backoff: limits.auth_backoff });
        entry.count += 1;
        if entry.count < limits.auth_failures_before_backoff {
            return None;
        }
        let backoff = entry.backoff;
        entry.blocked_until = Some(Instant::now() + backoff);
        entry.backoff = (backoff * 2).min(limits.auth_backoff_max);
        Some(backoff)
    }

    /// Forgets an address after a successful check.
    pub fn succeeded(&self, addr: IpAddr) {
        self.by_addr.lock().unwrap_or_else(|p| p.into_inner()).remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_starts_after_k_failures_and_doubles() {
        let limits = Limits {
            auth_failures_before_backoff: 3,
            auth_backoff: Duration::from_millis(100),
            auth_backoff_max: Duration::from_millis(300),
            ..Limits::default()
        };
        let t = AuthThrottle::default();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(t.failed(ip, &limits), None);
        assert_eq!(t.failed(ip, &limits), None);
        assert!(!t.is_blocked(ip));
        assert_eq!(t.failed(ip, &limits), Some(Duration::from_millis(100)));
        assert!(t.is_blocked(ip));
        assert_eq!(t.failed(ip, &limits), Some(Duration::from_millis(200)));
        assert_eq!(t.failed(ip, &limits), Some(Duration::from_millis(300)));
        assert_eq!(t.failed(ip, &limits), Some(Duration::from_millis(300)), "capped");
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        assert!(!t.is_blocked(other), "per address");
        t.succeeded(ip);
        assert!(!t.is_blocked(ip));
    }

    #[test]
    fn limits_reach_the_connection_config() {
        let limits =
            Limits { max_frame_size: 1000, max_term_depth: 7, max_atoms_per_connection: 9, ..Limits::default() };
        let mut conn = ConnConfig::default();
        limits.apply(&mut conn);
        assert_eq!((conn.max_frame, conn.decode_limits.max_depth, conn.max_atoms), (1000, 7, 9));
    }
}
