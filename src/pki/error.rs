//! Errors from reading certificates and keys, and from the node-identity check.

use std::fmt;

use super::identity::VerifyName;

/// Reading a PEM file or a DER certificate failed.
///
/// Every variant names the file (or the label the caller gave for in-memory
/// data) and what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The file does not exist.
    #[error("{file}: no such file")]
    Missing {
        /// The file.
        file: String,
    },
    /// The file exists but could not be read.
    #[error("{file}: cannot read it: {error}")]
    Unreadable {
        /// The file.
        file: String,
        /// The operating system's reason.
        #[source]
        error: std::io::Error,
    },
    /// The file is larger than any certificate or key file should be.
    #[error("{file}: larger than {limit} bytes; not a certificate or key file")]
    TooLarge {
        /// The file.
        file: String,
        /// The size limit in bytes.
        limit: u64,
    },
    /// The data holds no PEM block at all.
    #[error("{file}: no PEM block found (expected {expected})")]
    NoPemBlock {
        /// The file.
        file: String,
        /// What was looked for, e.g. `a CERTIFICATE block`.
        expected: &'static str,
    },
    /// The data holds PEM blocks, but none of the expected type.
    #[error("{file}: expected {expected}, found {}", found.join(", "))]
    WrongBlockType {
        /// The file.
        file: String,
        /// What was looked for.
        expected: &'static str,
        /// The labels of the blocks that were there, e.g. `PRIVATE KEY`.
        found: Vec<String>,
    },
    /// A PEM block is malformed (bad base64, missing END line, ...).
    #[error("{file}: malformed PEM: {reason}")]
    BadPem {
        /// The file.
        file: String,
        /// What the PEM reader reported.
        reason: String,
    },
    /// The private key is encrypted and no password was given.
    #[error(
        "{file}: the private key is encrypted; give its password ({{password, \"...\"}} in the \
         -ssl_dist_optfile section that names the key, or --key-password-file FILE)"
    )]
    EncryptedKey {
        /// The key file.
        file: String,
    },
    /// The password does not decrypt the private key.
    #[error("{file}: cannot decrypt the private key: the password is wrong, or the file is damaged")]
    WrongKeyPassword {
        /// The key file.
        file: String,
    },
    /// The private key is encrypted in a way beamlink does not read.
    #[error("{file}: the private key is encrypted with {scheme}, which beamlink does not read; re-encrypt it: {hint}")]
    UnsupportedKeyEncryption {
        /// The key file.
        file: String,
        /// The scheme, cipher or parameters that are not supported.
        scheme: String,
        /// A command that writes the key in a form beamlink reads.
        hint: &'static str,
    },
    /// A private-key block is malformed.
    #[error("{file}: malformed private key: {reason}")]
    BadKey {
        /// The key file.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// A password file's first line is empty.
    #[error("{file}: the password file's first line is empty")]
    EmptyPassword {
        /// The password file.
        file: String,
    },
    /// A certificate's DER could not be parsed as X.509.
    #[error("{file}: not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// The file, or a label such as `certificate` for in-memory DER.
        file: String,
        /// What the parser reported.
        reason: String,
    },
}

/// A peer's certificate does not vouch for the node name it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate is valid but for other names.
    #[error("peer {claimed} presented a certificate for {good_for} (verify-name {policy})")]
    Mismatch {
        /// The node name the peer claimed in the distribution handshake.
        claimed: String,
        /// What the certificate is good for, ready to print (e.g. `alice@host`).
        good_for: GoodFor,
        /// The policy that was applied.
        policy: VerifyName,
    },
    /// The certificate vouches for the node, but under another spelling
    /// (host case, an IP address written another way): a connection's name
    /// must be the certificate's own, so that one certificate cannot hold
    /// several connections under names that rules and tables tell apart.
    #[error(
        "peer {claimed} claimed another spelling of {canonical}, the name its certificate carries; it must use \
         exactly {canonical} (verify-name {policy})"
    )]
    NotCanonical {
        /// The node name the peer claimed.
        claimed: String,
        /// The certificate's spelling of it.
        canonical: String,
        /// The policy that was applied.
        policy: VerifyName,
    },
    /// The claimed name is not a well-formed node name.
    #[error("peer claimed the node name {claimed:?}, which is invalid: {reason} (verify-name {policy})")]
    InvalidClaim {
        /// The node name the peer claimed.
        claimed: String,
        /// Why it is not a node name.
        reason: String,
        /// The policy that was applied.
        policy: VerifyName,
    },
}

/// What a certificate is good for, as shown in an [`IdentityError`]: node
/// names (strict policy) or hosts and addresses (host policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodFor(pub Vec<String>);

impl fmt::Display for GoodFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("no node name at all") } else { f.write_str(&self.0.join(", ")) }
    }
}
