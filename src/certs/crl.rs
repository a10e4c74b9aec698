//! Revocation: the cluster CA's certificate revocation list, `DIR/crl.pem`.
//!
//! The CRL itself is the record of what was revoked: each run reads the
//! existing `crl.pem` back (after checking that the folder's CA signed it),
//! keeps every entry with its original date and reason, adds the new one,
//! and signs a fresh CRL with the next cRLNumber, thisUpdate now and
//! nextUpdate `days` ahead. No second file can drift out of step with it,
//! and what nodes enforce is exactly what `certs inspect crl.pem` shows.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::ca::{LoadedCa, load_ca};
use super::files::{PUBLIC_MODE, Staged, ensure_dir};
use super::name_hash::openssl_name_hash;
use super::{CertsError, MAX_DAYS, node_files};
use crate::pki::{self, parse_node_name};
use crate::transport::tls::{CrlInfo, RevocationReason, RevokedCert, TlsError, load_crls};

/// The CRL's file name inside a certificate folder.
pub const CRL_FILE: &str = "crl.pem";
/// Default time until a CRL's nextUpdate, in days.
pub const DEFAULT_CRL_DAYS: i64 = 30;
/// The CRL hash directory inside a certificate folder: `crl.d/HASH.r0`, a
/// link to `../crl.pem`, the layout OTP's `ssl_crl_hash_dir` (and OpenSSL's
/// `-CRLpath`) looks CRLs up in.
pub const CRL_HASH_DIR: &str = "crl.d";

/// The CRL path of a certificate folder: `DIR/crl.pem`.
pub fn crl_path(dir: &Path) -> PathBuf {
    dir.join(CRL_FILE)
}

/// Which certificate [`revoke`] revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeTarget {
    /// A node's current certificate in the folder, `DIR/NODE@HOST.pem`.
    Node(String),
    /// The certificate in a file, e.g. an old one `renew` kept as a backup.
    CertFile(PathBuf),
    /// A serial number in hex (colons and a `0x` prefix allowed), for a
    /// certificate whose file is gone.
    Serial(String),
}

/// Options for [`revoke`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RevokeOptions {
    /// The folder holding the CA; its `crl.pem` is created or updated.
    pub dir: PathBuf,
    /// The certificate to revoke.
    pub target: RevokeTarget,
    /// The reason recorded in the CRL entry (none: `unspecified`, left out).
    pub reason: Option<RevocationReason>,
    /// Days until the new CRL's nextUpdate, 1 to [`MAX_DAYS`].
    pub days: i64,
}

impl RevokeOptions {
    /// Revoke `node`'s current certificate in `dir`, no reason, [`DEFAULT_CRL_DAYS`].
    pub fn new(dir: impl Into<PathBuf>, node: impl Into<String>) -> Self {
        RevokeOptions::with_target(dir, RevokeTarget::Node(node.into()))
    }

    /// Revoke the certificate in the file `cert`.
    pub fn cert_file(dir: impl Into<PathBuf>, cert: impl Into<PathBuf>) -> Self {
        RevokeOptions::with_target(dir, RevokeTarget::CertFile(cert.into()))
    }

    /// Revoke the certificate with this serial number (hex).
    pub fn serial(dir: impl Into<PathBuf>, serial: impl Into<String>) -> Self {
        RevokeOptions::with_target(dir, RevokeTarget::Serial(serial.into()))
    }

    fn with_target(dir: impl Into<PathBuf>, target: RevokeTarget) -> Self {
        RevokeOptions { dir: dir.into(), target, reason: None, days: DEFAULT_CRL_DAYS }
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: RevocationReason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Sets the days until nextUpdate.
    pub fn days(mut self, days: i64) -> Self {
        self.days = days;
        self
    }
}

/// Options for [`update_crl`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrlOptions {
    /// The folder holding the CA and (perhaps) its `crl.pem`.
    pub dir: PathBuf,
    /// Days until the new CRL's nextUpdate, 1 to [`MAX_DAYS`].
    pub days: i64,
}

