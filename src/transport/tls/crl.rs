//! Certificate revocation lists: reading CRL files (PEM or DER) and what a
//! CRL says, for the verifiers, for log lines, and for `beamlink certs`.
//!
//! Parsing is pure ([`parse_crls`], [`CrlInfo::from_der`]); [`load_crls`]
//! adds a bounded file read.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use rustls::pki_types::CertificateRevocationListDer;
use rustls::pki_types::pem::{PemObject, SectionKind};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::error::TlsError;

/// CRL files larger than this are refused unread (16 MiB: some hundred
/// thousand entries, far more than a cluster CA revokes).
pub const MAX_CRL_FILE_BYTES: u64 = 16 << 20;

/// Why a certificate was revoked: the reason codes of RFC 5280 §5.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// `unspecified` (0).
    Unspecified,
    /// `keyCompromise` (1): the private key leaked or may have.
    KeyCompromise,
    /// `cACompromise` (2).
    CaCompromise,
    /// `affiliationChanged` (3).
    AffiliationChanged,
    /// `superseded` (4): replaced by a newer certificate.
    Superseded,
    /// `cessationOfOperation` (5): the node is gone for good.
    CessationOfOperation,
    /// `certificateHold` (6).
    CertificateHold,
    /// `removeFromCRL` (8), meaningful in delta CRLs only.
    RemoveFromCrl,
    /// `privilegeWithdrawn` (9).
    PrivilegeWithdrawn,
    /// `aACompromise` (10).
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason with this code (7 and anything above 10 have none).
    pub fn from_code(code: u8) -> Option<RevocationReason> {
        RevocationReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The name RFC 5280 gives it, e.g. `keyCompromise`.
    pub fn rfc_name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

/// The error from parsing an unknown revocation reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?} (expected unspecified, key-compromise, ca-compromise, affiliation-changed, \
     superseded, cessation-of-operation, certificate-hold, privilege-withdrawn or aa-compromise)"
)]
pub struct UnknownRevocationReason(pub String);

impl FromStr for RevocationReason {
    type Err = UnknownRevocationReason;

    /// The RFC name (`keyCompromise`) or its kebab-case spelling
    /// (`key-compromise`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let squashed: String = s.chars().filter(|c| !matches!(c, '-' | '_')).collect::<String>().to_lowercase();
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.rfc_name().to_lowercase() == squashed)
            .ok_or_else(|| UnknownRevocationReason(s.to_string()))
    }
}

/// One certificate a CRL lists as revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevokedCert {
    /// The serial number in upper-case hex without leading zero bytes, as
    /// [`CertInfo::serial`](crate::pki::CertInfo::serial) spells it.
    pub serial: String,
    /// When the CA revoked it.
    pub revoked_at: SystemTime,
    /// Why, if the CRL says (an `unspecified` reason is usually left out).
    pub reason: Option<RevocationReason>,
}

/// What a CRL says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrlInfo {
    /// The issuing CA's name, one-line form (as [`CertInfo::issuer`](crate::pki::CertInfo::issuer)).
    pub issuer: String,
    /// The cRLNumber extension, in decimal.
    pub number: Option<String>,
    /// thisUpdate: when the CRL was issued.
    pub this_update: SystemTime,
    /// nextUpdate: when a newer CRL is due.
    pub next_update: Option<SystemTime>,
    /// The revoked certificates, in CRL order.
    pub revoked: Vec<RevokedCert>,
    /// The issuer name's DER, to match it against a CA's subject exactly.
    pub(crate) issuer_der: Vec<u8>,
    /// The cRLNumber, big-endian, without leading zeros.
    pub(crate) number_bytes: Option<Vec<u8>>,
}

impl CrlInfo {
    /// Reads the facts of a DER CRL; `file` names the source in errors.
    pub fn from_der(der: &[u8], file: &str) -> Result<CrlInfo, TlsError> {
        let bad = |reason: String| TlsError::BadCrl { file: file.into(), reason };
        let crl = parse_x509_crl(der).map_err(bad)?;
        let mut revoked = Vec::new();
        for entry in crl.iter_revoked_certificates() {
            let reason = match entry.reason_code() {
                None => None,
                Some((_, code)) => Some(RevocationReason::from_code(code.0).ok_or_else(|| {
                    bad(format!(
                        "the entry for serial {} has the unknown reason code {}",
                        serial_hex(entry.raw_serial()),
                        code.0
                    ))
                })?),
            };
            revoked.push(RevokedCert {
                serial: serial_hex(entry.raw_serial()),
                revoked_at: crate::utc::from_unix_seconds(entry.revocation_date.timestamp()),
                reason,
            });
        }
        let number = crl.crl_number();
        Ok(CrlInfo {
            issuer: crl.issuer().to_string(),
            number: number.map(|n| n.to_string()),
            this_update: crate::utc::from_unix_seconds(crl.last_update().timestamp()),
            next_update: crl.next_update().map(|t| crate::utc::from_unix_seconds(t.timestamp())),
            revoked,
            issuer_der: crl.issuer().as_raw().to_vec(),
            number_bytes: number.map(|n| n.to_bytes_be()),
        })
    }

    /// The entry for the certificate with this serial (hex, any case, leading zeros allowed).
    pub fn find(&self, serial: &str) -> Option<&RevokedCert> {
        let wanted = normalize_serial(serial);
        self.revoked.iter().find(|r| r.serial == wanted)
    }

