//! The error type of the EPMD client, daemon and registrar.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use super::codec::{NameError, ResponseError};

/// What went wrong talking to, or running, an EPMD.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EpmdError {
    /// The host name did not resolve.
    #[error("cannot resolve epmd host {host:?}: {source}")]
    Resolve {
        /// The host as given.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// No address of the host accepted a connection (epmd is not running there,
    /// or a firewall is in the way).
    #[error("cannot connect to epmd at {host}:{port}: {source}")]
    Connect {
        /// The host as given.
        host: String,
        /// The EPMD port.
        port: u16,
        /// The error of the last address tried.
        source: std::io::Error,
    },
    /// The exchange did not finish in time.
    #[error("epmd at {host}:{port} did not answer {request} within {timeout:?}")]
    Timeout {
        /// The host as given.
        host: String,
        /// The EPMD port.
        port: u16,
        /// The request kind.
        request: &'static str,
        /// The bound that expired.
        timeout: Duration,
    },
    /// The connection failed after it was established.
    #[error("i/o error talking to epmd at {addr} ({request}): {source}")]
    Io {
        /// The epmd address.
        addr: SocketAddr,
        /// The request kind.
        request: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// epmd closed the connection without answering: it refused the request
    /// (OTP's epmd answers nothing to requests it does not allow from the
    /// caller's address or without `-relaxed_command_check`).
    #[error("epmd at {addr} closed the connection without answering {request} (refused or not allowed from here)")]
    NoAnswer {
        /// The epmd address.
        addr: SocketAddr,
        /// The request kind.
        request: &'static str,
    },
    /// epmd's reply is malformed.
    #[error("epmd at {addr} sent a malformed reply to {request}: {source}")]
    Protocol {
        /// The epmd address.
        addr: SocketAddr,
        /// The request kind.
        request: &'static str,
        /// What is wrong with the reply.
        source: ResponseError,
    },
    /// `ERL_EPMD_ADDRESS` holds something that is not a list of IP addresses.
    #[error("ERL_EPMD_ADDRESS={value:?}: {reason} (expected IP addresses separated by commas)")]
    BadAddressList {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request itself is invalid (a name epmd would refuse), so it was not sent.
    #[error("invalid EPMD request: {0}")]
    InvalidRequest(#[from] NameError),
    /// epmd refused the registration: the name is taken by a live node, or
    /// invalid, or the daemon's name table is full.
    #[error("epmd at {addr} refused to register {name:?} (result {result}): the name is in use or not acceptable")]
    RegistrationRefused {
        /// The epmd address.
        addr: SocketAddr,
        /// The name that was refused.
        name: String,
        /// The result byte (1 from OTP's epmd).
        result: u8,
    },
    /// The daemon could not listen because something else already listens on
    /// the port (another EPMD, most likely).
    #[error("cannot start epmd on {addr}: the port is already in use (is another epmd running?)")]
    PortInUse {
        /// The address that was taken.
        addr: SocketAddr,
    },
    /// The daemon could not listen for another reason.
    #[error("cannot start epmd on {addr}: {source}")]
    Bind {
        /// The address that failed.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The daemon was given nothing to listen on.
    #[error("epmd has no address to listen on")]
    NoAddresses,
}

impl EpmdError {
    /// True when no EPMD answered at all (nothing listens there): the case in
    /// which a node may start one itself.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, EpmdError::Connect { .. })
    }

    /// True for failures worth one more try: a connection reset or a
    /// timeout, as can happen while an EPMD is starting or busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, EpmdError::Io { .. } | EpmdError::Timeout { .. })
    }
}