impl CrlOptions {
    /// Re-sign `dir`'s CRL with [`DEFAULT_CRL_DAYS`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CrlOptions { dir: dir.into(), days: DEFAULT_CRL_DAYS }
    }

    /// Sets the days until nextUpdate.
    pub fn days(mut self, days: i64) -> Self {
        self.days = days;
        self
    }
}

/// What [`revoke`] or [`update_crl`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrlFile {
    /// The CRL (`DIR/crl.pem`, mode 0644).
    pub path: PathBuf,
    /// What the new CRL says.
    pub info: CrlInfo,
    /// The entry of the certificate [`revoke`] was asked to revoke (`None` for [`update_crl`]).
    pub entry: Option<RevokedCert>,
    /// Whether that certificate was already listed (its entry is kept as it was).
    pub already_revoked: bool,
    /// The hash-directory link to the CRL (`DIR/crl.d/HASH.r0`), for OTP's
    /// `ssl_crl_hash_dir`; `None` if the CA's name cannot be hashed.
    pub hash_link: Option<PathBuf>,
}

/// Adds a certificate to the CA's CRL in `opts.dir` (creating `crl.pem` on
/// first use) and signs a new CRL with the next number, written atomically.
/// A node's certificate or a certificate file must have been issued by the
/// folder's CA. Revoking an already revoked certificate keeps its entry as
/// it was and still refreshes the CRL.
///
/// ```no_run
/// use beamlink::certs::{RevokeOptions, revoke};
/// use beamlink::transport::tls::RevocationReason;
/// let crl = revoke(&RevokeOptions::new("pki", "mallory@host1").reason(RevocationReason::KeyCompromise))?;
/// println!("{} now lists {} certificates", crl.path.display(), crl.info.revoked.len());
/// # Ok::<(), beamlink::certs::CertsError>(())
/// ```
pub fn revoke(opts: &RevokeOptions) -> Result<CrlFile, CertsError> {
    check_days(opts.days)?;
    if opts.reason == Some(RevocationReason::RemoveFromCrl) {
        return Err(CertsError::UnsupportedReason { reason: RevocationReason::RemoveFromCrl });
    }
    let ca = load_ca(&opts.dir)?;
    let serial = match &opts.target {
        RevokeTarget::Node(node) => {
            parse_node_name(node).map_err(|reason| CertsError::InvalidNodeName { node: node.clone(), reason })?;
            let (cert, _) = node_files(&opts.dir, node);
            if cert.symlink_metadata().is_err() {
                return Err(CertsError::NoNodeCert { node: node.clone(), dir: opts.dir.clone(), missing: cert });
            }
            issued_serial(&ca, &cert)?
        }
        RevokeTarget::CertFile(cert) => issued_serial(&ca, cert)?,
        RevokeTarget::Serial(hex) => serial_bytes(hex)?,
    };
    let path = crl_path(&opts.dir);
    let mut entries = existing_entries(&ca, &path)?;
    let serial_text = hex_upper(&serial);
    let already_revoked = entries.iter().any(|e| e.serial == serial_text);
    let now = SystemTime::now();
    if !already_revoked {
        entries.push(Entry { serial: serial_text.clone(), revoked_at: now, reason: opts.reason });
    }
    let info = sign_and_write(&ca, &path, &entries.list, entries.number.as_deref(), now, opts.days)?;
    let hash_link = link_hash_dir(&opts.dir, &ca)?;
    let entry = info.find(&serial_text).cloned();
    tracing::info!(serial = %serial_text, crl = %path.display(), number = ?info.number, already_revoked, "revoked certificate");
    Ok(CrlFile { path, info, entry, already_revoked, hash_link })
}

/// Signs a fresh CRL for the CA in `opts.dir` with the same entries (none if
/// there is no `crl.pem` yet), the next number and a new nextUpdate; for a
/// periodic refresh before nextUpdate passes.
pub fn update_crl(opts: &CrlOptions) -> Result<CrlFile, CertsError> {
    check_days(opts.days)?;
    let ca = load_ca(&opts.dir)?;
    let path = crl_path(&opts.dir);
    let entries = existing_entries(&ca, &path)?;
    let info = sign_and_write(&ca, &path, &entries.list, entries.number.as_deref(), SystemTime::now(), opts.days)?;
    let hash_link = link_hash_dir(&opts.dir, &ca)?;
    tracing::info!(crl = %path.display(), number = ?info.number, revoked = info.revoked.len(), "refreshed CRL");
    Ok(CrlFile { path, info, entry: None, already_revoked: false, hash_link })
}

