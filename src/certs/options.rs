//! Options for each provisioning step, with builders.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::SystemTime;

/// The longest validity accepted, in days (100 years).
pub const MAX_DAYS: i64 = 36_500;
/// Default validity of a CA certificate, in days (10 years).
pub const DEFAULT_CA_DAYS: i64 = 3_650;
/// Default validity of a node certificate, in days.
pub const DEFAULT_NODE_DAYS: i64 = 365;
/// Start of a new CA's default commonName; [`default_ca_name`] adds a random tag.
pub const DEFAULT_CA_NAME: &str = "beamlink cluster CA";

/// A default CA commonName: [`DEFAULT_CA_NAME`] and 8 random hex digits.
///
/// Two CAs with the same name confuse chain building (a verifier finds the
/// wrong issuer by name and reports a bad signature instead of an unknown
/// issuer) and CA rotation, so each default name is distinct.
pub fn default_ca_name() -> String {
    format!("{DEFAULT_CA_NAME} {:08x}", rand::random::<u32>())
}

/// The kind of key to generate.
///
/// ECDSA P-256 is the default: every TLS stack involved (rustls, OTP 25 under
/// TLS 1.2 and 1.3) accepts it. OTP cannot use Ed25519 keys under TLS 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256, signing with SHA-256.
    #[default]
    EcdsaP256,
    /// Ed25519.
    Ed25519,
    /// RSA (PKCS#1 v1.5 signatures with SHA-256); at least 2048 bits.
    Rsa {
        /// Modulus size in bits: 2048, 3072 or 4096.
        bits: u32,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ecdsa-p256"),
            KeyAlgorithm::Ed25519 => f.write_str("ed25519"),
            KeyAlgorithm::Rsa { bits: 2048 } => f.write_str("rsa"),
            KeyAlgorithm::Rsa { bits } => write!(f, "rsa{bits}"),
        }
    }
}

/// The error from parsing an unknown key algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key type {0:?} (expected ecdsa-p256, ed25519, rsa, rsa3072 or rsa4096)")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    /// `ecdsa-p256` (or `p256`), `ed25519`, `rsa` (2048 bits), `rsa2048`, `rsa3072`, `rsa4096`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "p256" | "ecdsa" => Ok(KeyAlgorithm::EcdsaP256),
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "rsa" | "rsa2048" => Ok(KeyAlgorithm::Rsa { bits: 2048 }),
            "rsa3072" => Ok(KeyAlgorithm::Rsa { bits: 3072 }),
            "rsa4096" => Ok(KeyAlgorithm::Rsa { bits: 4096 }),
            _ => Err(UnknownKeyAlgorithm(s.to_string())),
        }
    }
}

/// An extended key usage a node certificate can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// id-kp-serverAuth.
    ServerAuth,
    /// id-kp-clientAuth.
    ClientAuth,
}

/// Options for [`init_ca`](super::init_ca).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaOptions {
    /// The folder that receives `ca.pem` and `ca.key` (created 0700 if missing).
    pub dir: PathBuf,
    /// The CA's commonName.
    pub name: String,
    /// Validity in days, 1 to [`MAX_DAYS`].
    pub days: i64,
    /// The CA key's type.
    pub key: KeyAlgorithm,
    /// Replace existing files instead of refusing.
    pub force: bool,
}

impl CaOptions {
    /// Defaults: [`default_ca_name`], [`DEFAULT_CA_DAYS`], ECDSA P-256, no force.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CaOptions {
            dir: dir.into(),
            name: default_ca_name(),
            days: DEFAULT_CA_DAYS,
            key: KeyAlgorithm::default(),
            force: false,
        }
    }

    /// Sets the commonName.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the validity in days.
    pub fn days(mut self, days: i64) -> Self {
        self.days = days;
        self
    }

    /// Sets the key type.
    pub fn key(mut self, key: KeyAlgorithm) -> Self {
        self.key = key;
        self
    }

    /// Allows replacing existing files.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
}

