//! Errors from certificate provisioning.

use std::path::PathBuf;

use crate::pki::PkiError;
use crate::transport::tls::RevocationReason;

/// A provisioning step failed. Each variant says what to fix; nothing was
/// left half-written when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertsError {
    /// The node name is not `alive@host` with valid parts.
    #[error("invalid node name {node:?}: {reason}")]
    InvalidNodeName {
        /// The name as given.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extra `--host` is not a DNS name or IP address.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The validity period is out of range.
    #[error("invalid validity of {days} days: it must be between 1 and {max} days")]
    InvalidDays {
        /// The number of days asked for.
        days: i64,
        /// The largest number accepted.
        max: i64,
    },
    /// The explicit validity window ends before it starts.
    #[error("invalid validity window: not_after is not later than not_before")]
    InvalidWindow,
    /// The CA's common name is empty.
    #[error("the CA name must not be empty")]
    EmptyCaName,
    /// A file exists and `force` was not set.
    #[error("{} already exists; refusing to overwrite it (use --force to replace it)", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The CA certificate or key is not in the folder.
    #[error("no CA in {}: {} is missing (create one with `beamlink certs init-ca --dir {}`)",
        dir.display(), missing.display(), dir.display())]
    NoCa {
        /// The folder searched.
        dir: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The CA key is not the key of the CA certificate.
    #[error("{} does not match {}: the key is not the CA certificate's key", key.display(), cert.display())]
    CaKeyMismatch {
        /// The CA certificate.
        cert: PathBuf,
        /// The CA key.
        key: PathBuf,
    },
    /// The CA certificate is not a CA (basicConstraints cA is not set).
    #[error("{} is not a CA certificate (its basicConstraints do not say cA=true)", path.display())]
    NotACa {
        /// The certificate.
        path: PathBuf,
    },
    /// The CA key cannot be used for signing.
    #[error("{}: unusable CA key: {reason}", path.display())]
    UnusableCaKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The CA expires before the certificate asked for would.
    #[error("the CA certificate {} expires before the requested validity ends; ask for fewer days or renew the CA",
        ca.display())]
    CaExpiresFirst {
        /// The CA certificate.
        ca: PathBuf,
    },
    /// The node's existing certificate (for renew or erlang-config) is missing.
    #[error("no certificate for {node} in {}: {} is missing (issue one with `beamlink certs issue`)",
        dir.display(), missing.display())]
    NoNodeCert {
        /// The node name.
        node: String,
        /// The folder.
        dir: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A path cannot be written into an Erlang optfile (not UTF-8).
    #[error("{} is not valid UTF-8 and cannot be written into an Erlang optfile", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// A serial number given to revoke is not one.
    #[error("invalid serial number {serial:?}: {reason}")]
    InvalidSerial {
        /// The serial as given.
        serial: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A revocation reason that a CRL of this kind cannot carry.
    #[error("the revocation reason {reason} belongs in delta CRLs only; choose another reason")]
    UnsupportedReason {
        /// The reason asked for.
        reason: RevocationReason,
    },
    /// The certificate to revoke was not issued by the folder's CA.
    #[error("{} was not issued by the CA in {}: only the CA that issued a certificate can revoke it",
        cert.display(), ca.display())]
    NotIssuedByCa {
        /// The certificate file.
        cert: PathBuf,
        /// The folder's CA certificate.
        ca: PathBuf,
    },
    /// The folder's CRL was not signed by the folder's CA.
    #[error("{} was not signed by the CA in {} (was the CA replaced?); move it away to start a new CRL",
        crl.display(), ca.display())]
    ForeignCrl {
        /// The CRL file.
        crl: PathBuf,
        /// The folder's CA certificate.
        ca: PathBuf,
    },
    /// The folder's CRL cannot be read.
    #[error("{}: cannot use it as a CRL: {reason}", path.display())]
    BadCrl {
        /// The CRL file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a certificate or key failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Making a key or signing a certificate failed.
    #[error("{what} failed: {reason}")]
    Crypto {
        /// The step, e.g. `generating an RSA key`.
        what: &'static str,
        /// The library's reason.
        reason: String,
    },
    /// A file-system step failed.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        error: std::io::Error,
    },
}

impl CertsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CertsError {
        let path = path.into();
        move |error| CertsError::Io { action, path, error }
    }

    pub(crate) fn crypto(what: &'static str) -> impl FnOnce(rcgen::Error) -> CertsError {
        move |e| CertsError::Crypto { what, reason: e.to_string() }
    }
}