fn check_days(days: i64) -> Result<(), CertsError> {
    if (1..=MAX_DAYS).contains(&days) { Ok(()) } else { Err(CertsError::InvalidDays { days, max: MAX_DAYS }) }
}

/// One revoked certificate, as carried from the old CRL to the new.
#[derive(Debug, Clone)]
struct Entry {
    serial: String,
    revoked_at: SystemTime,
    reason: Option<RevocationReason>,
}

/// The entries and number of the CRL in force.
#[derive(Debug, Default)]
struct Entries {
    list: Vec<Entry>,
    number: Option<Vec<u8>>,
}

impl Entries {
    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.list.iter()
    }

    fn push(&mut self, entry: Entry) {
        self.list.push(entry);
    }
}

/// The serial of the certificate in `cert`, which must be one the CA issued.
fn issued_serial(ca: &LoadedCa, cert: &Path) -> Result<Vec<u8>, CertsError> {
    let ders = pki::load_certs(cert)?;
    let Some(der) = ders.first() else {
        return Err(CertsError::NotIssuedByCa { cert: cert.to_path_buf(), ca: ca.cert_path.clone() });
    };
    let file = cert.display().to_string();
    let bad = |reason: String| pki::PkiError::BadCertificate { file: file.clone(), reason };
    let (_, parsed) = X509Certificate::from_der(der.as_ref()).map_err(|e| bad(e.to_string()))?;
    let (_, ca_cert) = X509Certificate::from_der(ca.der.as_ref()).map_err(|e| bad(e.to_string()))?;
    let same_name = parsed.issuer().as_raw() == ca_cert.subject().as_raw();
    if !same_name || parsed.verify_signature(Some(ca_cert.public_key())).is_err() {
        return Err(CertsError::NotIssuedByCa { cert: cert.to_path_buf(), ca: ca.cert_path.clone() });
    }
    Ok(parsed.raw_serial().to_vec())
}

/// A serial given in hex: at most 20 octets (RFC 5280), not zero.
fn serial_bytes(text: &str) -> Result<Vec<u8>, CertsError> {
    let invalid = |reason: &str| CertsError::InvalidSerial { serial: text.to_string(), reason: reason.to_string() };
    let digits: String = text.trim().trim_start_matches("0x").chars().filter(|c| *c != ':').collect();
    if digits.is_empty() {
        return Err(invalid("it is empty"));
    }
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid("expected hexadecimal digits, as `beamlink certs inspect` prints serials"));
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Err(invalid("a serial number of zero is not a certificate's"));
    }
    if digits.len() > 40 {
        return Err(invalid("longer than 20 octets, which no conforming certificate has"));
    }
    let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_string() };
    let pairs = padded.as_bytes().chunks(2);
    pairs
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| invalid("expected hexadecimal digits"))
}

/// Upper-case hex without leading zero bytes (how serials are compared and shown).
fn hex_upper(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    let text: String = bytes.get(start..).unwrap_or_default().iter().map(|b| format!("{b:02X}")).collect();
    if text.is_empty() { "00".to_string() } else { text }
}

