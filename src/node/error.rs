//! Errors of the node runtime.

use std::sync::Arc;

use crate::conn::ConnError;
use crate::proto::name::ModeMismatch;
use crate::term::Pid;

/// A local operation on the node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The name is not a valid atom.
    #[error("invalid name: {0}")]
    BadName(String),
    /// The name is registered already.
    #[error("the name {0} is already registered")]
    NameTaken(String),
    /// The process already has a registered name.
    #[error("{0:?} already has a registered name")]
    AlreadyNamed(Pid),
    /// No such live process.
    #[error("no live local process {0:?}")]
    NoProcess(Pid),
    /// A local operation was given a remote pid.
    #[error("{0:?} is not a process of this node")]
    NotLocal(Pid),
    /// The node could not start.
    #[error("cannot start the node: {0}")]
    Start(String),
}

/// A message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The destination node cannot be reached from this node at all (bad
    /// name, naming-mode mismatch, the connection closed while queuing).
    #[error("cannot reach node {node}: {reason}")]
    NoConnection {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// The message is larger than the node's maximum message size.
    #[error("message of {size} bytes exceeds the maximum message size of {limit} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The connection's outgoing buffer is full (only from the non-waiting send).
    #[error("the outgoing buffer to {0} is full")]
    Busy(String),
    /// The sending process has exited.
    #[error("the sending process has exited")]
    Exited,
    /// A typed message could not be made a term ([`crate::term::to_term`]).
    #[cfg(feature = "serde")]
    #[error("the message cannot be a term: {0}")]
    NotATerm(#[source] crate::term::ConvertError),
}

/// Setting up a connection failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectError {
    /// The node name is invalid.
    BadName(String),
    /// It is this node's own name.
    ToSelf,
    /// The name is of the other naming mode (short against long).
    NamingMode(ModeMismatch),
    /// This node has as many connections as `Limits::max_connections` allows.
    ConnectionLimit {
        /// The node.
        node: String,
        /// The limit.
        limit: usize,
    },
    /// This node is shutting down.
    ShuttingDown(String),
    /// The attempt failed on its way: finding the peer, reaching it, its
    /// transport's handshake, the distribution handshake. The cause is
    /// shared by everyone who waited for the same attempt.
    Failed {
        /// The node.
        node: String,
        /// Why, as the connection reported it; also [`std::error::Error::source`].
        cause: Arc<ConnError>,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::BadName(reason) => write!(f, "invalid node name: {reason}"),
            ConnectError::ToSelf => f.write_str("a node cannot connect to itself"),
            ConnectError::NamingMode(e) => e.fmt(f),
            ConnectError::ConnectionLimit { node, limit } => {
                write!(f, "cannot connect to {node}: the limit of {limit} connections is reached (max_connections)")
            }
            ConnectError::ShuttingDown(node) => write!(f, "cannot connect to {node}: this node is shutting down"),
            ConnectError::Failed { node, cause } => write!(f, "cannot connect to {node}: {cause}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Displayed as the mismatch itself, as `#[error(transparent)]` would.
            ConnectError::NamingMode(e) => e.source(),
            // The error itself, not its Arc, so that callers can downcast it.
            ConnectError::Failed { cause, .. } => Some(&**cause),
            _ => None,
        }
    }
}

impl From<ModeMismatch> for ConnectError {
    fn from(e: ModeMismatch) -> ConnectError {
        ConnectError::NamingMode(e)
    }
}

impl ConnectError {
    /// What kind of failure this is, for messages and exit codes.
    pub fn kind(&self) -> ConnectFailure {
        match self {
            ConnectError::BadName(_) | ConnectError::ToSelf | ConnectError::NamingMode(_) => ConnectFailure::BadName,
            ConnectError::ConnectionLimit { .. } | ConnectError::ShuttingDown(_) => ConnectFailure::Local,
            ConnectError::Failed { cause, .. } => ConnectFailure::of(cause),
        }
    }
}

/// The kinds of [`ConnectError`], each with what an operator does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The name is invalid, this node's own, or of the other naming mode.
    BadName,
    /// The host name does not resolve.
    UnknownHost,
    /// No EPMD answers on the peer's host.
    NoEpmd,
    /// EPMD on the host does not know the node.
    NotRegistered,
    /// The node's port refused the connection or the network failed.
    Unreachable,
    /// The peer turned this node away in the handshake (`not_allowed`, `nok`,
    /// `alive`), or closed the connection before the challenge.
    Refused,
    /// The cookies differ.
    Cookie,
    /// The TLS handshake failed, or one side runs TLS and the other does not.
    Tls,
    /// A certificate does not permit the node name (or is missing).
    Identity,
    /// A step did not finish within its time bound.
    Timeout,
    /// The peer broke the protocol, or speaks a version this node does not.
    Protocol,
    /// This node's own limits or state (shutting down, `max_connections`).
    Local,
}

