//! Reading the certificate, key and trust roots into the rustls client and
//! server configurations one generation of connections uses.
//!
//! A [`Loaded`] is immutable: a reload builds a new one and swaps it in, and
//! connections made with the old one keep it until they close.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::config::{TlsConfig, TlsVersion, TrustRoots};
use super::error::TlsError;
use super::verify::{ClientAuthVerifier, ServerAuthVerifier};
use crate::pki::{self, CertInfo};

/// One generation of TLS material.
pub(crate) struct Loaded {
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) server: Arc<ServerConfig>,
    /// This node's certificate (the leaf of its chain).
    pub(crate) leaf: Arc<CertInfo>,
    /// What the trust roots are, for messages.
    pub(crate) trust: Arc<TrustInfo>,
    /// The files' state when they were read.
    pub(crate) stamps: FileStamps,
}

/// The trust roots, described for log lines.
#[derive(Debug)]
pub(crate) struct TrustInfo {
    /// Where they come from (a file name or the web PKI).
    pub(crate) source: String,
    /// The subjects of the CA certificates in a CA file (empty for the web PKI).
    pub(crate) subjects: Vec<String>,
}

impl std::fmt::Display for TrustInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subjects.is_empty() {
            f.write_str(&self.source)
        } else {
            write!(f, "{}: {}", self.source, self.subjects.join("; "))
        }
    }
}

/// Reads every file named by `config` and builds both rustls configurations.
pub(crate) fn load(config: &TlsConfig) -> Result<Loaded, TlsError> {
    // Stamps first: a file that changes while it is read is read again at the next poll.
    let stamps = FileStamps::take(config);
    let chain = pki::load_certs(&config.cert)?;
    let leaf_der =
        chain.first().ok_or_else(|| TlsError::Config(format!("{}: no certificate", config.cert.display())))?;
    let leaf = CertInfo::from_der_in(leaf_der.as_ref(), &config.cert.display().to_string())?;
    let key = pki::load_private_key(&config.key)?;
    let (roots, trust) = trust_roots(&config.roots)?;
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = protocol_versions(&config.versions)?;

    let server = server_config(config, &provider, versions, roots.clone(), chain.clone(), key.clone_key())?;
    let client = client_config(config, &provider, versions, roots, chain, key)?;
    Ok(Loaded { client, server, leaf: Arc::new(leaf), trust: Arc::new(trust), stamps })
}

fn protocol_versions(versions: &[TlsVersion]) -> Result<&'static [&'static SupportedProtocolVersion], TlsError> {
    static BOTH: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    let has = |v| versions.contains(&v);
    Ok(match (has(TlsVersion::Tls13), has(TlsVersion::Tls12)) {
        (true, true) => &BOTH,
        (true, false) => &TLS13,
        (false, true) => &TLS12,
        (false, false) => {
            return Err(TlsError::Config("no TLS version enabled (choose TLS 1.3, TLS 1.2 or both)".into()));
        }
    })
}

fn trust_roots(roots: &TrustRoots) -> Result<(RootCertStore, TrustInfo), TlsError> {
    match roots {
        TrustRoots::WebPki => {
            let store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            Ok((store, TrustInfo { source: roots.to_string(), subjects: Vec::new() }))
        }
        TrustRoots::CaFile(path) => {
            let certs = pki::load_certs(path)?;
            let mut store = RootCertStore::empty();
            let mut subjects = Vec::new();
            let now = SystemTime::now();
            for (i, der) in certs.into_iter().enumerate() {
                let info = CertInfo::from_der_in(der.as_ref(), &path.display().to_string())?;
                store.add(der).map_err(|e| TlsError::BadTrustRoots {
                    file: path.clone(),
                    reason: format!("certificate {} ({}): {e}", i + 1, info.subject),
                })?;
                if !info.is_ca {
                    tracing::warn!(file = %path.display(), subject = %info.subject, "a trusted certificate is not a CA certificate");
                }
                if !info.is_valid_at(now) {
                    tracing::warn!(file = %path.display(), subject = %info.subject, "a trusted CA certificate is outside its validity period; certificates it issued will be refused");
                }
                subjects.push(info.subject);
            }
            Ok((store, TrustInfo { source: path.display().to_string(), subjects }))
        }
    }
}

fn server_config(
    config: &TlsConfig,
    provider: &Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    // No CA names in the CertificateRequest: a node has one certificate to
    // offer anyway, and an OTP client whose certificate does not match the
    // names would send none, hiding the real problem (a wrong CA) behind
    // "no certificate". It also keeps the trusted CAs' names private.
    let inner = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .clear_root_hint_subjects()
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let verifier = Arc::new(ClientAuthVerifier { inner });
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| key_error(config, e))?;
    if config.resumption {
        server.session_storage = ServerSessionMemoryCache::new(256);
        server.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
    } else {
        server.session_storage = Arc::new(NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
    }
    Ok(Arc::new(server))
}

fn client_config(
    config: &TlsConfig,
    provider: &Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = Arc::new(ServerAuthVerifier { roots, algorithms: provider.signature_verification_algorithms });
    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| key_error(config, e))?;
    if !config.resumption {
        client.resumption = Resumption::disabled();
    }
    Ok(Arc::new(client))
}

fn key_error(config: &TlsConfig, error: rustls::Error) -> TlsError {
    match error {
        rustls::Error::InconsistentKeys(_) => {
            TlsError::KeyMismatch { cert: config.cert.clone(), key: config.key.clone() }
        }
        other => TlsError::UnusableKey { key: config.key.clone(), reason: other.to_string() },
    }
}

/// What a file looked like when last read: enough to notice a replacement
/// (a new inode after an atomic rename or a symlink swap) or an edit in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamps(Vec<(PathBuf, Option<Stamp>)>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamps {
    /// The current state of the certificate, key and CA files.
    pub(crate) fn take(config: &TlsConfig) -> FileStamps {
        let mut paths: Vec<&Path> = vec![&config.cert, &config.key];
        if let TrustRoots::CaFile(ca) = &config.roots {
            paths.push(ca);
        }
        FileStamps(paths.into_iter().map(|p| (p.to_path_buf(), stamp(p))).collect())
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { modified: meta.modified().ok(), len: meta.len(), inode })
}