/// The entries of the CRL at `path` (none if there is no file), after
/// checking that the folder's CA signed it.
fn existing_entries(ca: &LoadedCa, path: &Path) -> Result<Entries, CertsError> {
    if path.symlink_metadata().is_err() {
        return Ok(Entries::default());
    }
    let ders = load_crls(path).map_err(crl_error)?;
    let [der] = ders.as_slice() else {
        return Err(CertsError::BadCrl {
            path: path.to_path_buf(),
            reason: format!("it holds {} CRLs; a certificate folder's crl.pem holds one", ders.len()),
        });
    };
    let info = CrlInfo::from_der(der.as_ref(), &path.display().to_string()).map_err(crl_error)?;
    let foreign = || CertsError::ForeignCrl { crl: path.to_path_buf(), ca: ca.cert_path.clone() };
    let (_, ca_cert) = X509Certificate::from_der(ca.der.as_ref()).map_err(|_| foreign())?;
    let (_, crl) = CertificateRevocationList::from_der(der.as_ref()).map_err(|_| foreign())?;
    if info.issuer_der != ca_cert.subject().as_raw() || crl.verify_signature(ca_cert.public_key()).is_err() {
        return Err(foreign());
    }
    let list = info
        .revoked
        .iter()
        .map(|r| Entry { serial: r.serial.clone(), revoked_at: r.revoked_at, reason: r.reason })
        .collect();
    Ok(Entries { list, number: info.number_bytes })
}

fn crl_error(e: TlsError) -> CertsError {
    match e {
        TlsError::BadCrl { file, reason } => CertsError::BadCrl { path: file, reason },
        other => CertsError::BadCrl { path: PathBuf::new(), reason: other.to_string() },
    }
}

/// Signs a CRL with `entries` and the number after `previous`, and writes it to `path`.
fn sign_and_write(
    ca: &LoadedCa,
    path: &Path,
    entries: &[Entry],
    previous: Option<&[u8]>,
    now: SystemTime,
    days: i64,
) -> Result<CrlInfo, CertsError> {
    let next_update = now
        .checked_add(Duration::from_secs(days.unsigned_abs() * 86_400))
        .ok_or(CertsError::InvalidDays { days, max: MAX_DAYS })?;
    let number = next_number(previous).ok_or_else(|| CertsError::BadCrl {
        path: path.to_path_buf(),
        reason: "its cRLNumber already has 20 octets, the most RFC 5280 allows".into(),
    })?;
    let mut revoked_certs = Vec::with_capacity(entries.len());
    for entry in entries {
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial_bytes(&entry.serial)?),
            revocation_time: OffsetDateTime::from(entry.revoked_at),
            reason_code: entry.reason.map(rcgen_reason),
            invalidity_date: None,
        });
    }
    let params = CertificateRevocationListParams {
        this_update: OffsetDateTime::from(now),
        next_update: OffsetDateTime::from(next_update),
        crl_number: SerialNumber::from_slice(&number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: key_id_method(ca),
    };
    let crl = params.signed_by(&ca.issuer).map_err(CertsError::crypto("signing the CRL"))?;
    let info = CrlInfo::from_der(crl.der().as_ref(), &path.display().to_string()).map_err(crl_error)?;
    // webpki and OTP match a CRL to certificates by the issuer name's exact bytes.
    let (_, ca_cert) = X509Certificate::from_der(ca.der.as_ref())
        .map_err(|e| CertsError::Crypto { what: "reading the CA certificate", reason: e.to_string() })?;
    if info.issuer_der != ca_cert.subject().as_raw() {
        return Err(CertsError::Crypto {
            what: "signing the CRL",
            reason: "the CA's name could not be reproduced byte for byte in the CRL".into(),
        });
    }
    let pem = crl.pem().map_err(CertsError::crypto("encoding the CRL"))?;
    let mut staged = Staged::new();
    staged.add(path, pem.as_bytes(), PUBLIC_MODE)?;
    staged.commit()?;
    Ok(info)
}

/// Where the hash-directory link to the CRL of the CA in `dir` lives
/// (`DIR/crl.d/HASH.r0`); `None` if the CA's name cannot be hashed.
pub(crate) fn hash_link_path(dir: &Path, ca_der: &[u8]) -> Option<PathBuf> {
    let (_, ca) = X509Certificate::from_der(ca_der).ok()?;
    let hash = openssl_name_hash(ca.subject())?;
    Some(dir.join(CRL_HASH_DIR).join(format!("{hash}.r0")))
}

