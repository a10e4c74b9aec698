//! Does a peer's certificate vouch for the node name it claims?
//!
//! TLS proves that the peer holds a key the cluster CA signed; the
//! distribution handshake then tells us which node the peer says it is. The
//! TLS transport calls [`CertInfo::check_node`] with that claimed name once
//! the handshake has named the peer, and closes the connection on an error.
//!
//! OTP itself checks less: a TLS client checks the server certificate against
//! the host part of the node name it dials, and a TLS server checks only the
//! chain (see OTP's *Using TLS for Erlang Distribution* (SSL User's Guide)). [`VerifyName::Host`] is the client-side
//! OTP check applied in both directions; [`VerifyName::Strict`] also binds
//! the alive part, through the node names the certificate carries.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::node_name::{NodeNameParts, parse_node_name};
use super::{CertInfo, GoodFor, IdentityError};

/// How strictly a peer's claimed node name must match its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyName {
    /// The full node name `alive@host` must be one of the certificate's node
    /// names ([`CertInfo::node_names`]).
    #[default]
    Strict,
    /// The host part must match one of the certificate's DNS names (any case,
    /// `*.` wildcards as in a TLS hostname check) or, for an IP-literal host,
    /// one of its IP addresses (or a DNS name spelled as that address, which
    /// is what OTP's own hostname check matches).
    Host,
    /// No name check: any certificate the CA signed will do.
    None,
}

impl VerifyName {
    /// The policy's name as written in options: `strict`, `host` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyName::Strict => "strict",
            VerifyName::Host => "host",
            VerifyName::None => "none",
        }
    }
}

impl fmt::Display for VerifyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error from parsing an unknown policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verify-name policy {0:?} (expected strict, host or none)")]
pub struct UnknownVerifyName(pub String);

impl FromStr for VerifyName {
    type Err = UnknownVerifyName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(VerifyName::Strict),
            "host" => Ok(VerifyName::Host),
            "none" => Ok(VerifyName::None),
            _ => Err(UnknownVerifyName(s.to_string())),
        }
    }
}

impl CertInfo {
    /// Checks that this (already chain-verified) certificate vouches for
    /// `claimed_node` under `policy`.
    ///
    /// ```
    /// # use beamlink::pki::{CertInfo, VerifyName};
    /// # fn demo(info: &CertInfo) {
    /// match info.check_node("mallory@host", VerifyName::Strict) {
    ///     Ok(()) => {}
    ///     // "peer mallory@host presented a certificate for alice@host (verify-name strict)"
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    pub fn check_node(&self, claimed_node: &str, policy: VerifyName) -> Result<(), IdentityError> {
        if policy == VerifyName::None {
            return Ok(());
        }
        let claimed = parse_node_name(claimed_node).map_err(|reason| IdentityError::InvalidClaim {
            claimed: claimed_node.to_string(),
            reason,
            policy,
        })?;
        let (canonical, good_for) = match policy {
            VerifyName::Strict => (self.node_spelling(&claimed), self.node_names.clone()),
            VerifyName::Host | VerifyName::None => {
                let mut hosts = self.dns_names.clone();
                hosts.extend(self.ip_addresses.iter().map(IpAddr::to_string));
                (self.host_spelling(&claimed).map(|host| format!("{}@{host}", claimed.alive)), hosts)
            }
        };
        match canonical {
            Some(canonical) if canonical == claimed_node => Ok(()),
            Some(canonical) => {
                Err(IdentityError::NotCanonical { claimed: claimed_node.to_string(), canonical, policy })
            }
            None => {
                Err(IdentityError::Mismatch { claimed: claimed_node.to_string(), good_for: GoodFor(good_for), policy })
            }
        }
    }

