//! Errors of the node runtime.

use crate::term::Pid;

/// A local operation on the node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

/// Setting up a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The node name is invalid.
    #[error("invalid node name: {0}")]
    BadName(String),
    /// The connection attempt failed.
    #[error("cannot connect to {node}: {reason}")]
    Failed {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// It is this node's own name.
    #[error("a node cannot connect to itself")]
    ToSelf,
}

/// A call (gen_server call, rpc, ping) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No reply in time.
    #[error("no reply within {0:?}")]
    Timeout(std::time::Duration),
    /// The callee's node could not be reached or went down (`noconnection`).
    #[error("noconnection: {0}")]
    NoConnection(String),
    /// The callee does not exist (`noproc`).
    #[error("noproc: no process {0}")]
    NoProc(String),
    /// The callee exited during the call, with this reason.
    #[error("the callee exited: {0}")]
    Exit(String),
    /// The reply had an unexpected shape.
    #[error("unexpected reply: {0}")]
    Unexpected(String),
    /// The request could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The calling process was killed.
    #[error("the calling process exited: {0}")]
    CallerExited(String),
    /// The remote function raised (rpc): `{badrpc, Reason}`.
    #[error("badrpc: {0}")]
    BadRpc(crate::term::Term),
}
