//! Encrypted private keys, in the two forms OTP's
//! `public_key:pem_entry_decode/2` reads and `{password, ...}` in an
//! `-ssl_dist_optfile` unlocks:
//!
//! - PKCS#8 `ENCRYPTED PRIVATE KEY` blocks, PBES2 with PBKDF2 (HMAC-SHA1 or
//!   SHA-2) or scrypt, and AES-CBC or (DES-EDE3-)CBC — what `openssl pkey
//!   -aes256` and `openssl genpkey -aes256` write;
//! - OpenSSL's traditional encryption of `RSA PRIVATE KEY` and
//!   `EC PRIVATE KEY` blocks (`Proc-Type: 4,ENCRYPTED` with a `DEK-Info`
//!   header naming AES-128/192/256-CBC, DES-EDE3-CBC or DES-CBC) — what
//!   `openssl rsa -aes256 -traditional` and `openssl ec -aes128` write.
//!
//! The ciphers and key derivations are the RustCrypto crates'; only the key
//! derivation of the traditional form (OpenSSL's `EVP_BytesToKey` with MD5
//! and one round, which that format fixes) is written here. PKCS#5 v1.5
//! (PBES1) keys are refused with a way to re-encrypt them.

use std::fmt;
use std::path::Path;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use pkcs8::der::Decode;
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::pkcs5::pbes2::Kdf;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

use super::PkiError;

/// The most memory an scrypt key derivation may ask for (128·N·r bytes).
/// OpenSSL writes N = 2^14, r = 8 (16 MiB) and refuses more than 32 MiB
/// unless told otherwise.
const MAX_SCRYPT_BYTES: u64 = 64 << 20;

/// The most scrypt parallelism (p) and PBKDF2 rounds accepted: far above
/// what any tool writes, low enough that reading a key stays a matter of
/// seconds.
const MAX_SCRYPT_PARALLELISM: u16 = 16;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

/// What a re-encryption that beamlink reads looks like, for error messages.
const REENCRYPT: &str = "openssl pkey -in KEY -aes256 -out NEW.key";

/// The password of an encrypted private key.
///
/// Its `Debug` output shows nothing of it, and its bytes are wiped from
/// memory when the last copy is dropped.
#[derive(Clone)]
pub struct KeyPassword(Zeroizing<Vec<u8>>);

impl KeyPassword {
    /// A password given as bytes (a string's UTF-8, as OTP passes a charlist).
    pub fn new(password: impl Into<Vec<u8>>) -> KeyPassword {
        KeyPassword(Zeroizing::new(password.into()))
    }

    /// The first line of `path`, without its line ending: what OpenSSL's
    /// `-passin file:PATH` reads. Fails when the file cannot be read, is
    /// larger than 4 KiB, or its first line is empty.
    pub fn from_file(path: &Path) -> Result<KeyPassword, PkiError> {
        const MAX_PASSWORD_FILE: usize = 4096;
        let file = path.display().to_string();
        let bytes = Zeroizing::new(super::pem::read_limited(path)?);
        if bytes.len() > MAX_PASSWORD_FILE {
            return Err(PkiError::TooLarge { file, limit: MAX_PASSWORD_FILE as u64 });
        }
        let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(PkiError::EmptyPassword { file });
        }
        Ok(KeyPassword::new(line.to_vec()))
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for KeyPassword {
    fn eq(&self, other: &KeyPassword) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.as_bytes(), other.as_bytes()).into()
    }
}

impl Eq for KeyPassword {}

impl fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPassword(..)")
    }
}

