//! The certificate profiles: what a cluster CA and a node certificate contain.
//!
//! CA: subject CN = the CA name; basicConstraints cA=true, pathLen 0
//! (critical); keyUsage keyCertSign + cRLSign (critical); a subject key
//! identifier; random positive 128-bit serial.
//!
//! Node: subject CN = the node name; basicConstraints cA=false (critical);
//! keyUsage digitalSignature (+ keyEncipherment for RSA); extendedKeyUsage
//! serverAuth + clientAuth; authority and subject key identifiers; and one
//! subjectAltName extension listing, in this order, a dNSName per host (an
//! IP-literal host also as a dNSName spelled as the address, because OTP's
//! client hostname check matches only dNSNames), an iPAddress per address, and
//! a directoryName whose commonName (UTF8String) is the node's alive name —
//! the layout OTP's `inet_tls_dist` reads node names from.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;
use yasna::Tag;
use yasna::models::ObjectIdentifier;

use super::{CertsError, KeyAlgorithm, KeyPurpose};

const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];

/// A validity window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
}

impl Window {
    /// From five minutes ago (to absorb clock skew) until `days` from now.
    pub(crate) fn days_from_now(days: i64, now: SystemTime) -> Result<Window, CertsError> {
        if !(1..=super::MAX_DAYS).contains(&days) {
            return Err(CertsError::InvalidDays { days, max: super::MAX_DAYS });
        }
        let span = Duration::from_secs(days.unsigned_abs() * 86_400);
        Ok(Window {
            not_before: now.checked_sub(Duration::from_secs(300)).unwrap_or(now),
            not_after: now.checked_add(span).ok_or(CertsError::InvalidDays { days, max: super::MAX_DAYS })?,
        })
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), CertsError> {
        if self.not_after <= self.not_before {
            return Err(CertsError::InvalidWindow);
        }
        params.not_before = OffsetDateTime::from(self.not_before);
        params.not_after = OffsetDateTime::from(self.not_after);
        Ok(())
    }
}

/// Who a node certificate is for.
#[derive(Debug, Clone)]
pub(crate) struct NodeIdentity {
    /// The full node name (the files' names).
    pub(crate) node: String,
    /// The subject CN: the node name, or the operator pattern `ops-*@host`.
    pub(crate) subject: String,
    /// The alive part (the directoryName CN).
    pub(crate) alive: String,
    /// dNSName entries, in order, no duplicates.
    pub(crate) dns_names: Vec<String>,
    /// iPAddress entries, in order, no duplicates.
    pub(crate) ips: Vec<IpAddr>,
}

impl NodeIdentity {
    /// Turns `ops@host` into the operator identity `ops-*@host`, which
    /// strict name binding reads as every node `ops-<suffix>@host`.
    pub(crate) fn make_operator(&mut self) {
        self.alive = format!("{}-*", self.alive);
        self.subject = match self.node.split_once('@') {
            Some((_, host)) => format!("{}@{host}", self.alive),
            None => self.alive.clone(),
        };
    }
}

/// The parameters of a cluster CA certificate.
pub(crate) fn ca_params(name: &str, window: Window) -> Result<CertificateParams, CertsError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    window.apply(&mut params)?;
    Ok(params)
}

/// The parameters of a node certificate.
pub(crate) fn node_params(
    id: &NodeIdentity,
    key: KeyAlgorithm,
    window: Window,
    purposes: &[KeyPurpose],
    with_san: bool,
) -> Result<CertificateParams, CertsError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&id.subject);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if matches!(key, KeyAlgorithm::Rsa { .. }) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    for purpose in purposes {
        params.insert_extended_key_usage(match purpose {
            KeyPurpose::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            KeyPurpose::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        });
    }
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    if with_san {
        params.custom_extensions.push(CustomExtension::from_oid_content(OID_SUBJECT_ALT_NAME, san_der(id)));
    }
    window.apply(&mut params)?;
    Ok(params)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_string()));
    dn
}

/// 16 random bytes, top bit clear and first byte non-zero: a positive serial
/// of 121 to 127 significant bits, encoded in exactly 16 bytes.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

/// The subjectAltName value (GeneralNames) for a node. rcgen has no
/// directoryName SAN, so the whole extension is encoded here.
fn san_der(id: &NodeIdentity) -> Vec<u8> {
    yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            for dns in &id.dns_names {
                seq.next().write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(dns));
            }
            for ip in &id.ips {
                let octets = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                seq.next().write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&octets));
            }
            // directoryName [4] is EXPLICIT (Name is a CHOICE): Name ::= SEQUENCE OF
            // RDN, RDN ::= SET OF AttributeTypeAndValue.
            seq.next().write_tagged(Tag::context(4), |w| {
                w.write_sequence(|rdns| {
                    rdns.next().write_set(|rdn| {
                        rdn.next().write_sequence(|atv| {
                            atv.next().write_oid(&ObjectIdentifier::from_slice(OID_COMMON_NAME));
                            atv.next().write_utf8_string(&id.alive);
                        });
                    });
                });
            });
        });
    })
}
