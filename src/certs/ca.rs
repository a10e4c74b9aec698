//! The cluster CA: making one, and loading one to sign with.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::files::{KEY_MODE, PUBLIC_MODE, Staged, ensure_dir, refuse_existing};
use super::profile::{Window, ca_params};
use super::{CaOptions, CertsError, keys};
use crate::pki::{self, CertInfo};

/// The CA certificate's file name inside a certificate folder.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file name inside a certificate folder.
pub const CA_KEY_FILE: &str = "ca.key";

/// What [`init_ca`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaFiles {
    /// The CA certificate (`DIR/ca.pem`).
    pub cert: PathBuf,
    /// The CA key (`DIR/ca.key`, mode 0600).
    pub key: PathBuf,
    /// What the new certificate says.
    pub info: CertInfo,
}

/// Creates a cluster CA: a self-signed CA certificate and its key in
/// `opts.dir` (created 0700 if missing). Refuses to overwrite existing files
/// unless `opts.force`.
///
/// ```no_run
/// use beamlink::certs::{CaOptions, init_ca};
/// let ca = init_ca(&CaOptions::new("pki").name("my cluster CA"))?;
/// println!("CA written to {}", ca.cert.display());
/// # Ok::<(), beamlink::certs::CertsError>(())
/// ```
pub fn init_ca(opts: &CaOptions) -> Result<CaFiles, CertsError> {
    let name = opts.name.trim();
    if name.is_empty() {
        return Err(CertsError::EmptyCaName);
    }
    let window = Window::days_from_now(opts.days, SystemTime::now())?;
    let cert_path = opts.dir.join(CA_CERT_FILE);
    let key_path = opts.dir.join(CA_KEY_FILE);
    refuse_existing(&[&cert_path, &key_path], opts.force)?;

    let key = keys::generate(opts.key)?;
    let params = ca_params(name, window)?;
    let cert = params.self_signed(&key).map_err(CertsError::crypto("signing the CA certificate"))?;
    let info = CertInfo::from_der(cert.der())?;

    ensure_dir(&opts.dir)?;
    let mut staged = Staged::new();
    staged.add(&key_path, key.serialize_pem().as_bytes(), KEY_MODE)?;
    staged.add(&cert_path, cert.pem().as_bytes(), PUBLIC_MODE)?;
    staged.commit()?;
    tracing::info!(cert = %cert_path.display(), serial = %info.serial, "created cluster CA");
    Ok(CaFiles { cert: cert_path, key: key_path, info })
}

/// A CA loaded from a folder, ready to sign.
pub(crate) struct LoadedCa {
    pub(crate) cert_path: PathBuf,
    pub(crate) der: CertificateDer<'static>,
    pub(crate) info: CertInfo,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

/// Loads `DIR/ca.pem` and `DIR/ca.key`, checking that the certificate is a
/// CA and that the key is its key.
pub(crate) fn load_ca(dir: &Path) -> Result<LoadedCa, CertsError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    for path in [&cert_path, &key_path] {
        if path.symlink_metadata().is_err() {
            return Err(CertsError::NoCa { dir: dir.to_path_buf(), missing: path.clone() });
        }
    }
    let certs = pki::load_certs(&cert_path)?;
    let Some(der) = certs.into_iter().next() else {
        return Err(CertsError::NoCa { dir: dir.to_path_buf(), missing: cert_path });
    };
    let info = CertInfo::from_der_in(&der, &cert_path.display().to_string())?;
    if !info.is_ca {
        return Err(CertsError::NotACa { path: cert_path });
    }
    let key = keys::load_signing_key(&key_path)?;
    if public_key_bits(&der).as_deref() != Some(key.public_key_raw()) {
        return Err(CertsError::CaKeyMismatch { cert: cert_path, key: key_path });
    }
    let issuer = Issuer::from_ca_cert_der(&der, key).map_err(CertsError::crypto("reading the CA certificate"))?;
    Ok(LoadedCa { cert_path, der, info, issuer })
}

/// The subject public key bits of a DER certificate.
fn public_key_bits(der: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    Some(cert.tbs_certificate.subject_pki.subject_public_key.data.to_vec())
}
