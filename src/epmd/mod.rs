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

/// The addresses `ERL_EPMD_ADDRESS` asks an EPMD to listen on, as OTP's
/// `epmd` reads it: IP addresses separated by commas (or spaces), to which the
/// loopback addresses are added. `None` when it is unset or empty; an
/// address that does not parse is an error naming the variable (an EPMD must
/// not silently listen somewhere else than asked).
pub fn listen_addresses_from_env() -> Result<Option<Vec<std::net::IpAddr>>, EpmdError> {
    addresses_from_env(std::env::var("ERL_EPMD_ADDRESS").ok().as_deref())
}

fn addresses_from_env(value: Option<&str>) -> Result<Option<Vec<std::net::IpAddr>>, EpmdError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let mut addresses = Vec::new();
    for item in value.split([',', ' ']).filter(|item| !item.is_empty()) {
        let ip = item.parse().map_err(|_| EpmdError::BadAddressList {
            value: value.to_string(),
            reason: format!("{item:?} is not an IP address"),
        })?;
        if !addresses.contains(&ip) {
            addresses.push(ip);
        }
    }
    for loopback in daemon::loopback_addresses() {
        if !addresses.contains(&loopback) {
            addresses.push(loopback);
        }
    }
    Ok(Some(addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_addresses_are_read_as_epmd_reads_them_with_loopback_added() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(addresses_from_env(None).unwrap().is_none());
        assert!(addresses_from_env(Some(" ")).unwrap().is_none());
        assert_eq!(
            addresses_from_env(Some("10.0.0.1, 10.0.0.2,10.0.0.1")).unwrap().unwrap(),
            [ip("10.0.0.1"), ip("10.0.0.2"), ip("127.0.0.1"), ip("::1")]
        );
        assert_eq!(addresses_from_env(Some("::1")).unwrap().unwrap(), [ip("::1"), ip("127.0.0.1")]);
        let err = addresses_from_env(Some("10.0.0.1,eth0")).unwrap_err().to_string();
        assert!(err.contains("ERL_EPMD_ADDRESS") && err.contains("\"eth0\""), "{err}");
    }

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