    /// The operator identities the certificate carries (`beamlink certs
    /// issue --operator`): for each node name `ops-*@host`, the prefix
    /// `ops-` of the names it covers, and the host.
    pub fn operator_patterns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.node_names.iter().filter_map(|name| {
            let (alive, host) = name.split_once('@')?;
            Some((super::names::operator_prefix(alive)?, host))
        })
    }

    /// The certificate's own spelling of the node name it vouches for as
    /// `claimed`, if it does: one node, one spelling, so that every table
    /// and rule keyed by the name sees the same node under the same name.
    fn node_spelling(&self, claimed: &NodeNameParts<'_>) -> Option<String> {
        self.node_names.iter().find_map(|name| {
            let (alive, host) = name.split_once('@')?;
            let alive_matches = alive == claimed.alive || super::names::operator_covers(alive, claimed.alive);
            (alive_matches && host_matches(host, claimed))
                .then(|| format!("{}@{}", claimed.alive, canonical_host(host, claimed)))
        })
    }

    /// The certificate's own spelling of the host it vouches for as the
    /// claimed node's host, if it does.
    fn host_spelling(&self, claimed: &NodeNameParts<'_>) -> Option<String> {
        if let Some(ip) = claimed.host_ip()
            && self.ip_addresses.contains(&ip)
        {
            return Some(ip.to_string());
        }
        self.dns_names.iter().find(|dns| host_matches(dns, claimed)).map(|dns| canonical_host(dns, claimed))
    }
}

/// How a host the certificate names (`presented`, which matched the claim)
/// is spelled canonically: an IP address in its standard form, a DNS name
/// as the certificate has it, and the host a wildcard covers in lower case.
fn canonical_host(presented: &str, claimed: &NodeNameParts<'_>) -> String {
    if let Some(ip) = claimed.host_ip() {
        return ip.to_string();
    }
    let presented = presented.strip_suffix('.').unwrap_or(presented);
    if presented.starts_with("*.") {
        claimed.host.strip_suffix('.').unwrap_or(claimed.host).to_ascii_lowercase()
    } else {
        presented.to_string()
    }
}

/// Whether a certificate's host (a DNS name, maybe a wildcard, or an address
/// spelled as a DNS name) covers the claimed node's host.
fn host_matches(presented: &str, claimed: &NodeNameParts<'_>) -> bool {
    match claimed.host_ip() {
        Some(ip) => presented.parse::<IpAddr>().is_ok_and(|p| p == ip),
        None => dns_name_matches(presented, claimed.host),
    }
}

/// A TLS-style DNS name comparison: case-insensitive, one trailing dot
/// ignored, and a `*` only as the whole leftmost label of a pattern with at
/// least two more labels, standing for exactly one non-empty label.
pub(crate) fn dns_name_matches(presented: &str, reference: &str) -> bool {
    let presented = presented.strip_suffix('.').unwrap_or(presented).to_ascii_lowercase();
    let reference = reference.strip_suffix('.').unwrap_or(reference).to_ascii_lowercase();
    if presented.is_empty() || reference.is_empty() || reference.contains('*') {
        return false;
    }
    match presented.strip_prefix("*.") {
        Some(rest) => {
            if rest.contains('*') || rest.split('.').count() < 2 {
                return false;
            }
            match reference.split_once('.') {
                Some((first, reference_rest)) => !first.is_empty() && reference_rest == rest,
                None => false,
            }
        }
        None => !presented.contains('*') && presented == reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for policy in [VerifyName::Strict, VerifyName::Host, VerifyName::None] {
            assert_eq!(policy.to_string().parse::<VerifyName>(), Ok(policy));
        }
        assert_eq!("HOST".parse::<VerifyName>(), Ok(VerifyName::Host));
        let err = "loose".parse::<VerifyName>().unwrap_err();
        assert_eq!(err.to_string(), "unknown verify-name policy \"loose\" (expected strict, host or none)");
        assert_eq!(VerifyName::default(), VerifyName::Strict);
    }

    #[test]
    fn dns_names_compare_like_a_tls_hostname_check() {
        assert!(dns_name_matches("localhost", "localhost"));
        assert!(dns_name_matches("LocalHost", "localHOST"));
        assert!(dns_name_matches("host.example.com.", "host.example.com"));
        assert!(dns_name_matches("*.example.com", "a.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("*.com", "example.com"), "a wildcard must not cover a whole TLD");
        assert!(!dns_name_matches("a*.example.com", "ab.example.com"), "partial-label wildcards are refused");
        assert!(!dns_name_matches("*.*.example.com", "a.b.example.com"));
        assert!(!dns_name_matches("example.com", "*.com"));
        assert!(!dns_name_matches("", "x"));
        assert!(!dns_name_matches("other", "localhost"));
    }
}
