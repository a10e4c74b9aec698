//! Node names: `alive@host`, short (`-sname`) or long (`-name`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::term::Atom;

/// The longest node name OTP accepts, in bytes (an atom's limit).
pub const MAX_NODE_NAME_BYTES: usize = 255;

/// How a node names itself and the nodes it dials, as `erl -sname` / `-name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameMode {
    /// Host parts are single labels (`a@myhost`), as `erl -sname`.
    Short,
    /// Host parts are fully qualified names or IP addresses (`a@host.example.com`,
    /// `a@10.0.0.1`), as `erl -name`.
    Long,
}

impl fmt::Display for NameMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameMode::Short => "short names (-sname)",
            NameMode::Long => "long names (-name)",
        })
    }
}

/// A validated node name, `alive@host`.
///
/// ```
/// use beamlink::proto::{NameMode, NodeName};
/// let n: NodeName = "cache@db1.example.com".parse().unwrap();
/// assert_eq!((n.alive(), n.host()), ("cache", "db1.example.com"));
/// assert_eq!(n.mode(), NameMode::Long);
/// assert!("no-at-sign".parse::<NodeName>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    atom: Atom,
    at: usize,
}

/// Why a text is not a valid node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// No `@` in the name.
    #[error("node name {0:?} has no '@' (expected name@host)")]
    NoAt(String),
    /// More than one `@`.
    #[error("node name {0:?} has more than one '@'")]
    TooManyAts(String),
    /// Empty alive or host part.
    #[error("node name {0:?} has an empty name or host part")]
    EmptyPart(String),
    /// Longer than an atom may be.
    #[error("node name is {0} bytes long; the limit is {MAX_NODE_NAME_BYTES}")]
    TooLong(usize),
    /// A character Erlang refuses in the alive part.
    #[error("node name {name:?}: {ch:?} is not allowed before the '@' (letters, digits, '_' and '-' only)")]
    BadAliveChar {
        /// The whole name.
        name: String,
        /// The offending character.
        ch: char,
    },
    /// A character that cannot appear in a host name.
    #[error("node name {name:?}: {ch:?} is not allowed in a host name")]
    BadHostChar {
        /// The whole name.
        name: String,
        /// The offending character.
        ch: char,
    },
}

impl NodeName {
    /// Parses and validates `alive@host`.
    pub fn new(text: &str) -> Result<NodeName, NameError> {
        if text.len() > MAX_NODE_NAME_BYTES {
            return Err(NameError::TooLong(text.len()));
        }
        let mut parts = text.split('@');
        let (alive, host) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(h), None) => (a, h),
            (_, None, _) => return Err(NameError::NoAt(text.to_string())),
            _ => return Err(NameError::TooManyAts(text.to_string())),
        };
        if alive.is_empty() || host.is_empty() {
            return Err(NameError::EmptyPart(text.to_string()));
        }
        if let Some(ch) = alive.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(NameError::BadAliveChar { name: text.to_string(), ch });
        }
        if host.parse::<IpAddr>().is_err()
            && let Some(ch) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(NameError::BadHostChar { name: text.to_string(), ch });
        }
        Ok(NodeName { atom: Atom::new(text), at: alive.len() })
    }

    /// Joins an alive part and a host.
    pub fn from_parts(alive: &str, host: &str) -> Result<NodeName, NameError> {
        NodeName::new(&format!("{alive}@{host}"))
    }

    /// The part before the `@` (what EPMD knows the node by).
    pub fn alive(&self) -> &str {
        &self.atom.as_str()[..self.at]
    }

    /// The part after the `@`.
    pub fn host(&self) -> &str {
        &self.atom.as_str()[self.at + 1..]
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        self.atom.as_str()
    }

    /// The name as an atom, as it appears in pids and control messages.
    pub fn atom(&self) -> &Atom {
        &self.atom
    }

    /// Short or long, by OTP's rule: a host with a dot, or an IP address, is long.
    pub fn mode(&self) -> NameMode {
        let host = self.host();
        if host.contains('.') || host.parse::<IpAddr>().is_ok() { NameMode::Long } else { NameMode::Short }
    }

    /// Whether a node running with `mode` may dial this name. OTP refuses to
    /// dial a long name from a short-name node and the reverse.
    pub fn dialable_from(&self, mode: NameMode) -> Result<(), ModeMismatch> {
        if self.mode() == mode { Ok(()) } else { Err(ModeMismatch { node: self.clone(), mode }) }
    }
}

/// A node tried to dial a name of the other naming mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot reach {node}: this node uses {mode}, but {node} is a {} name", match node.mode() { NameMode::Short => "short", NameMode::Long => "long" })]
pub struct ModeMismatch {
    /// The name that was dialled.
    pub node: NodeName,
    /// The dialling node's mode.
    pub mode: NameMode,
}

impl FromStr for NodeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<NodeName, NameError> {
        NodeName::new(s)
    }
}

impl TryFrom<&Atom> for NodeName {
    type Error = NameError;
    fn try_from(a: &Atom) -> Result<NodeName, NameError> {
        NodeName::new(a.as_str())
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.as_str())
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for (name, mode) in [
            ("a@b", NameMode::Short),
            ("rust_1-x@localhost", NameMode::Short),
            ("a@127.0.0.1", NameMode::Long),
            ("a@::1", NameMode::Long),
            ("a@host.example.com", NameMode::Long),
        ] {
            let n = NodeName::new(name).unwrap();
            assert_eq!(n.mode(), mode, "{name}");
            assert_eq!(n.as_str(), name);
        }
    }

    #[test]
    fn invalid_names() {
        let long = format!("{}@h", "a".repeat(300));
        type Check = fn(&NameError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("noat", |e| matches!(e, NameError::NoAt(_))),
            ("a@b@c", |e| matches!(e, NameError::TooManyAts(_))),
            ("@host", |e| matches!(e, NameError::EmptyPart(_))),
            ("name@", |e| matches!(e, NameError::EmptyPart(_))),
            ("na me@h", |e| matches!(e, NameError::BadAliveChar { ch: ' ', .. })),
            ("é@h", |e| matches!(e, NameError::BadAliveChar { .. })),
            ("a@h/x", |e| matches!(e, NameError::BadHostChar { ch: '/', .. })),
            (&long, |e| matches!(e, NameError::TooLong(_))),
        ];
        for (text, check) in cases {
            let err = NodeName::new(text).unwrap_err();
            assert!(check(&err), "{text}: {err:?}");
        }
    }

    #[test]
    fn mode_mismatch_is_explained() {
        let n = NodeName::new("a@host.example.com").unwrap();
        let err = n.dialable_from(NameMode::Short).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot reach a@host.example.com: this node uses short names (-sname), but a@host.example.com is a long name"
        );
        assert!(n.dialable_from(NameMode::Long).is_ok());
    }

    #[test]
    fn parts() {
        let n = NodeName::new("x@y.z").unwrap();
        assert_eq!(n.alive(), "x");
        assert_eq!(n.host(), "y.z");
    }
}
