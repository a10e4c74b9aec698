//! EPMD, the Erlang Port Mapper Daemon: codec, client, daemon and registrar.
//!
//! Protocol reference: [EPMD protocol] in the ERTS user's guide. Every host that runs distributed Erlang nodes
//! runs one EPMD (TCP 4369 unless `ERL_EPMD_PORT` says otherwise); a node
//! registers its name and distribution port with it, and a node that wants to
//! reach `name@host` asks the EPMD on `host` for `name`'s port.
//!
//! | module | job |
//! |---|---|
//! | [`codec`] | every request and reply as bytes; pure functions, no I/O |
//! | [`client`] | async requests to an EPMD (OTP's or ours): register, look up, list names |
//! | [`daemon`] | an EPMD that real `erl` nodes can use in place of OTP's, embeddable |
//! | [`registrar`] | what a node uses to publish itself, including auto-start and take-over |
//! | [`access`] | the locality rule that guards registration, KILL, STOP, NAMES and DUMP |
//!
//! [EPMD protocol]: https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#epmd-protocol

pub mod access;
mod admission;
pub mod client;
pub mod codec;
pub mod daemon;
mod error;
pub mod registrar;
mod registry;

pub use client::{EpmdClient, Registration};
pub use codec::{Alive2Request, NodeInfo, NodeType};
pub use daemon::{DaemonConfig, DaemonHandle, EpmdDaemon};
pub use error::EpmdError;
pub use registrar::{AutoStart, PublishedNode, RegistrarConfig, register_and_keep};

/// The TCP port EPMD listens on when nothing says otherwise.
pub const DEFAULT_PORT: u16 = 4369;

/// The EPMD port to use: `$ERL_EPMD_PORT` when it is set to a valid port
/// number (1–65535), else [`DEFAULT_PORT`] (4369), as Erlang does.
///
/// ```
/// let port = beamlink::epmd::default_port();
/// assert!(port > 0);
/// ```
pub fn default_port() -> u16 {
    port_from_env(std::env::var("ERL_EPMD_PORT").ok().as_deref())
}

/// Parses the value of `ERL_EPMD_PORT`; anything unusable means the default.
fn port_from_env(value: Option<&str>) -> u16 {
    match value.map(str::trim).map(str::parse::<u16>) {
        Some(Ok(port)) if port != 0 => port,
        _ => DEFAULT_PORT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_port_is_used_when_valid() {
        assert_eq!(port_from_env(Some("4370")), 4370);
        assert_eq!(port_from_env(Some(" 5000 ")), 5000);
    }

    #[test]
    fn env_port_falls_back_to_4369() {
        assert_eq!(port_from_env(None), 4369);
        assert_eq!(port_from_env(Some("")), 4369);
        assert_eq!(port_from_env(Some("0")), 4369);
        assert_eq!(port_from_env(Some("65536")), 4369);
        assert_eq!(port_from_env(Some("epmd")), 4369);
    }
}
