//! Node names from a certificate, the way OTP's `inet_tls_dist` reads them.
//!
//! `inet_tls_dist:cert_nodes/1` (OTP 25, `lib/ssl/src/inet_tls_dist.erl`)
//! walks the subjectAltName extensions. A dNSName is a host; a directoryName
//! whose first RDN holds a commonName encoded as UTF8String is a node's alive
//! name; the node names are every `Name ++ "@" ++ Host`. That is what
//! [`read_names`] computes for [`CertInfo::node_names`](super::CertInfo::node_names).
//!
//! What OTP 25 *actually* returns differs, and [`read_names`] reproduces that
//! too, for [`CertInfo::otp_cert_nodes`](super::CertInfo::otp_cert_nodes):
//! - it takes only the first matching entry of each SAN extension (and a
//!   certificate has one), so names and hosts never meet;
//! - `public_key:pkix_decode_cert(Der, otp)` leaves the attribute values of a
//!   SAN directoryName undecoded (`<<12,5,"alice">>`, not `{utf8String,..}`),
//!   so the commonName pattern never matches and only dNSNames count.

use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_X509_COMMON_NAME;

use super::info::is_utf8_string;
use super::node_name::{check_alive, check_host, parse_node_name};

/// The certificate parts the name readers look at.
#[derive(Debug, Default)]
pub(super) struct NameSources<'a> {
    /// Whether the certificate has an extensions field at all.
    pub(super) has_extensions: bool,
    /// The general names of each subjectAltName extension, in order.
    pub(super) san_extensions: Vec<Vec<GeneralName<'a>>>,
}

/// Both readings of the certificate's names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Names {
    pub(super) node_names: Vec<String>,
    pub(super) otp_cert_nodes: Option<Vec<String>>,
}

pub(super) fn read_names(sources: &NameSources<'_>) -> Names {
    Names { node_names: node_names(sources), otp_cert_nodes: otp_cert_nodes(sources) }
}

