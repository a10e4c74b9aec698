//! Who may ask what: the locality rule of OTP's epmd, as a pure function.
//!
//! OTP's epmd calls a peer *local* when it connects from a loopback address
//! (127.0.0.0/8 or ::1) or from the very address the connection arrived on
//! (a process on the same host talking to one of the host's own addresses).
//! Registration (ALIVE2), KILL, STOP and DUMP are served only to local peers;
//! our daemon also keeps NAMES for local peers unless told otherwise
//! ([`DaemonConfig::allow_remote_names`](super::DaemonConfig::allow_remote_names)).

use std::net::IpAddr;

/// True when a peer connecting from `peer` to our address `local` is on this
/// host by OTP's rule: `peer` is a loopback address, or equals `local`.
/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
///
/// ```
/// use beamlink::epmd::access::is_local_peer;
/// use std::net::IpAddr;
///
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// assert!(is_local_peer(ip("127.0.0.1"), ip("127.0.0.1")));
/// assert!(is_local_peer(ip("192.0.2.7"), ip("192.0.2.7")));
/// assert!(!is_local_peer(ip("192.0.2.8"), ip("192.0.2.7")));
/// ```
pub fn is_local_peer(peer: IpAddr, local: IpAddr) -> bool {
    let peer = peer.to_canonical();
    peer.is_loopback() || peer == local.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Fault matrix E7, as a pure function: non-local peers are refused
    // registration, KILL, STOP and DUMP. Over the wire, from a peer in a
    // network namespace of its own: tests/hostile_epmd.rs
    // (`e7_registration_kill_stop_and_listings_from_another_host_are_refused`,
    // which needs root and `ip`).
    #[test]
    fn loopback_peers_are_local() {
        assert!(is_local_peer(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(is_local_peer(ip("127.4.5.6"), ip("127.0.0.1")));
        assert!(is_local_peer(ip("::1"), ip("::1")));
        assert!(is_local_peer(ip("::ffff:127.0.0.1"), ip("::")));
    }

    #[test]
    fn a_peer_on_our_own_address_is_local() {
        assert!(is_local_peer(ip("10.1.2.3"), ip("10.1.2.3")));
        assert!(is_local_peer(ip("::ffff:10.1.2.3"), ip("10.1.2.3")));
        assert!(is_local_peer(ip("2001:db8::5"), ip("2001:db8::5")));
    }

    #[test]
    fn other_peers_are_remote() {
        assert!(!is_local_peer(ip("10.1.2.4"), ip("10.1.2.3")));
        assert!(!is_local_peer(ip("10.1.2.4"), ip("127.0.0.1")));
        assert!(!is_local_peer(ip("2001:db8::6"), ip("2001:db8::5")));
        assert!(!is_local_peer(ip("::ffff:10.1.2.4"), ip("::")));
        assert!(!is_local_peer(ip("0.0.0.0"), ip("10.1.2.3")));
    }
}