impl ConnectFailure {
    /// The kind's name in machine-readable output (`no_epmd`, `cookie`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectFailure::BadName => "bad_name",
            ConnectFailure::UnknownHost => "unknown_host",
            ConnectFailure::NoEpmd => "no_epmd",
            ConnectFailure::NotRegistered => "not_registered",
            ConnectFailure::Unreachable => "unreachable",
            ConnectFailure::Refused => "refused",
            ConnectFailure::Cookie => "cookie",
            ConnectFailure::Tls => "tls",
            ConnectFailure::Identity => "identity",
            ConnectFailure::Timeout => "timeout",
            ConnectFailure::Protocol => "protocol",
            ConnectFailure::Local => "local",
        }
    }

    /// The kind of a failed connection attempt.
    pub fn of(cause: &ConnError) -> ConnectFailure {
        use crate::epmd::EpmdError;
        use crate::proto::frame::FrameError;
        use crate::proto::handshake::HandshakeError as H;
        use crate::transport::{ResolveError, TransportError};
        match cause {
            ConnError::Resolve(resolve) => match &**resolve {
                ResolveError::Host { .. } => ConnectFailure::UnknownHost,
                ResolveError::NotRegistered { .. } | ResolveError::NoStaticEntry(_) => ConnectFailure::NotRegistered,
                ResolveError::Epmd { source, .. } => match source {
                    EpmdError::Connect { .. } | EpmdError::NoAnswer { .. } => ConnectFailure::NoEpmd,
                    EpmdError::Timeout { .. } => ConnectFailure::Timeout,
                    EpmdError::Resolve { .. } => ConnectFailure::UnknownHost,
                    _ => ConnectFailure::Protocol,
                },
                ResolveError::TooOld { .. } => ConnectFailure::Protocol,
            },
            ConnError::SetupTimeout { .. } | ConnError::HandshakeTimeout(_) => ConnectFailure::Timeout,
            ConnError::Transport(TransportError::Io { .. }) | ConnError::Io { .. } => ConnectFailure::Unreachable,
            ConnError::Transport(TransportError::Handshake(_)) => ConnectFailure::Tls,
            ConnError::Transport(TransportError::Identity(_)) => ConnectFailure::Identity,
            ConnError::Transport(TransportError::Timeout(_)) => ConnectFailure::Timeout,
            ConnError::Frame(FrameError::TlsRecord { .. }) => ConnectFailure::Tls,
            ConnError::Handshake(H::ClosedAfterReply { .. } | H::BadCookie { .. }) => ConnectFailure::Cookie,
            ConnError::Handshake(
                H::NotAllowed { .. } | H::Nok { .. } | H::PeerKeepsOld { .. } | H::AlreadyConnected { .. },
            )
            | ConnError::Closed => ConnectFailure::Refused,
            ConnError::Local(_) => ConnectFailure::Local,
            _ => ConnectFailure::Protocol,
        }
    }
}

/// A call (gen_server call, rpc, ping) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply in time.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// No connection to the callee's node could be set up.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The callee's node went down, or could not be reached, during the call (`noconnection`).
    #[error("noconnection: {}", no_connection_text(callee, cause.as_ref()))]
    NoConnection {
        /// The callee: a pid, or `{Name, Node}`.
        callee: crate::term::Term,
        /// Why the request could not be queued, when that is how it showed.
        cause: Option<SendError>,
    },
    /// The callee does not exist (`noproc`): a pid, or `{Name, Node}`.
    #[error("noproc: no process {0}")]
    NoProc(crate::term::Term),
    /// The callee exited during the call, with this reason.
    #[error("the callee exited: {}", .0.bounded(200))]
    Exit(crate::term::Term),
    /// The reply had an unexpected shape.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    /// The request could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The calling process was killed, with this reason.
    #[error("the calling process exited: {}", .0.bounded(200))]
    CallerExited(crate::term::Term),
    /// The remote function raised (rpc): `{badrpc, Reason}`.
    #[error("badrpc: {0}")]
    BadRpc(crate::term::Term),
    /// A typed call's reply did not fit the reply type; the reply is kept.
    #[cfg(feature = "serde")]
    #[error("the reply {} does not fit: {error}", reply.bounded(200))]
    UnfitReply {
        /// The reply as it came.
        reply: crate::term::Term,
        /// Why it does not fit.
        #[source]
        error: crate::term::ConvertError,
    },
}

fn no_connection_text(callee: &crate::term::Term, cause: Option<&SendError>) -> String {
    match cause {
        Some(cause) => format!("{} ({cause})", callee.bounded(200)),
        None => callee.bounded(200).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::handshake::HandshakeError;
    use crate::transport::TransportError;

    fn kind(cause: ConnError) -> ConnectFailure {
        ConnectError::Failed { node: "a@h".into(), cause: Arc::new(cause) }.kind()
    }

    #[test]
    fn each_failure_has_the_kind_an_operator_acts_on() {
        let peer = crate::proto::NodeName::new("a@h").unwrap();
        assert_eq!(kind(HandshakeError::ClosedAfterReply { peer: peer.clone() }.into()), ConnectFailure::Cookie);
        assert_eq!(kind(HandshakeError::BadCookie { peer: "a@h".into() }.into()), ConnectFailure::Cookie);
        assert_eq!(kind(HandshakeError::NotAllowed { peer }.into()), ConnectFailure::Refused);
        assert_eq!(kind(TransportError::Identity("x".into()).into()), ConnectFailure::Identity);
        assert_eq!(kind(TransportError::Handshake("x".into()).into()), ConnectFailure::Tls);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(kind(TransportError::io("connect", refused).into()), ConnectFailure::Unreachable);
        assert_eq!(kind(ConnError::HandshakeTimeout(std::time::Duration::from_secs(1))), ConnectFailure::Timeout);
        assert_eq!(kind(crate::proto::frame::FrameError::TlsRecord { first: 0x16 }.into()), ConnectFailure::Tls);
        assert_eq!(ConnectError::ToSelf.kind(), ConnectFailure::BadName);
        assert_eq!(ConnectError::ShuttingDown("a@h".into()).kind(), ConnectFailure::Local);
    }

    #[test]
    fn the_cause_is_the_source_and_downcasts() {
        let e = ConnectError::Failed { node: "a@h".into(), cause: Arc::new(ConnError::Closed) };
        let source = std::error::Error::source(&e).expect("a source");
        assert!(matches!(source.downcast_ref::<ConnError>(), Some(ConnError::Closed)));
        let call = CallError::Connect(e);
        assert_eq!(call.to_string(), "cannot connect to a@h: the peer closed the connection");
    }
}
