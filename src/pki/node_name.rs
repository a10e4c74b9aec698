//! A small validator for Erlang node names (`alive@host`), used where a node
//! name is written into or checked against a certificate.
//!
//! The distribution layer will have its own node-name type; until then this
//! is the one place that decides what a well-formed name looks like here.

use std::net::IpAddr;

/// The longest node name accepted, in bytes (OTP refuses longer ones).
pub(crate) const MAX_NODE_NAME_LEN: usize = 255;

/// A node name split into its two parts, both checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeNameParts<'a> {
    /// The part before `@`: `[A-Za-z0-9_-]+`.
    pub(crate) alive: &'a str,
    /// The part after `@`: a DNS name or an IP literal.
    pub(crate) host: &'a str,
}

impl NodeNameParts<'_> {
    /// The host as an IP address, when it is an IP literal.
    pub(crate) fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// Splits and checks `alive@host`; the error says what is wrong.
pub(crate) fn parse_node_name(name: &str) -> Result<NodeNameParts<'_>, String> {
    if name.is_empty() {
        return Err("the node name is empty".to_string());
    }
    if name.len() > MAX_NODE_NAME_LEN {
        return Err(format!("it is {} bytes long; at most {MAX_NODE_NAME_LEN} are allowed", name.len()));
    }
    let Some((alive, host)) = name.split_once('@') else {
        return Err("it has no '@' (expected alive@host)".to_string());
    };
    if host.contains('@') {
        return Err("it has more than one '@'".to_string());
    }
    check_alive(alive)?;
    check_host(host)?;
    Ok(NodeNameParts { alive, host })
}

/// The alive part: non-empty, only the characters Erlang accepts there.
pub(crate) fn check_alive(alive: &str) -> Result<(), String> {
    if alive.is_empty() {
        return Err("the part before '@' is empty".to_string());
    }
    if let Some(c) = alive.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!("the part before '@' contains {c:?}; Erlang accepts only letters, digits, '_' and '-'"));
    }
    Ok(())
}

/// The host part: an IP literal, or a DNS name of letters, digits and '-'
/// in labels of 1 to 63 characters that neither start nor end with '-'.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host part (after '@') is empty".to_string());
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if host.len() > 253 {
        return Err(format!("the host {host:?} is longer than 253 characters"));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(format!("the host {host:?} has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("the host {host:?} has a label longer than 63 characters"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!("the host {host:?} contains {c:?}; a host is a DNS name or an IP address"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the host {host:?} has a label that starts or ends with '-'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_long_and_ip_names() {
        for ok in ["a@localhost", "alice_1-x@host.example.com", "n@127.0.0.1", "n@::1", "A9@h-1"] {
            let parts = parse_node_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(format!("{}@{}", parts.alive, parts.host), ok);
        }
        assert_eq!(parse_node_name("n@127.0.0.1").unwrap().host_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(parse_node_name("n@localhost").unwrap().host_ip(), None);
    }

    #[test]
    fn refuses_malformed_names_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("alice", "no '@'"),
            ("@host", "before '@' is empty"),
            ("alice@", "host part"),
            ("a@b@c", "more than one '@'"),
            ("al ice@host", "contains ' '"),
            ("al.ice@host", "contains '.'"),
            ("alicé@host", "contains 'é'"),
            ("a@ho_st", "contains '_'"),
            ("a@host..example", "empty label"),
            ("a@-host", "starts or ends with '-'"),
            ("a@host/x", "contains '/'"),
        ];
        for (name, why) in cases {
            let err = parse_node_name(name).expect_err(name);
            assert!(err.contains(why), "{name:?}: {err:?} should mention {why:?}");
        }
        let long = format!("a@{}", "h".repeat(254));
        assert!(parse_node_name(&long).unwrap_err().contains("at most 255"));
        let long_label = format!("a@{}.com", "h".repeat(64));
        assert!(parse_node_name(&long_label).unwrap_err().contains("longer than 63"));
    }
}