/// Options for [`issue`](super::issue).
///
/// The fields after `force` are test and diagnostic knobs: they make
/// certificates that a correct peer must refuse (expired, not yet valid,
/// without clientAuth, commonName only). The CLI does not expose them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueOptions {
    /// The folder holding the CA; receives `NODE@HOST.pem` and `NODE@HOST.key`.
    pub dir: PathBuf,
    /// The node name, `alive@host`.
    pub node: String,
    /// More hosts the node is reachable as (DNS names or IP addresses).
    pub hosts: Vec<String>,
    /// More IP addresses to list as IP SANs.
    pub ips: Vec<IpAddr>,
    /// Validity in days from now, 1 to [`MAX_DAYS`].
    pub days: i64,
    /// The node key's type.
    pub key: KeyAlgorithm,
    /// Replace existing files instead of refusing.
    pub force: bool,
    /// An operator credential instead of a node's: for `ops@host`, a
    /// client-only certificate good for every node `ops-<suffix>@host`, the
    /// names one-shot commands (`beamlink ping`, `rpc`, `send`) generate.
    pub operator: bool,
    /// Knob: start of validity (default: now minus five minutes, for clock skew).
    pub not_before: Option<SystemTime>,
    /// Knob: end of validity (default: now plus `days`). May lie in the past.
    pub not_after: Option<SystemTime>,
    /// Knob: the extended key usages (default: serverAuth and clientAuth).
    /// Empty leaves the extension out.
    pub purposes: Vec<KeyPurpose>,
    /// Knob: `false` leaves the subjectAltName extension out entirely, making
    /// a commonName-only certificate.
    pub subject_alt_names: bool,
}

impl IssueOptions {
    /// Defaults: no extra hosts or addresses, [`DEFAULT_NODE_DAYS`], ECDSA
    /// P-256, no force, the standard node profile.
    pub fn new(dir: impl Into<PathBuf>, node: impl Into<String>) -> Self {
        IssueOptions {
            dir: dir.into(),
            node: node.into(),
            hosts: Vec::new(),
            ips: Vec::new(),
            days: DEFAULT_NODE_DAYS,
            key: KeyAlgorithm::default(),
            force: false,
            operator: false,
            not_before: None,
            not_after: None,
            purposes: vec![KeyPurpose::ServerAuth, KeyPurpose::ClientAuth],
            subject_alt_names: true,
        }
    }

    /// Adds a host.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Adds an IP address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ips.push(ip);
        self
    }

    /// Sets the validity in days.
    pub fn days(mut self, days: i64) -> Self {
        self.days = days;
        self
    }

    /// Sets the key type.
    pub fn key(mut self, key: KeyAlgorithm) -> Self {
        self.key = key;
        self
    }

    /// Allows replacing existing files.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Makes an operator credential (see [`IssueOptions::operator`]): clientAuth
    /// only, and the alive name `NAME-*`.
    pub fn operator(mut self) -> Self {
        self.operator = true;
        self.purposes = vec![KeyPurpose::ClientAuth];
        self
    }

    /// Knob: sets an explicit validity window (either end may be in the past).
    pub fn validity(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self
    }

    /// Knob: sets the extended key usages (empty: no extension).
    pub fn purposes(mut self, purposes: &[KeyPurpose]) -> Self {
        self.purposes = purposes.to_vec();
        self
    }

    /// Knob: leaves out the subjectAltName extension (commonName only).
    pub fn without_subject_alt_names(mut self) -> Self {
        self.subject_alt_names = false;
        self
    }
}

/// Options for [`renew`](super::renew).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RenewOptions {
    /// The folder holding the CA and the node's files.
    pub dir: PathBuf,
    /// The node name whose certificate is renewed.
    pub node: String,
    /// Validity of the new certificate (default: as long as the old one's).
    pub days: Option<i64>,
    /// Key type of the new key (default: the old key's type).
    pub key: Option<KeyAlgorithm>,
}

impl RenewOptions {
    /// Renew `node`'s certificate in `dir`, keeping validity length and key type.
    pub fn new(dir: impl Into<PathBuf>, node: impl Into<String>) -> Self {
        RenewOptions { dir: dir.into(), node: node.into(), days: None, key: None }
    }

    /// Sets the validity in days.
    pub fn days(mut self, days: i64) -> Self {
        self.days = Some(days);
        self
    }

    /// Sets the key type.
    pub fn key(mut self, key: KeyAlgorithm) -> Self {
        self.key = Some(key);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_algorithm_names() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa { bits: 2048 },
            KeyAlgorithm::Rsa { bits: 4096 },
        ] {
            assert_eq!(alg.to_string().parse::<KeyAlgorithm>(), Ok(alg));
        }
        assert_eq!("RSA".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Rsa { bits: 2048 }));
        assert!("dsa".parse::<KeyAlgorithm>().unwrap_err().to_string().contains("\"dsa\""));
    }

    #[test]
    fn default_ca_names_differ() {
        let (a, b) = (default_ca_name(), default_ca_name());
        assert!(a.starts_with("beamlink cluster CA ") && a.len() == DEFAULT_CA_NAME.len() + 9, "{a}");
        assert_ne!(a, b);
        assert_ne!(CaOptions::new("d").name, CaOptions::new("d").name);
    }
}