/// Whether PEM text holds an encrypted private key in either form.
pub(crate) fn holds_encrypted_key(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// The first private key in PEM text that holds an encrypted one,
/// decrypted with `password`; `file` names the source in errors.
pub(crate) fn first_key(
    pem: &[u8],
    file: &str,
    password: Option<&KeyPassword>,
) -> Result<PrivateKeyDer<'static>, PkiError> {
    let blocks =
        pem::parse_many(pem).map_err(|e| PkiError::BadPem { file: file.to_string(), reason: e.to_string() })?;
    let needed = || password.ok_or_else(|| PkiError::EncryptedKey { file: file.to_string() });
    for block in &blocks {
        let encrypted = block.headers().get("Proc-Type").map(str::trim) == Some("4,ENCRYPTED");
        let key = match block.tag() {
            "ENCRYPTED PRIVATE KEY" => pkcs8_key(block.contents(), file, needed()?)?,
            "PRIVATE KEY" if !encrypted => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.contents().to_vec())),
            tag @ ("RSA PRIVATE KEY" | "EC PRIVATE KEY") => {
                let der = if encrypted {
                    traditional_key(block, file, needed()?)?
                } else {
                    Zeroizing::new(block.contents().to_vec())
                };
                if tag == "RSA PRIVATE KEY" {
                    PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der.to_vec()))
                } else {
                    PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.to_vec()))
                }
            }
            _ => continue,
        };
        return Ok(key);
    }
    let found = blocks.iter().map(|b| b.tag().to_string()).collect();
    Err(PkiError::WrongBlockType { file: file.to_string(), expected: super::pem::PRIVATE_KEY, found })
}

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo`.
fn pkcs8_key(der: &[u8], file: &str, password: &KeyPassword) -> Result<PrivateKeyDer<'static>, PkiError> {
    let unsupported =
        |scheme: String| PkiError::UnsupportedKeyEncryption { file: file.to_string(), scheme, hint: REENCRYPT };
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(der)
        .map_err(|e| PkiError::BadKey { file: file.to_string(), reason: format!("not a PKCS#8 encrypted key: {e}") })?;
    match &info.encryption_algorithm {
        EncryptionScheme::Pbes1(algorithm) => {
            return Err(unsupported(format!("PKCS#5 v1.5 (PBES1, {:?})", algorithm.encryption)));
        }
        EncryptionScheme::Pbes2(parameters) => match &parameters.kdf {
            Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ROUNDS => {
                return Err(unsupported(format!(
                    "PBKDF2 with {} rounds (at most {MAX_PBKDF2_ROUNDS} are accepted)",
                    p.iteration_count
                )));
            }
            Kdf::Scrypt(p) => {
                let bytes = 128u64.saturating_mul(p.cost_parameter).saturating_mul(u64::from(p.block_size));
                if bytes > MAX_SCRYPT_BYTES || p.parallelization > MAX_SCRYPT_PARALLELISM {
                    return Err(unsupported(format!(
                        "scrypt with N={}, r={}, p={} (at most {} MiB and p={MAX_SCRYPT_PARALLELISM} are accepted)",
                        p.cost_parameter,
                        p.block_size,
                        p.parallelization,
                        MAX_SCRYPT_BYTES >> 20
                    )));
                }
            }
            _ => {}
        },
        // Whatever a later pkcs5 adds is left to its own decrypt.
        _ => {}
    }
    // pkcs5 reports a bad padding (a wrong password) as a failed decryption
    // or, from its CBC code, as a failed encryption.
    let plain = info.decrypt(password.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed) => {
            PkiError::WrongKeyPassword { file: file.to_string() }
        }
        other => unsupported(other.to_string()),
    })?;
    // A wrong password passes the padding check about once in 256 tries;
    // the plaintext must then still be a private key.
    pkcs8::PrivateKeyInfo::from_der(plain.as_bytes())
        .map_err(|_| PkiError::WrongKeyPassword { file: file.to_string() })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())))
}

/// The ciphers of OpenSSL's traditional PEM encryption, by `DEK-Info` name.
#[derive(Debug, Clone, Copy)]
enum LegacyCipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
    Des,
}

impl LegacyCipher {
    fn from_name(name: &str) -> Option<LegacyCipher> {
        Some(match name.to_ascii_uppercase().as_str() {
            "AES-128-CBC" => LegacyCipher::Aes128,
            "AES-192-CBC" => LegacyCipher::Aes192,
            "AES-256-CBC" => LegacyCipher::Aes256,
            "DES-EDE3-CBC" => LegacyCipher::DesEde3,
            "DES-CBC" => LegacyCipher::Des,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            LegacyCipher::Aes128 => 16,
            LegacyCipher::Aes192 | LegacyCipher::DesEde3 => 24,
            LegacyCipher::Aes256 => 32,
            LegacyCipher::Des => 8,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            LegacyCipher::Aes128 | LegacyCipher::Aes192 | LegacyCipher::Aes256 => 16,
            LegacyCipher::DesEde3 | LegacyCipher::Des => 8,
        }
    }

    /// Decrypts `buf` in place; the length of the plaintext, or `None` when
    /// the padding is wrong (almost always a wrong password).
    fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<usize> {
        fn run<C: BlockDecryptMut + KeyIvInit>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<usize> {
            let decryptor = C::new_from_slices(key, iv).ok()?;
            decryptor.decrypt_padded_mut::<Pkcs7>(buf).ok().map(<[u8]>::len)
        }
        match self {
            LegacyCipher::Aes128 => run::<cbc::Decryptor<aes::Aes128>>(key, iv, buf),
            LegacyCipher::Aes192 => run::<cbc::Decryptor<aes::Aes192>>(key, iv, buf),
            LegacyCipher::Aes256 => run::<cbc::Decryptor<aes::Aes256>>(key, iv, buf),
            LegacyCipher::DesEde3 => run::<cbc::Decryptor<des::TdesEde3>>(key, iv, buf),
            LegacyCipher::Des => run::<cbc::Decryptor<des::Des>>(key, iv, buf),
        }
    }
}

/// Decrypts a block with `Proc-Type: 4,ENCRYPTED`; its DER.
fn traditional_key(block: &pem::Pem, file: &str, password: &KeyPassword) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let bad = |reason: String| PkiError::BadKey { file: file.to_string(), reason };
    let info = block
        .headers()
        .get("DEK-Info")
        .ok_or_else(|| bad("Proc-Type says ENCRYPTED but there is no DEK-Info".into()))?;
    let (name, iv_hex) = info.split_once(',').ok_or_else(|| bad(format!("DEK-Info {info:?} is not CIPHER,IV")))?;
    let cipher = LegacyCipher::from_name(name.trim()).ok_or_else(|| PkiError::UnsupportedKeyEncryption {
        file: file.to_string(),
        scheme: format!("the traditional cipher {}", name.trim()),
        hint: REENCRYPT,
    })?;
    let iv = hex(iv_hex.trim())
        .filter(|iv| iv.len() == cipher.iv_len())
        .ok_or_else(|| bad(format!("DEK-Info's IV {:?} is not {} bytes of hex", iv_hex.trim(), cipher.iv_len())))?;
    let key = bytes_to_key(password.as_bytes(), &iv[..8], cipher.key_len());
    let mut buf = Zeroizing::new(block.contents().to_vec());
    let len =
        cipher.decrypt(&key, &iv, &mut buf).ok_or_else(|| PkiError::WrongKeyPassword { file: file.to_string() })?;
    buf.truncate(len);
    // As for PKCS#8: the plaintext must be one whole DER value.
    pkcs8::der::asn1::AnyRef::from_der(&buf).map_err(|_| PkiError::WrongKeyPassword { file: file.to_string() })?;
    Ok(buf)
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: D_i = MD5(D_{i-1} ||
/// password || salt), concatenated until `len` bytes.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut previous: Option<[u8; 16]> = None;
    while key.len() < len {
        let mut md5 = Md5::new();
        if let Some(d) = &previous {
            md5.update(d);
        }
        md5.update(password);
        md5.update(salt);
        let d: [u8; 16] = md5.finalize().into();
        key.extend_from_slice(&d);
        previous = Some(d);
    }
    key.truncate(len);
    key
}

/// Bytes from hex digits; `None` for anything else or an odd count.
fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // One P-256 key, made with `openssl genpkey`, then encrypted with the
    // password "s3cret" by the command each constant names.

    /// `openssl pkey -in plain.pem -aes256` (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).
    const PKCS8_AES256: &str = include_str!("testdata/pkcs8-aes256.pem");
    /// `openssl pkcs8 -topk8 -scrypt`.
    const PKCS8_SCRYPT: &str = include_str!("testdata/pkcs8-scrypt.pem");
    /// `openssl pkcs8 -topk8 -v2 des3`.
    const PKCS8_DES3: &str = include_str!("testdata/pkcs8-des3.pem");
    /// `openssl ec -aes128` (traditional, AES-128-CBC).
    const TRAD_AES128: &str = include_str!("testdata/trad-aes128.pem");
    /// `openssl ec -des3` (traditional, DES-EDE3-CBC).
    const TRAD_DES3: &str = include_str!("testdata/trad-des3.pem");
    /// The same key unencrypted, as `openssl ec` writes it (SEC1).
    const PLAIN_SEC1: &str = include_str!("testdata/plain-sec1.pem");

    fn right() -> KeyPassword {
        KeyPassword::new("s3cret")
    }

    /// The key's private scalar, whichever form it came in: SEC1's
    /// `SEQUENCE { INTEGER 1, OCTET STRING (32 bytes), ... }`, on its own or
    /// inside PKCS#8 (where the curve is left out of it).
    fn sec1_of(key: &PrivateKeyDer<'_>) -> Vec<u8> {
        let sec1 = match key {
            PrivateKeyDer::Sec1(k) => k.secret_sec1_der().to_vec(),
            PrivateKeyDer::Pkcs8(k) => {
                let info = pkcs8::PrivateKeyInfo::from_der(k.secret_pkcs8_der()).unwrap();
                info.private_key.to_vec()
            }
            other => panic!("unexpected key form {other:?}"),
        };
        assert_eq!(&sec1[2..7], &[2, 1, 1, 4, 32], "a P-256 SEC1 key");
        sec1[7..39].to_vec()
    }

    #[test]
    fn every_form_decrypts_to_the_same_key() {
        let plain = first_key(PLAIN_SEC1.as_bytes(), "plain", None).unwrap();
        let expected = sec1_of(&plain);
        for (name, pem) in [
            ("pkcs8-aes256", PKCS8_AES256),
            ("pkcs8-scrypt", PKCS8_SCRYPT),
            ("pkcs8-des3", PKCS8_DES3),
            ("trad-aes128", TRAD_AES128),
            ("trad-des3", TRAD_DES3),
        ] {
            assert!(holds_encrypted_key(pem.as_bytes()), "{name}");
            let key = first_key(pem.as_bytes(), name, Some(&right())).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sec1_of(&key), expected, "{name}");
        }
        assert!(!holds_encrypted_key(PLAIN_SEC1.as_bytes()));
    }

    #[test]
    fn a_traditional_rsa_key_decrypts_to_pkcs1() {
        // `openssl rsa -aes256 -traditional`, and the key as `openssl rsa -traditional` writes it.
        let encrypted = include_str!("testdata/rsa-trad-aes256.pem");
        let plain = first_key(include_str!("testdata/rsa-plain.pem").as_bytes(), "plain", None).unwrap();
        let key = first_key(encrypted.as_bytes(), "rsa", Some(&right())).unwrap();
        match (&key, &plain) {
            (PrivateKeyDer::Pkcs1(k), PrivateKeyDer::Pkcs1(p)) => {
                assert_eq!(k.secret_pkcs1_der(), p.secret_pkcs1_der())
            }
            other => panic!("expected two PKCS#1 keys, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_password_names_the_file() {
        for (name, pem) in
            [("a.key", PKCS8_AES256), ("b.key", TRAD_AES128), ("c.key", TRAD_DES3), ("d.key", PKCS8_SCRYPT)]
        {
            let err = first_key(pem.as_bytes(), name, Some(&KeyPassword::new("wrong"))).unwrap_err();
            assert!(matches!(&err, PkiError::WrongKeyPassword { file } if file == name), "{name}: {err}");
            assert!(err.to_string().contains(name) && err.to_string().contains("password"), "{err}");
        }
    }

    #[test]
    fn no_password_says_how_to_give_one() {
        let err = first_key(PKCS8_AES256.as_bytes(), "n.key", None).unwrap_err();
        assert!(matches!(err, PkiError::EncryptedKey { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("n.key") && text.contains("password") && text.contains("--key-password-file"), "{text}");
        assert!(matches!(first_key(TRAD_DES3.as_bytes(), "t", None).unwrap_err(), PkiError::EncryptedKey { .. }));
    }

    #[test]
    fn an_unknown_traditional_cipher_and_a_bad_iv_are_named() {
        let renamed = TRAD_AES128.replace("AES-128-CBC", "CAMELLIA-128-CBC");
        let err = first_key(renamed.as_bytes(), "k", Some(&right())).unwrap_err();
        assert!(err.to_string().contains("CAMELLIA-128-CBC") && err.to_string().contains("openssl pkey"), "{err}");
        let short_iv = TRAD_AES128.replace("AES-128-CBC,", "AES-128-CBC,00");
        let err = first_key(short_iv.as_bytes(), "k", Some(&right())).unwrap_err();
        assert!(matches!(err, PkiError::BadKey { .. }), "{err}");
    }

    #[test]
    fn bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -md md5 -P -pass pass:s3cret -S 0001020304050607`
        let key = bytes_to_key(b"s3cret", &[0, 1, 2, 3, 4, 5, 6, 7], 32);
        assert_eq!(hex(include_str!("testdata/bytes-to-key.hex").trim()).unwrap(), key.to_vec());
    }

    #[test]
    fn a_password_file_gives_its_first_line_and_debug_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\r\nsecond line\n").unwrap();
        let password = KeyPassword::from_file(&path).unwrap();
        assert_eq!(password.as_bytes(), b"s3cret");
        assert_eq!(format!("{password:?}"), "KeyPassword(..)");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(KeyPassword::from_file(&path).unwrap_err(), PkiError::EmptyPassword { .. }));
    }
}
