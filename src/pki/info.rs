//! What a certificate says, read once into plain Rust values.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED448, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use super::names::{NameSources, read_names};
use super::{PkiError, load_certs};

/// The facts about one X.509 certificate that beamlink uses or shows.
///
/// Made by [`CertInfo::from_der`]; all fields are owned copies, so it outlives
/// the DER it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertInfo {
    /// The subject name, one-line form (`CN=alice@localhost`).
    pub subject: String,
    /// The subject's first commonName, if any.
    pub subject_common_name: Option<String>,
    /// The issuer name, one-line form.
    pub issuer: String,
    /// The serial number in upper-case hex, without leading zero bytes
    /// (as `openssl x509 -serial` prints it).
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// SAN dNSName entries, in certificate order.
    pub dns_names: Vec<String>,
    /// SAN iPAddress entries, in certificate order.
    pub ip_addresses: Vec<IpAddr>,
    /// The node names (`alive@host`) the certificate is good for.
    ///
    /// Read as OTP's `inet_tls_dist` means them: each SAN directoryName whose
    /// first RDN holds a UTF8String commonName gives an alive name, and it is
    /// paired with every SAN dNSName (the hosts). As an extension, a
    /// commonName that already is a full `alive@host` is taken as it is.
    /// Names that would not be valid node names are left out. An alive name
    /// ending in `-*` (`ops-*@host`, an operator certificate) stands for every
    /// node `ops-<suffix>@host` whose suffix is letters, digits and `_`.
    pub node_names: Vec<String>,
    /// What OTP 25's `inet_tls_dist:cert_nodes/1` returns for this
    /// certificate: `None` for its `undefined` ("allow all"), else its list.
    ///
    /// OTP 25 decodes SAN directoryName values as raw DER, so its reader never
    /// sees a commonName there; in practice it returns the first dNSName of
    /// the SAN extension (a bare host, not a node name).
    pub otp_cert_nodes: Option<Vec<String>>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len_constraint: Option<u32>,
    /// keyUsage bits that are set, by their RFC 5280 names (`digitalSignature`,
    /// `keyCertSign`, ...); empty when the extension is absent.
    pub key_usage: Vec<&'static str>,
    /// extendedKeyUsage; `None` when the extension is absent (any purpose).
    pub extended_key_usage: Option<KeyPurposes>,
    /// The subject public key's type.
    pub key_type: KeyType,
    /// SHA-256 of the certificate's DER.
    pub sha256_fingerprint: [u8; 32],
}

/// The purposes listed in an extendedKeyUsage extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyPurposes {
    /// id-kp-serverAuth: may act as a TLS server.
    pub server_auth: bool,
    /// id-kp-clientAuth: may act as a TLS client.
    pub client_auth: bool,
    /// anyExtendedKeyUsage.
    pub any: bool,
    /// Any other purposes, as dotted OIDs.
    pub others: Vec<String>,
}

impl fmt::Display for KeyPurposes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = Vec::new();
        if self.server_auth {
            names.push("serverAuth");
        }
        if self.client_auth {
            names.push("clientAuth");
        }
        if self.any {
            names.push("anyExtendedKeyUsage");
        }
        names.extend(self.others.iter().map(String::as_str));
        if names.is_empty() { f.write_str("(empty)") } else { f.write_str(&names.join(", ")) }
    }
}

/// The type of a certificate's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on NIST P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Anything else, by algorithm OID (and curve OID for other EC keys).
    Other(String),
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyType::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyType::EcdsaP521 => f.write_str("ECDSA P-521"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
            KeyType::Ed448 => f.write_str("Ed448"),
            KeyType::Rsa { bits } => write!(f, "RSA {bits} bits"),
            KeyType::Other(oid) => write!(f, "unrecognised key type ({oid})"),
        }
    }
}

