//! PEM files in, `rustls::pki_types` values out.
//!
//! Certificates (a chain: leaf first) and private keys in the three usual
//! encodings: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and PKCS#1
//! (`RSA PRIVATE KEY`), each of them possibly encrypted (see
//! [`KeyPassword`]). Errors name the file and what was wrong with it.

use std::io::Read;
use std::path::Path;

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::PkiError;
use super::encrypted::{self, KeyPassword};

/// Certificate and key files larger than this are refused unread (1 MiB).
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

const CERTIFICATE: &str = "a CERTIFICATE block";
pub(crate) const PRIVATE_KEY: &str = "a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block";

/// Reads the certificates in a PEM file, in file order (leaf first for a chain).
///
/// Fails when the file is missing, unreadable, larger than
/// [`MAX_PEM_FILE_BYTES`], malformed, or holds no `CERTIFICATE` block.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let bytes = read_limited(path)?;
    parse_certs_pem(&bytes, &path.display().to_string())
}

/// Reads the first private key in a PEM file (PKCS#8, SEC1 or PKCS#1).
///
/// Fails as [`load_certs`] does, when the file holds no private-key block,
/// or when the key is encrypted ([`PkiError::EncryptedKey`]; see
/// [`load_private_key_with_password`]).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    load_private_key_with_password(path, None)
}

/// Reads the first private key in a PEM file, decrypting it with `password`
/// when it is encrypted (PKCS#8 PBES2, or OpenSSL's traditional
/// `Proc-Type: 4,ENCRYPTED`). A password given for a key that is not
/// encrypted is not needed, and not an error.
pub fn load_private_key_with_password(
    path: &Path,
    password: Option<&KeyPassword>,
) -> Result<PrivateKeyDer<'static>, PkiError> {
    let bytes = zeroize::Zeroizing::new(read_limited(path)?);
    let file = path.display().to_string();
    if encrypted::holds_encrypted_key(&bytes) {
        return encrypted::first_key(&bytes, &file, password);
    }
    parse_private_key_pem(&bytes, &file)
}

/// The certificates in PEM text; `file` names the source in errors.
pub fn parse_certs_pem(pem: &[u8], file: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let sections = sections(pem, file, CERTIFICATE)?;
    let certs: Vec<CertificateDer<'static>> = sections
        .iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    if certs.is_empty() {
        return Err(wrong_type(pem, &sections, file, CERTIFICATE));
    }
    Ok(certs)
}

/// The first private key in PEM text; `file` names the source in errors.
pub fn parse_private_key_pem(pem: &[u8], file: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    let sections = sections(pem, file, PRIVATE_KEY)?;
    for (kind, der) in &sections {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone())),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.clone())),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.clone())),
            _ => continue,
        };
        return Ok(key);
    }
    Err(wrong_type(pem, &sections, file, PRIVATE_KEY))
}

/// Every PEM section of a kind the reader knows, in order.
fn sections(pem: &[u8], file: &str, expected: &'static str) -> Result<Vec<(SectionKind, Vec<u8>)>, PkiError> {
    let mut out = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        match item {
            Ok(section) => out.push(section),
            Err(e) => return Err(PkiError::BadPem { file: file.to_string(), reason: e.to_string() }),
        }
    }
    if out.is_empty() && begin_labels(pem).is_empty() {
        return Err(PkiError::NoPemBlock { file: file.to_string(), expected });
    }
    Ok(out)
}

/// The error for data that has PEM blocks, none of them the expected one.
fn wrong_type(pem: &[u8], sections: &[(SectionKind, Vec<u8>)], file: &str, expected: &'static str) -> PkiError {
    let mut found = begin_labels(pem);
    if found.is_empty() {
        found = sections.iter().map(|(kind, _)| format!("{kind:?}")).collect();
    }
    PkiError::WrongBlockType { file: file.to_string(), expected, found }
}

