//! Key generation and loading.
//!
//! ECDSA and Ed25519 keys come from ring (through rcgen). ring cannot
//! generate RSA keys, so RSA keys come from the `rsa` crate as PKCS#8 and are
//! handed to rcgen, which signs with ring. Only key generation uses `rsa`;
//! no private-key operation runs through it.

use std::path::Path;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PKCS_RSA_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{CertsError, KeyAlgorithm};
use crate::pki::{self, KeyType};

/// Generates a fresh key pair of the given type.
pub(crate) fn generate(alg: KeyAlgorithm) -> Result<KeyPair, CertsError> {
    match alg {
        KeyAlgorithm::EcdsaP256 => {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CertsError::crypto("generating an ECDSA key"))
        }
        KeyAlgorithm::Ed25519 => {
            KeyPair::generate_for(&PKCS_ED25519).map_err(CertsError::crypto("generating an Ed25519 key"))
        }
        KeyAlgorithm::Rsa { bits } => {
            if !(2048..=4096).contains(&bits) {
                return Err(CertsError::Crypto {
                    what: "generating an RSA key",
                    reason: format!("{bits} bits asked for; 2048 to 4096 are supported"),
                });
            }
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits as usize)
                .map_err(|e| CertsError::Crypto { what: "generating an RSA key", reason: e.to_string() })?;
            let pkcs8 = key
                .to_pkcs8_der()
                .map_err(|e| CertsError::Crypto { what: "encoding an RSA key", reason: e.to_string() })?;
            KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8.as_bytes()), &PKCS_RSA_SHA256)
                .map_err(CertsError::crypto("loading the new RSA key"))
        }
    }
}

/// Loads a signing key from a PEM file. Only PKCS#8 keys can sign here.
pub(crate) fn load_signing_key(path: &Path) -> Result<KeyPair, CertsError> {
    let der = pki::load_private_key(path)?;
    let unusable = |reason: String| CertsError::UnusableCaKey { path: path.to_path_buf(), reason };
    if !matches!(der, PrivateKeyDer::Pkcs8(_)) {
        return Err(unusable(
            "only PKCS#8 keys (BEGIN PRIVATE KEY) can sign; convert it with `openssl pkcs8 -topk8 -nocrypt`".into(),
        ));
    }
    KeyPair::try_from(&der).map_err(|e| unusable(format!("not an ECDSA P-256/P-384, Ed25519 or RSA key ({e})")))
}

/// The key type to generate to replace a key of type `old`.
pub(crate) fn algorithm_like(old: &KeyType) -> KeyAlgorithm {
    match old {
        KeyType::Ed25519 => KeyAlgorithm::Ed25519,
        KeyType::Rsa { bits } => {
            let bits = u32::try_from(*bits).unwrap_or(2048);
            KeyAlgorithm::Rsa { bits: bits.clamp(2048, 4096) }
        }
        _ => KeyAlgorithm::EcdsaP256,
    }
}