impl CertInfo {
    /// Reads a DER certificate. Fails on anything that is not exactly one
    /// well-formed X.509 certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, PkiError> {
        Self::from_der_in(der, "certificate")
    }

    /// Reads the first certificate of a PEM file (the leaf of a chain).
    pub fn from_file(path: &Path) -> Result<CertInfo, PkiError> {
        let certs = load_certs(path)?;
        let file = path.display().to_string();
        match certs.first() {
            Some(der) => Self::from_der_in(der, &file),
            None => Err(PkiError::NoPemBlock { file, expected: "a CERTIFICATE block" }),
        }
    }

    /// [`CertInfo::from_der`], naming `file` in errors.
    pub(crate) fn from_der_in(der: &[u8], file: &str) -> Result<CertInfo, PkiError> {
        let bad = |reason: String| PkiError::BadCertificate { file: file.to_string(), reason };
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes of trailing data after the certificate", rest.len())));
        }

        let mut sources = NameSources::default();
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut is_ca = false;
        let mut path_len_constraint = None;
        let mut key_usage = Vec::new();
        let mut extended_key_usage = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    sources.san_extensions.push(san.general_names.clone());
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(dns) => dns_names.push((*dns).to_string()),
                            GeneralName::IPAddress(bytes) => {
                                let ip = ip_from_bytes(bytes).ok_or_else(|| {
                                    bad(format!("an iPAddress SAN entry has {} bytes (expected 4 or 16)", bytes.len()))
                                })?;
                                ip_addresses.push(ip);
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => {
                    is_ca = bc.ca;
                    path_len_constraint = bc.path_len_constraint;
                }
                ParsedExtension::KeyUsage(ku) => {
                    let bits = [
                        (ku.digital_signature(), "digitalSignature"),
                        (ku.non_repudiation(), "nonRepudiation"),
                        (ku.key_encipherment(), "keyEncipherment"),
                        (ku.data_encipherment(), "dataEncipherment"),
                        (ku.key_agreement(), "keyAgreement"),
                        (ku.key_cert_sign(), "keyCertSign"),
                        (ku.crl_sign(), "cRLSign"),
                        (ku.encipher_only(), "encipherOnly"),
                        (ku.decipher_only(), "decipherOnly"),
                    ];
                    key_usage = bits.iter().filter(|(set, _)| *set).map(|(_, name)| *name).collect();
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    extended_key_usage = Some(KeyPurposes {
                        server_auth: eku.server_auth,
                        client_auth: eku.client_auth,
                        any: eku.any,
                        others: eku.other.iter().map(|oid| oid.to_id_string()).collect(),
                    });
                }
                ParsedExtension::ParseError { error } if ext.critical => {
                    return Err(bad(format!("critical extension {} is malformed: {error}", ext.oid.to_id_string())));
                }
                _ => {}
            }
        }
        sources.has_extensions = !cert.extensions().is_empty();
        let names = read_names(&sources);

        let subject_common_name =
            cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
        let validity = cert.validity();
        Ok(CertInfo {
            subject: cert.subject().to_string(),
            subject_common_name,
            issuer: cert.issuer().to_string(),
            serial: serial_hex(cert.raw_serial()),
            not_before: crate::utc::from_unix_seconds(validity.not_before.timestamp()),
            not_after: crate::utc::from_unix_seconds(validity.not_after.timestamp()),
            dns_names,
            ip_addresses,
            node_names: names.node_names,
            otp_cert_nodes: names.otp_cert_nodes,
            is_ca,
            path_len_constraint,
            key_usage,
            extended_key_usage,
            key_type: key_type(&cert),
            sha256_fingerprint: Sha256::digest(der).into(),
        })
    }

    /// How long until the certificate expires, or `None` if it already has.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        self.not_after.duration_since(now).ok().filter(|d| !d.is_zero())
    }

    /// Whether `now` lies within the validity period.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The SHA-256 fingerprint as colon-separated upper-case hex, the way
    /// `openssl x509 -fingerprint -sha256` prints it.
    pub fn fingerprint_hex(&self) -> String {
        self.sha256_fingerprint.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }

    /// Whether the certificate may act as a TLS server (EKU absent, or
    /// listing serverAuth or anyExtendedKeyUsage).
    pub fn allows_server_auth(&self) -> bool {
        self.extended_key_usage.as_ref().is_none_or(|p| p.server_auth || p.any)
    }

    /// Whether the certificate may act as a TLS client.
    pub fn allows_client_auth(&self) -> bool {
        self.extended_key_usage.as_ref().is_none_or(|p| p.client_auth || p.any)
    }
}

/// Upper-case hex of a DER INTEGER's content bytes, leading zero bytes removed.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    let digits: String = raw.get(start..).unwrap_or_default().iter().map(|b| format!("{b:02X}")).collect();
    if digits.is_empty() { "00".to_string() } else { digits }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
}

fn key_type(cert: &X509Certificate<'_>) -> KeyType {
    let spki = cert.public_key();
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => modulus_bits(rsa.modulus),
            _ => 0,
        };
        KeyType::Rsa { bits }
    } else if *alg == OID_SIG_ED25519 {
        KeyType::Ed25519
    } else if *alg == OID_SIG_ED448 {
        KeyType::Ed448
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => KeyType::EcdsaP256,
            Some(c) if c == OID_NIST_EC_P384 => KeyType::EcdsaP384,
            Some(c) if c == OID_NIST_EC_P521 => KeyType::EcdsaP521,
            Some(c) => KeyType::Other(format!("EC curve {}", c.to_id_string())),
            None => KeyType::Other("EC, curve not named".to_string()),
        }
    } else {
        KeyType::Other(alg.to_id_string())
    }
}

/// The bit length of a big-endian unsigned modulus.
fn modulus_bits(modulus: &[u8]) -> usize {
    match modulus.iter().position(|b| *b != 0) {
        Some(i) => {
            let top = modulus.get(i).copied().unwrap_or(0);
            (modulus.len() - i - 1) * 8 + (8 - top.leading_zeros() as usize)
        }
        None => 0,
    }
}

/// Whether a DER value is a UTF8String (used by the OTP name reader).
pub(super) fn is_utf8_string(tag: Tag) -> bool {
    tag == Tag::Utf8String
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_helpers() {
        assert_eq!(serial_hex(&[0x00, 0x9A, 0x01]), "9A01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(modulus_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
        assert_eq!(crate::utc::from_unix_seconds(-10), std::time::UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(ip_from_bytes(&[127, 0, 0, 1]), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn refuses_garbage_and_trailing_bytes() {
        let err = CertInfo::from_der(b"not a certificate").unwrap_err();
        assert!(matches!(err, PkiError::BadCertificate { .. }), "{err:?}");
    }
}
