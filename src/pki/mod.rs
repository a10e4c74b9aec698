//! Certificates and keys as beamlink reads them (feature `tls`): PEM loading,
//! the facts a certificate states ([`CertInfo`]), and the check that a peer's
//! certificate vouches for the node name it claims ([`CertInfo::check_node`]).
//!
//! Everything here is pure: the only I/O is in the optional file-loading
//! helpers [`load_certs`] and [`load_private_key`]. Protocol background:
//! OTP's *Using TLS for Erlang Distribution* (SSL User's Guide).
//!
//! ## Node identity in a certificate
//!
//! beamlink certificates carry a node's identity the way OTP's
//! `inet_tls_dist` looks for it: SAN dNSName entries for the hosts, SAN
//! iPAddress entries for addresses, and a SAN directoryName whose commonName
//! (a UTF8String) is the node's alive name. See [`CertInfo::node_names`] for
//! how these combine, and [`VerifyName`] for the policies that use them.
//!
//! ```no_run
//! use beamlink::pki::{CertInfo, VerifyName, load_certs};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let chain = load_certs("certs/alice@localhost.pem".as_ref())?;
//! let info = CertInfo::from_der(&chain[0])?;
//! println!("good for {:?}, expires {:?}", info.node_names, info.not_after);
//! info.check_node("alice@localhost", VerifyName::Strict)?;
//! # Ok(())
//! # }
//! ```

mod encrypted;
mod error;
mod identity;
mod info;
mod names;
mod node_name;
mod pem;

pub use encrypted::KeyPassword;
pub use error::{GoodFor, IdentityError, PkiError};
pub use identity::{UnknownVerifyName, VerifyName};
pub use info::{CertInfo, KeyPurposes, KeyType};
pub use pem::{
    MAX_PEM_FILE_BYTES, load_certs, load_private_key, load_private_key_with_password, parse_certs_pem,
    parse_private_key_pem,
};

#[cfg(feature = "certs")]
pub(crate) use node_name::{check_host, parse_node_name};