    /// Whether `now` is past nextUpdate (a CRL without one never is).
    pub fn is_stale_at(&self, now: SystemTime) -> bool {
        self.next_update.is_some_and(|next| next < now)
    }
}

/// Parses a whole DER CRL, refusing trailing bytes.
pub(crate) fn parse_x509_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>, String> {
    match CertificateRevocationList::from_der(der) {
        Ok(([], crl)) => Ok(crl),
        Ok((rest, _)) => Err(format!("{} bytes after the CRL", rest.len())),
        Err(e) => Err(format!("not a valid X.509 CRL: {e}")),
    }
}

/// Reads the CRLs in a file: PEM (`X509 CRL` blocks, any number) or one DER CRL.
///
/// Fails when the file is missing, unreadable, larger than
/// [`MAX_CRL_FILE_BYTES`], or holds no CRL.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let file = path.display().to_string();
    let bad = |reason: String| TlsError::BadCrl { file: path.to_path_buf(), reason };
    let handle = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad("no such file".into()),
        _ => bad(format!("cannot read it: {e}")),
    })?;
    let mut bytes = Vec::new();
    handle.take(MAX_CRL_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_CRL_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_CRL_FILE_BYTES} bytes; not a CRL file")));
    }
    parse_crls(&bytes, &file)
}

/// The CRLs in PEM text or one DER CRL; `file` names the source in errors.
pub fn parse_crls(bytes: &[u8], file: &str) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::BadCrl { file: file.into(), reason };
    // A DER CRL starts with a SEQUENCE tag; PEM text never does.
    if bytes.first() == Some(&0x30) {
        parse_x509_crl(bytes).map_err(bad)?;
        return Ok(vec![CertificateRevocationListDer::from(bytes.to_vec())]);
    }
    let mut crls = Vec::new();
    let mut others = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        match item {
            Ok((SectionKind::Crl, der)) => {
                parse_x509_crl(&der).map_err(|e| bad(format!("CRL {}: {e}", crls.len() + 1)))?;
                crls.push(CertificateRevocationListDer::from(der));
            }
            Ok((kind, _)) => others.push(format!("{kind:?}")),
            Err(e) => return Err(bad(format!("malformed PEM: {e}"))),
        }
    }
    if crls.is_empty() {
        return Err(bad(if others.is_empty() {
            "no X509 CRL block found (expected a PEM or DER CRL)".into()
        } else {
            format!("expected an X509 CRL block, found {}", others.join(", "))
        }));
    }
    Ok(crls)
}

/// A serial as [`RevokedCert::serial`] spells it: upper-case hex, no leading zero bytes.
pub(crate) fn normalize_serial(serial: &str) -> String {
    let digits = serial.trim().trim_start_matches("0x").replace(':', "").to_uppercase();
    let trimmed = digits.trim_start_matches('0');
    let padded = if trimmed.len() % 2 == 1 { format!("0{trimmed}") } else { trimmed.to_string() };
    if padded.is_empty() { "00".to_string() } else { padded }
}

/// Upper-case hex of a DER INTEGER's content bytes, leading zero bytes removed.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    let digits: String = raw.get(start..).unwrap_or_default().iter().map(|b| format!("{b:02X}")).collect();
    if digits.is_empty() { "00".to_string() } else { digits }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_in_both_spellings_and_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(reason.to_string().parse::<RevocationReason>(), Ok(reason));
            assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!("key-compromise".parse(), Ok(RevocationReason::KeyCompromise));
        assert_eq!("CESSATION_OF_OPERATION".parse(), Ok(RevocationReason::CessationOfOperation));
        assert_eq!("ca-compromise".parse(), Ok(RevocationReason::CaCompromise));
        assert_eq!(RevocationReason::from_code(7), None);
        let err = "stolen".parse::<RevocationReason>().unwrap_err();
        assert!(err.to_string().contains("\"stolen\"") && err.to_string().contains("key-compromise"), "{err}");
    }

    #[test]
    fn serials_normalize_like_certificate_serials() {
        assert_eq!(normalize_serial("00:9a:01"), "9A01");
        assert_eq!(normalize_serial("0x1"), "01");
        assert_eq!(normalize_serial("abc"), "0ABC");
        assert_eq!(normalize_serial("0"), "00");
        assert_eq!(serial_hex(&[0x00, 0x9A, 0x01]), "9A01");
    }

    #[test]
    fn junk_is_refused_with_the_file_name() {
        let err = parse_crls(b"hello\n", "x.crl").unwrap_err().to_string();
        assert!(err.starts_with("x.crl: cannot use it as a CRL: no X509 CRL block found"), "{err}");
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = parse_crls(cert.as_bytes(), "c.pem").unwrap_err().to_string();
        assert!(err.contains("expected an X509 CRL block, found Certificate"), "{err}");
        let err = parse_crls(&[0x30, 0x03, 0x02, 0x01, 0x00], "d.crl").unwrap_err().to_string();
        assert!(err.contains("not a valid X.509 CRL"), "{err}");
        let cut = "-----BEGIN X509 CRL-----\nMIIB\n";
        assert!(parse_crls(cut.as_bytes(), "cut.pem").unwrap_err().to_string().contains("malformed PEM"));
        let dir = tempfile::tempdir().unwrap();
        let err = load_crls(&dir.path().join("none.pem")).unwrap_err().to_string();
        assert!(err.ends_with("none.pem: cannot use it as a CRL: no such file"), "{err}");
    }
}
