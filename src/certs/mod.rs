//! Certificate provisioning (feature `certs`): a private cluster CA, node
//! certificates for Rust and Erlang nodes alike, the `-ssl_dist_optfile` an
//! `erl` node needs, and inspection for monitoring. One library function per
//! `beamlink certs` command:
//!
//! | command | function |
//! |---|---|
//! | `init-ca` | [`init_ca`] |
//! | `issue` | [`issue`] |
//! | `renew` | [`renew`] |
//! | `inspect` | [`inspect`] |
//! | `erlang-config` | [`erlang_config`] |
//! | `revoke` | [`revoke`] |
//! | `crl` | [`update_crl`] |
//! | `inspect` (of a CRL) | [`inspect_crl`] |
//!
//! A certificate folder holds `ca.pem` and `ca.key`, and per node
//! `NODE@HOST.pem` and `NODE@HOST.key`; once a CRL was made (`revoke`,
//! `crl`), also the CA's certificate revocation list `crl.pem` and its
//! hash-directory link `crl.d/HASH.r0`. Keys are written 0600, folders this
//! module creates 0700, and every file is written to a temporary name and
//! renamed into place, so a failed step leaves nothing half-written.
//! Existing files are replaced only when asked (`force`).
//!
//! The certificate profile (what a node certificate contains, and why) is
//! described in the `profile` module's source; in short: subject CN = node
//! name, SAN dNSName per host (IP-literal hosts also spelled as a dNSName,
//! for OTP's hostname check), SAN iPAddress per address, SAN directoryName
//! with the alive name as a UTF8String commonName, serverAuth + clientAuth,
//! ECDSA P-256 unless asked otherwise.
//!
//! ```no_run
//! use beamlink::certs::{CaOptions, IssueOptions, erlang_config, init_ca, issue};
//! # fn main() -> Result<(), beamlink::certs::CertsError> {
//! init_ca(&CaOptions::new("pki"))?;
//! issue(&IssueOptions::new("pki", "alice@localhost"))?;
//! issue(&IssueOptions::new("pki", "erl@localhost"))?;
//! let conf = erlang_config("pki".as_ref(), "erl@localhost")?;
//! conf.write(false)?;
//! eprintln!("erl {}", conf.erl_flags_line());
//! # Ok(())
//! # }
//! ```

mod ca;
mod crl;
mod erlang;
mod error;
mod files;
mod inspect;
mod issue;
mod keys;
mod name_hash;
mod options;
mod profile;

pub use ca::{CA_CERT_FILE, CA_KEY_FILE, CaFiles, init_ca};
pub use crl::{
    CRL_FILE, CRL_HASH_DIR, CrlFile, CrlOptions, DEFAULT_CRL_DAYS, RevokeOptions, RevokeTarget, crl_path, revoke,
    update_crl,
};
pub use erlang::{ErlangConfig, erlang_config};
pub use error::CertsError;
pub use inspect::{CrlInspection, ExpiryStatus, Inspection, inspect, inspect_crl};
pub use issue::{Backup, NodeFiles, issue, node_files, renew};
pub use options::{
    CaOptions, DEFAULT_CA_DAYS, DEFAULT_CA_NAME, DEFAULT_NODE_DAYS, IssueOptions, KeyAlgorithm, KeyPurpose, MAX_DAYS,
    RenewOptions, UnknownKeyAlgorithm, default_ca_name,
};

#[cfg(test)]
mod crl_tests;
#[cfg(test)]
mod tests;