/// Every alive name paired with every host, plus commonNames that already
/// are full node names; invalid results are dropped, duplicates removed.
fn node_names(sources: &NameSources<'_>) -> Vec<String> {
    let mut alive_names = Vec::new();
    let mut hosts = Vec::new();
    for general_names in &sources.san_extensions {
        for name in general_names {
            match name {
                GeneralName::DNSName(host) => hosts.push(*host),
                GeneralName::DirectoryName(dn) => {
                    if let Some(cn) = directory_name_common_name(dn) {
                        alive_names.push(cn);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: String| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    for alive in alive_names {
        if alive.contains('@') {
            if parse_node_name(alive).is_ok() {
                push(alive.to_string());
            }
            continue;
        }
        if check_alive(alive).is_err() && operator_prefix(alive).is_none() {
            continue;
        }
        for host in &hosts {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if check_host(bare).is_ok() {
                push(format!("{alive}@{host}"));
            }
        }
    }
    out
}

/// The prefix of an operator alive name: `ops-*` stands for every alive
/// name `ops-<suffix>` (a suffix of letters, digits and `_`), the names
/// one-shot commands generate (`beamlink certs issue --operator ops@HOST`).
pub(crate) fn operator_prefix(alive: &str) -> Option<&str> {
    let prefix = alive.strip_suffix('*')?;
    (prefix.ends_with('-') && check_alive(prefix).is_ok()).then_some(prefix)
}

/// Whether `alive` is one of the names the operator pattern `pattern` (`ops-*`) stands for.
pub(crate) fn operator_covers(pattern: &str, alive: &str) -> bool {
    let Some(prefix) = operator_prefix(pattern) else { return false };
    alive
        .strip_prefix(prefix)
        .is_some_and(|suffix| !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The commonName OTP would read from a directoryName: in the first RDN, the
/// first commonName attribute, if it is a UTF8String.
fn directory_name_common_name<'a>(dn: &'a x509_parser::x509::X509Name<'_>) -> Option<&'a str> {
    let first_rdn = dn.iter_rdn().next()?;
    let cn = first_rdn.iter().find(|atv| *atv.attr_type() == OID_X509_COMMON_NAME)?;
    if !is_utf8_string(cn.attr_value().tag()) {
        return None;
    }
    cn.as_str().ok()
}

/// OTP 25's `cert_nodes/1` as it behaves: `undefined` without extensions or
/// without any dNSName, else the first dNSName of each SAN extension.
fn otp_cert_nodes(sources: &NameSources<'_>) -> Option<Vec<String>> {
    if !sources.has_extensions {
        return None;
    }
    let hosts: Vec<String> = sources
        .san_extensions
        .iter()
        .filter_map(|names| {
            names.iter().find_map(|n| match n {
                GeneralName::DNSName(host) => Some((*host).to_string()),
                _ => None,
            })
        })
        .collect();
    if hosts.is_empty() { None } else { Some(hosts) }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use x509_parser::prelude::FromDer;
    use x509_parser::x509::X509Name;

    use super::*;
    use crate::pki::{CertInfo, KeyType, VerifyName};

    /// DER of a Name with one RDN holding a commonName of the given string tag.
    fn name_der(tag: u8, cn: &str) -> Vec<u8> {
        let len = cn.len() as u8;
        let mut atv = vec![0x06, 0x03, 0x55, 0x04, 0x03, tag, len];
        atv.extend_from_slice(cn.as_bytes());
        let mut out = vec![0x30, atv.len() as u8 + 4, 0x31, atv.len() as u8 + 2, 0x30, atv.len() as u8];
        out.extend_from_slice(&atv);
        out
    }

    fn dir_name(der: &[u8]) -> GeneralName<'_> {
        GeneralName::DirectoryName(X509Name::from_der(der).unwrap().1)
    }

    #[test]
    fn alive_names_pair_with_every_host() {
        let (utf8, printable) = (name_der(0x0c, "alice"), name_der(0x13, "mallory"));
        let (full, invalid) = (name_der(0x0c, "bob@elsewhere"), name_der(0x0c, "bad name"));
        let sources = NameSources {
            has_extensions: true,
            san_extensions: vec![vec![
                GeneralName::DNSName("localhost"),
                GeneralName::DNSName("*.example.com"),
                GeneralName::IPAddress(&[127, 0, 0, 1]),
                dir_name(&utf8),
                dir_name(&printable),
                dir_name(&full),
                dir_name(&invalid),
            ]],
        };
        let names = read_names(&sources);
        assert_eq!(names.node_names, ["alice@localhost", "alice@*.example.com", "bob@elsewhere"]);
        assert_eq!(names.otp_cert_nodes, Some(vec!["localhost".to_string()]));
    }

    #[test]
    fn otp_cert_nodes_as_otp_25_returns_them() {
        let utf8 = name_der(0x0c, "alice");
        let none = NameSources { has_extensions: false, san_extensions: Vec::new() };
        assert_eq!(read_names(&none), Names::default());
        let dir_first = NameSources {
            has_extensions: true,
            san_extensions: vec![vec![dir_name(&utf8), GeneralName::DNSName("h1"), GeneralName::DNSName("h2")]],
        };
        assert_eq!(read_names(&dir_first).otp_cert_nodes, Some(vec!["h1".to_string()]));
        let names_only = NameSources { has_extensions: true, san_extensions: vec![vec![dir_name(&utf8)]] };
        assert_eq!(read_names(&names_only), Names::default(), "no host: no node name, and OTP says undefined");
        let two = NameSources {
            has_extensions: true,
            san_extensions: vec![vec![GeneralName::DNSName("h1")], vec![GeneralName::DNSName("h2")]],
        };
        assert_eq!(read_names(&two).otp_cert_nodes, Some(vec!["h1".to_string(), "h2".to_string()]));
    }

    /// A certificate's facts with these DNS names and node names, the rest empty.
    fn cert_with(dns_names: &[&str], node_names: Vec<String>) -> CertInfo {
        CertInfo {
            subject: String::new(),
            subject_common_name: None,
            issuer: String::new(),
            serial: "01".into(),
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH,
            dns_names: dns_names.iter().map(|d| d.to_string()).collect(),
            ip_addresses: Vec::new(),
            node_names,
            otp_cert_nodes: None,
            is_ca: false,
            path_len_constraint: None,
            key_usage: Vec::new(),
            extended_key_usage: None,
            key_type: KeyType::Ed25519,
            sha256_fingerprint: [0; 32],
        }
    }

    #[test]
    fn strict_check_follows_wildcard_hosts() {
        let info = cert_with(&["*.example.com"], vec!["alice@*.example.com".into()]);
        info.check_node("alice@n1.example.com", VerifyName::Strict).unwrap();
        info.check_node("bob@n1.example.com", VerifyName::Host).unwrap();
        assert!(info.check_node("alice@example.com", VerifyName::Strict).is_err());
        assert!(info.check_node("alice@a.b.example.com", VerifyName::Host).is_err());
        assert!(info.check_node("bob@n1.example.com", VerifyName::Strict).is_err());
    }

    #[test]
    fn an_operator_name_covers_the_generated_names_of_its_prefix_only() {
        let ops = name_der(0x0c, "ops-*");
        let sources = NameSources {
            has_extensions: true,
            san_extensions: vec![vec![GeneralName::DNSName("localhost"), dir_name(&ops)]],
        };
        let names = read_names(&sources);
        assert_eq!(names.node_names, ["ops-*@localhost"]);
        let info = cert_with(&["localhost"], names.node_names);
        info.check_node("ops-ping_1_2@localhost", VerifyName::Strict).unwrap();
        info.check_node("ops-ping_1_2@LOCALHOST", VerifyName::Strict).expect_err("one spelling");
        info.check_node("ops@localhost", VerifyName::Strict).expect_err("the prefix alone");
        info.check_node("alice@localhost", VerifyName::Strict).expect_err("another node");
        info.check_node("ops-x@elsewhere", VerifyName::Strict).expect_err("another host");
        for (pattern, alive, covered) in [
            ("ops-*", "ops-ping_123_45", true),
            ("ops-*", "ops-a", true),
            ("ops-*", "ops-", false),
            ("ops-*", "ops", false),
            ("ops-*", "ops-a-b", false),
            ("ops-*", "opsx-1", false),
            ("ops*", "opsx", false),
            ("o@s-*", "o@s-x", false),
        ] {
            assert_eq!(operator_covers(pattern, alive), covered, "{pattern} covers {alive}");
        }
    }
}