/// Makes `DIR/crl.d/HASH.r0` a relative link to `../crl.pem` (replaced
/// atomically if it is anything else), so hash-directory readers see every
/// new CRL at once and the folder can be copied elsewhere whole.
fn link_hash_dir(dir: &Path, ca: &LoadedCa) -> Result<Option<PathBuf>, CertsError> {
    let Some(link) = hash_link_path(dir, ca.der.as_ref()) else {
        tracing::warn!(ca = %ca.cert_path.display(), "the CA's name holds values that cannot be hashed; no crl.d link made");
        return Ok(None);
    };
    let target = Path::new("..").join(CRL_FILE);
    if fs::read_link(&link).is_ok_and(|t| t == target) {
        return Ok(Some(link));
    }
    let hash_dir = dir.join(CRL_HASH_DIR);
    ensure_dir(&hash_dir)?;
    let temp = hash_dir.join(format!(".link.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
    std::os::unix::fs::symlink(&target, &temp).map_err(CertsError::io("create a link in", &hash_dir))?;
    if let Err(error) = fs::rename(&temp, &link) {
        let _ = fs::remove_file(&temp);
        return Err(CertsError::Io { action: "move a new link into place at", path: link, error });
    }
    Ok(Some(link))
}

/// `previous + 1` as big-endian bytes (1 when there is none); `None` past 20 octets.
fn next_number(previous: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut bytes = previous.unwrap_or(&[]).to_vec();
    let mut carry = true;
    for byte in bytes.iter_mut().rev() {
        let (sum, overflow) = byte.overflowing_add(1);
        *byte = sum;
        if !overflow {
            carry = false;
            break;
        }
    }
    if carry {
        bytes.insert(0, 1);
    }
    // A leading byte with the top bit set takes a sign octet in DER.
    let octets = bytes.len() + usize::from(bytes.first().is_some_and(|b| b & 0x80 != 0));
    (octets <= 20).then_some(bytes)
}

/// The CRL's authority key identifier: the CA certificate's own subject key
/// identifier when it has one, so the two match exactly.
fn key_id_method(ca: &LoadedCa) -> KeyIdMethod {
    let ski = X509Certificate::from_der(ca.der.as_ref()).ok().and_then(|(_, cert)| {
        cert.extensions().iter().find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
    });
    match ski {
        Some(id) => KeyIdMethod::PreSpecified(id),
        None => KeyIdMethod::Sha256,
    }
}

fn rcgen_reason(reason: RevocationReason) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match reason {
        RevocationReason::Unspecified => R::Unspecified,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::CaCompromise => R::CaCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
        RevocationReason::CertificateHold => R::CertificateHold,
        RevocationReason::RemoveFromCrl => R::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => R::AaCompromise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_numbers_count_up_in_big_endian() {
        assert_eq!(next_number(None), Some(vec![1]));
        assert_eq!(next_number(Some(&[1])), Some(vec![2]));
        assert_eq!(next_number(Some(&[0x00, 0xFF])), Some(vec![0x01, 0x00]));
        assert_eq!(next_number(Some(&[0xFF])), Some(vec![0x01, 0x00]));
        assert_eq!(next_number(Some(&[0x7F; 20])).map(|b| b.len()), Some(20));
        assert_eq!(next_number(Some(&[0xFF; 20])), None);
        assert_eq!(next_number(Some(&[0x7F, 0xFF])), Some(vec![0x80, 0x00]));
    }

    #[test]
    fn serials_are_hex_of_at_most_20_octets() {
        assert_eq!(serial_bytes("0x01:9a").unwrap(), [0x01, 0x9A]);
        assert_eq!(serial_bytes("abc").unwrap(), [0x0A, 0xBC]);
        assert_eq!(serial_bytes("00ff").unwrap(), [0xFF]);
        assert_eq!(hex_upper(&[0x00, 0x0A, 0xBC]), "0ABC");
        for (bad, why) in [("", "empty"), ("xyz", "hexadecimal"), ("0", "zero"), (&"1".repeat(41) as &str, "20 octets")]
        {
            let err = serial_bytes(bad).unwrap_err();
            assert!(matches!(err, CertsError::InvalidSerial { .. }), "{bad:?}: {err:?}");
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
    }
}