/// The labels of the `-----BEGIN LABEL-----` lines, deduplicated, in order
/// (at most 16, each cut to 64 characters: this only feeds an error message).
fn begin_labels(pem: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pem);
    let mut labels: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("-----BEGIN ") else { continue };
        let Some(label) = rest.strip_suffix("-----") else { continue };
        let label: String = label.chars().take(64).collect();
        if !labels.contains(&label) {
            labels.push(label);
        }
        if labels.len() >= 16 {
            break;
        }
    }
    labels
}

/// Reads a whole file of at most [`MAX_PEM_FILE_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, PkiError> {
    let file_name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => PkiError::Missing { file: file_name.clone() },
        _ => PkiError::Unreadable { file: file_name.clone(), error },
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| PkiError::Unreadable { file: file_name.clone(), error })?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(PkiError::TooLarge { file: file_name, limit: MAX_PEM_FILE_BYTES });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key in PKCS#8 form (test material only; the SEC1 and
    // PKCS#1 cases below only relabel it, which the PEM layer does not check).
    const PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6lyDDtB0R9gsFqyx
4MzhBQkT0rC4nygKwgFQAyhSyeChRANCAAQ83Vyh14ZAFqXP6lse20fPdrZhKLf+
x0ECfFQdCsL34AXx2q7L0fUq81R5CkA/KRolpgj9bcKkZcsn/aVr2cNn
-----END PRIVATE KEY-----
";

    #[test]
    fn reads_each_private_key_encoding() {
        let key = parse_private_key_pem(PKCS8.as_bytes(), "k.pem").unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        let sec1 = PKCS8.replace("PRIVATE KEY", "EC PRIVATE KEY");
        assert!(matches!(parse_private_key_pem(sec1.as_bytes(), "k").unwrap(), PrivateKeyDer::Sec1(_)));
        let pkcs1 = PKCS8.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        assert!(matches!(parse_private_key_pem(pkcs1.as_bytes(), "k").unwrap(), PrivateKeyDer::Pkcs1(_)));
    }

    #[test]
    fn names_the_file_and_the_problem() {
        let err = parse_certs_pem(b"hello, world\n", "junk.pem").unwrap_err();
        assert!(matches!(err, PkiError::NoPemBlock { .. }), "{err:?}");
        assert_eq!(err.to_string(), "junk.pem: no PEM block found (expected a CERTIFICATE block)");

        let err = parse_certs_pem(PKCS8.as_bytes(), "key.pem").unwrap_err();
        assert_eq!(err.to_string(), "key.pem: expected a CERTIFICATE block, found PRIVATE KEY");

        let unknown = "-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----\n";
        let err = parse_private_key_pem(unknown.as_bytes(), "foo.pem").unwrap_err();
        assert!(err.to_string().contains("found FOO BAR"), "{err}");

        let truncated = "-----BEGIN CERTIFICATE-----\nMIIB\n";
        let err = parse_certs_pem(truncated.as_bytes(), "cut.pem").unwrap_err();
        assert!(matches!(err, PkiError::BadPem { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cut.pem: malformed PEM"), "{err}");

        let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse_certs_pem(bad_base64.as_bytes(), "b").unwrap_err(), PkiError::BadPem { .. }));
    }

    #[test]
    fn file_errors_say_missing_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = load_certs(&missing).unwrap_err();
        assert!(matches!(err, PkiError::Missing { .. }));
        assert!(err.to_string().ends_with("nope.pem: no such file"), "{err}");

        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; MAX_PEM_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(load_private_key(&big).unwrap_err(), PkiError::TooLarge { .. }));

        let key = dir.path().join("key.pem");
        std::fs::write(&key, PKCS8).unwrap();
        assert!(matches!(load_private_key(&key).unwrap(), PrivateKeyDer::Pkcs8(_)));
        assert!(matches!(load_private_key(dir.path()).unwrap_err(), PkiError::Unreadable { .. }));
    }
}
