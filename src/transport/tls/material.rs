//! Reading the certificate, key and trust roots into the rustls client and
//! server configurations one generation of connections uses.
//!
//! A [`Loaded`] is immutable: a reload builds a new one and swaps it in, and
//! connections made with the old one keep it until they close.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::config::{TlsConfig, TlsVersion, TrustRoots};
use super::crl::{CrlInfo, load_crls, parse_x509_crl};
use super::error::TlsError;
use super::suites::TlsSuite;
use super::verify::{ClientAuthVerifier, ServerAuthVerifier};
use crate::file_stamp::{Stamp, stamp};
use crate::pki::{self, CertInfo, KeyPassword};

/// One generation of TLS material.
pub(crate) struct Loaded {
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) server: Arc<ServerConfig>,
    /// This node's certificate (the leaf of its chain) as it accepts connections.
    pub(crate) leaf: Arc<CertInfo>,
    /// The certificate it presents when dialling: `leaf` unless the
    /// configuration gives a client certificate of its own.
    pub(crate) client_leaf: Arc<CertInfo>,
    /// What the trust roots are, for messages.
    pub(crate) trust: Arc<TrustInfo>,
    /// The files' state when they were read.
    pub(crate) stamps: FileStamps,
}

impl Loaded {
    /// This node's certificates: the one it accepts with, and the one it
    /// dials with where that is another.
    pub(crate) fn own_certificates(&self) -> impl Iterator<Item = &CertInfo> {
        let separate = (!Arc::ptr_eq(&self.leaf, &self.client_leaf)).then_some(&*self.client_leaf);
        std::iter::once(&*self.leaf).chain(separate)
    }
}

/// The trust roots, described for log lines.
#[derive(Debug)]
pub(crate) struct TrustInfo {
    /// Where they come from (a file name or the web PKI).
    pub(crate) source: String,
    /// The subjects of the CA certificates in a CA file (empty for the web PKI).
    pub(crate) subjects: Vec<String>,
    /// The CRLs in force, one per issuing CA.
    pub(crate) crls: Vec<LoadedCrl>,
}

/// A CRL in force, and the file it came from.
#[derive(Debug)]
pub(crate) struct LoadedCrl {
    pub(crate) path: PathBuf,
    pub(crate) info: CrlInfo,
}

impl TrustInfo {
    /// The CRL from the CA named `issuer` (one-line form), if one is in force.
    pub(crate) fn crl_for(&self, issuer: &str) -> Option<&LoadedCrl> {
        self.crls.iter().find(|c| c.info.issuer == issuer)
    }

    /// The CRL files in force, for messages: `FILE (from ISSUER), ...` or `none`.
    pub(crate) fn crl_list(&self) -> String {
        if self.crls.is_empty() {
            return "none".to_string();
        }
        let items: Vec<String> =
            self.crls.iter().map(|c| format!("{} (from \"{}\")", c.path.display(), c.info.issuer)).collect();
        items.join(", ")
    }
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
    let accepting = Identity::load(&config.cert, &config.key, config.key_password.as_ref())?;
    let client_password = config.client_key_password.as_ref().or(config.key_password.as_ref());
    let own_client =
        config.client_identity.as_ref().map(|(cert, key)| Identity::load(cert, key, client_password)).transpose()?;
    let dialling = own_client.as_ref().unwrap_or(&accepting);
    let (roots, ca_certs, mut trust) = trust_roots(&config.roots)?;
    let roots = Arc::new(roots);
    let default_provider = Arc::new(rustls::crypto::ring::default_provider());
    let (crls, loaded_crls) = revocation_lists(config, &roots, &ca_certs, &default_provider)?;
    trust.crls = loaded_crls;
    warn_stale_crls(&trust, config, SystemTime::now());

    let server_role = Role {
        provider: restricted_provider(config.server_suites.as_deref()),
        versions: protocol_versions(&config.versions)?,
    };
    let client_versions = config.client_versions.as_deref().unwrap_or(&config.versions);
    let client_role = Role {
        provider: restricted_provider(config.client_suites.as_deref()),
        versions: protocol_versions(client_versions)?,
    };
    let (leaf, client_leaf) = (accepting.leaf.clone(), dialling.leaf.clone());
    let server = server_config(config, &server_role, roots.clone(), &crls, &accepting)?;
    let client = client_config(config, &client_role, roots, &crls, dialling)?;
    Ok(Loaded { client, server, leaf, client_leaf, trust: Arc::new(trust), stamps })
}

/// A certificate chain with its key, read from their files.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    leaf: Arc<CertInfo>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl Identity {
    fn load(cert: &Path, key: &Path, password: Option<&KeyPassword>) -> Result<Identity, TlsError> {
        let chain = pki::load_certs(cert)?;
        let leaf_der = chain.first().ok_or_else(|| TlsError::Config(format!("{}: no certificate", cert.display())))?;
        let leaf = CertInfo::from_der_in(leaf_der.as_ref(), &cert.display().to_string())?;
        let key_der = pki::load_private_key_with_password(key, password)?;
        Ok(Identity {
            chain,
            key: key_der,
            leaf: Arc::new(leaf),
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
        })
    }

    /// The error for a key rustls will not use with this certificate.
    fn key_error(&self, error: rustls::Error) -> TlsError {
        match error {
            rustls::Error::InconsistentKeys(_) => {
                TlsError::KeyMismatch { cert: self.cert_path.clone(), key: self.key_path.clone() }
            }
            other => TlsError::UnusableKey { key: self.key_path.clone(), reason: other.to_string() },
        }
    }
}

/// The error for versions and cipher suites that leave nothing to negotiate.
fn no_usable_suite(role: &Role, error: rustls::Error) -> TlsError {
    let versions: Vec<String> = role.versions.iter().map(|v| format!("{:?}", v.version)).collect();
    let suites: Vec<String> = role.provider.cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect();
    TlsError::Config(format!(
        "{error}: the cipher suites [{}] include none for the TLS versions [{}]",
        suites.join(", "),
        versions.join(", ")
    ))
}

/// What one role (accepting, or dialling) negotiates with.
struct Role {
    provider: Arc<CryptoProvider>,
    versions: &'static [&'static SupportedProtocolVersion],
}

/// ring's provider, offering only `suites` when given (in their order).
fn restricted_provider(suites: Option<&[TlsSuite]>) -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = suites {
        let all = std::mem::take(&mut provider.cipher_suites);
        provider.cipher_suites = suites
            .iter()
            .filter_map(|wanted| all.iter().find(|s| s.suite() == rustls_suite(*wanted)).copied())
            .collect();
    }
    Arc::new(provider)
}

/// The rustls name of a suite.
fn rustls_suite(suite: TlsSuite) -> rustls::CipherSuite {
    use rustls::CipherSuite as C;
    match suite {
        TlsSuite::Tls13Aes128GcmSha256 => C::TLS13_AES_128_GCM_SHA256,
        TlsSuite::Tls13Aes256GcmSha384 => C::TLS13_AES_256_GCM_SHA384,
        TlsSuite::Tls13Chacha20Poly1305Sha256 => C::TLS13_CHACHA20_POLY1305_SHA256,
        TlsSuite::EcdheEcdsaAes128GcmSha256 => C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsSuite::EcdheEcdsaAes256GcmSha384 => C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsSuite::EcdheEcdsaChacha20Poly1305 => C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsSuite::EcdheRsaAes128GcmSha256 => C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsSuite::EcdheRsaAes256GcmSha384 => C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsSuite::EcdheRsaChacha20Poly1305 => C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
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

/// The root store, the CA certificates it was made from (none for the web
/// PKI), and their description.
type Roots = (RootCertStore, Vec<CertificateDer<'static>>, TrustInfo);

fn trust_roots(roots: &TrustRoots) -> Result<Roots, TlsError> {
    match roots {
        TrustRoots::WebPki => {
            let store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            Ok((store, Vec::new(), TrustInfo { source: roots.to_string(), subjects: Vec::new(), crls: Vec::new() }))
        }
        TrustRoots::CaFile(path) => {
            let certs = pki::load_certs(path)?;
            let mut store = RootCertStore::empty();
            let mut subjects = Vec::new();
            let now = SystemTime::now();
            for (i, der) in certs.iter().cloned().enumerate() {
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
            Ok((store, certs, TrustInfo { source: path.display().to_string(), subjects, crls: Vec::new() }))
        }
    }
}

/// Reads the CRL files, checks each against the trust roots, and keeps the
/// newest CRL per issuing CA (webpki consults the first CRL whose issuer
/// matches, so an older one must not shadow a newer one).
fn revocation_lists(
    config: &TlsConfig,
    roots: &Arc<RootCertStore>,
    ca_certs: &[CertificateDer<'static>],
    provider: &Arc<CryptoProvider>,
) -> Result<(Vec<CertificateRevocationListDer<'static>>, Vec<LoadedCrl>), TlsError> {
    let mut kept: Vec<(CertificateRevocationListDer<'static>, LoadedCrl)> = Vec::new();
    let mut paths = config.crls.clone();
    for dir in &config.crl_dirs {
        let listed = hash_dir_files(dir)?;
        if listed.is_empty() {
            tracing::warn!(dir = %dir.display(), "the CRL hash directory holds no CRL (no HASH.rN file)");
        }
        paths.extend(listed);
    }
    for path in &paths {
        for der in load_crls(path)? {
            let info = CrlInfo::from_der(der.as_ref(), &path.display().to_string())?;
            check_crl_signer(path, &der, &info, ca_certs, &config.roots)?;
            // What webpki would refuse, refused now with the file's name rather than at the first handshake.
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .with_crls([der.clone()])
                .build()
                .map_err(|e| TlsError::BadCrl { file: path.clone(), reason: e.to_string() })?;
            let loaded = LoadedCrl { path: path.clone(), info };
            match kept.iter_mut().find(|(_, k)| k.info.issuer_der == loaded.info.issuer_der) {
                // The same CRL twice (a file and its hash-directory link, say).
                Some(slot) if slot.0 == der => {}
                Some(slot) => {
                    let (newer, older) =
                        if is_newer(&loaded.info, &slot.1.info) { (&loaded, &slot.1) } else { (&slot.1, &loaded) };
                    tracing::warn!(
                        "two CRLs from \"{}\": {} (number {}) is used, {} (number {}) is ignored as older",
                        newer.info.issuer,
                        newer.path.display(),
                        newer.info.number.as_deref().unwrap_or("none"),
                        older.path.display(),
                        older.info.number.as_deref().unwrap_or("none"),
                    );
                    if is_newer(&loaded.info, &slot.1.info) {
                        *slot = (der, loaded);
                    }
                }
                None => kept.push((der, loaded)),
            }
        }
    }
    // Asked to check revocation but holding no CRL: rustls would check nothing,
    // where every status is in truth unknown.
    if kept.is_empty() && !config.crl_dirs.is_empty() && !config.allow_unknown_revocation {
        let dirs: Vec<String> = config.crl_dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(TlsError::BadCrl {
            file: config.crl_dirs.first().cloned().unwrap_or_default(),
            reason: format!(
                "no CRL in the hash director{} {}, so every peer's revocation status would be unknown; \
                 put its CA's CRL there (beamlink certs crl --dir DIR makes crl.d/HASH.r0)",
                if dirs.len() == 1 { "y" } else { "ies" },
                dirs.join(", ")
            ),
        });
    }
    Ok(kept.into_iter().unzip())
}

/// Warns about each CRL in force that is past its nextUpdate; returns
/// whether there was one.
pub(crate) fn warn_stale_crls(trust: &TrustInfo, config: &TlsConfig, now: SystemTime) -> bool {
    let mut any = false;
    for crl in trust.crls.iter().filter(|c| c.info.is_stale_at(now)) {
        any = true;
        let due = crl.info.next_update.map(crate::utc::format).unwrap_or_default();
        let effect = if config.enforce_crl_next_update {
            "every certificate from its CA is refused until it is replaced"
        } else {
            "it is still used"
        };
        tracing::warn!(
            crl = %crl.path.display(),
            issuer = %crl.info.issuer,
            "the CRL was due to be replaced at {due} (its nextUpdate); {effect}: refresh it \
             (beamlink certs crl --dir DIR) and copy it into place"
        );
    }
    any
}

/// The `HASH.rN` files of a CRL hash directory, sorted by name.
pub(crate) fn hash_dir_files(dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TlsError::BadCrl {
        file: dir.to_path_buf(),
        reason: format!("cannot list it as a CRL hash directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(is_hash_name))
        .map(|entry| entry.path())
        .collect();
    files.sort();
    Ok(files)
}

/// `1a2b3c4d.r0`: eight lower-case hex digits, `.r`, a decimal number.
fn is_hash_name(name: &str) -> bool {
    let Some((hash, n)) = name.split_once(".r") else { return false };
    hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// Whether CRL `a` is newer than `b` from the same CA: a higher cRLNumber,
/// or (without numbers) a later thisUpdate.
fn is_newer(a: &CrlInfo, b: &CrlInfo) -> bool {
    match (&a.number_bytes, &b.number_bytes) {
        (Some(x), Some(y)) if x != y => (x.len(), x) > (y.len(), y),
        _ => a.this_update > b.this_update,
    }
}

/// A CRL must be signed by the trusted CA it names, and that CA must be
/// allowed to sign CRLs. A CRL naming no trusted CA may belong to an
/// intermediate CA; it is kept, with a warning when the roots are a CA file.
fn check_crl_signer(
    path: &Path,
    der: &CertificateRevocationListDer<'_>,
    info: &CrlInfo,
    ca_certs: &[CertificateDer<'static>],
    roots: &TrustRoots,
) -> Result<(), TlsError> {
    let bad = |reason: String| TlsError::BadCrl { file: path.to_path_buf(), reason };
    let crl = parse_x509_crl(der.as_ref()).map_err(bad)?;
    let namesakes: Vec<X509Certificate<'_>> = ca_certs
        .iter()
        .filter_map(|ca| X509Certificate::from_der(ca.as_ref()).ok().map(|(_, c)| c))
        .filter(|ca| ca.subject().as_raw() == info.issuer_der.as_slice())
        .collect();
    if namesakes.is_empty() {
        if let TrustRoots::CaFile(ca_file) = roots {
            tracing::warn!(
                crl = %path.display(),
                "the CRL is from \"{}\", which is not among the trust roots in {}: it can only apply to \
                 certificates from an intermediate CA of that name",
                info.issuer,
                ca_file.display()
            );
        }
        return Ok(());
    }
    let Some(signer) = namesakes.iter().find(|ca| crl.verify_signature(ca.public_key()).is_ok()) else {
        return Err(bad(format!(
            "its signature does not verify against the trusted CA \"{}\": another CA of that name made it \
             (was the CA replaced?); make a new one with the current CA (beamlink certs crl --dir DIR)",
            info.issuer
        )));
    };
    if let Ok(Some(usage)) = signer.key_usage()
        && !usage.value.crl_sign()
    {
        return Err(bad(format!(
            "the CA \"{}\" that signed it may not sign CRLs (its keyUsage lacks cRLSign)",
            info.issuer
        )));
    }
    Ok(())
}

fn server_config(
    config: &TlsConfig,
    role: &Role,
    roots: Arc<RootCertStore>,
    crls: &[CertificateRevocationListDer<'static>],
    identity: &Identity,
) -> Result<Arc<ServerConfig>, TlsError> {
    // No CA names in the CertificateRequest: a node has one certificate to
    // offer anyway, and an OTP client whose certificate does not match the
    // names would send none, hiding the real problem (a wrong CA) behind
    // "no certificate". It also keeps the trusted CAs' names private.
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(roots, role.provider.clone()).clear_root_hint_subjects();
    if !crls.is_empty() {
        builder = builder.with_crls(crls.iter().cloned()).only_check_end_entity_revocation();
        if config.allow_unknown_revocation {
            builder = builder.allow_unknown_revocation_status();
        }
        if config.enforce_crl_next_update {
            builder = builder.enforce_revocation_expiration();
        }
    }
    let inner = builder.build().map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let verifier = Arc::new(ClientAuthVerifier { inner, max_depth: config.client_chain_depth });
    let mut server = ServerConfig::builder_with_provider(role.provider.clone())
        .with_protocol_versions(role.versions)
        .map_err(|e| no_usable_suite(role, e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| identity.key_error(e))?;
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
    role: &Role,
    roots: Arc<RootCertStore>,
    crls: &[CertificateRevocationListDer<'static>],
    identity: &Identity,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut builder = WebPkiServerVerifier::builder_with_provider(roots, role.provider.clone());
    if !crls.is_empty() {
        builder = builder.with_crls(crls.iter().cloned()).only_check_end_entity_revocation();
        if config.allow_unknown_revocation {
            builder = builder.allow_unknown_revocation_status();
        }
        if config.enforce_crl_next_update {
            builder = builder.enforce_revocation_expiration();
        }
    }
    let inner = builder.build().map_err(|e| TlsError::Config(format!("server verifier: {e}")))?;
    let verifier = Arc::new(ServerAuthVerifier { inner, max_depth: config.server_chain_depth });
    let mut client = ClientConfig::builder_with_provider(role.provider.clone())
        .with_protocol_versions(role.versions)
        .map_err(|e| no_usable_suite(role, e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| identity.key_error(e))?;
    if !config.resumption {
        client.resumption = Resumption::disabled();
    }
    Ok(Arc::new(client))
}

/// What a file looked like when last read: enough to notice a replacement
/// (a new inode after an atomic rename or a symlink swap) or an edit in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamps(Vec<(PathBuf, Option<Stamp>)>);

impl FileStamps {
    /// The current state of the certificate, key, CA and CRL files.
    pub(crate) fn take(config: &TlsConfig) -> FileStamps {
        let mut paths: Vec<&Path> = vec![&config.cert, &config.key];
        if let Some((cert, key)) = &config.client_identity {
            paths.extend([cert.as_path(), key.as_path()]);
        }
        if let TrustRoots::CaFile(ca) = &config.roots {
            paths.push(ca);
        }
        paths.extend(config.crls.iter().map(PathBuf::as_path));
        // A hash directory: the directory itself (files come and go) and each CRL in it.
        let listed: Vec<PathBuf> =
            config.crl_dirs.iter().flat_map(|dir| hash_dir_files(dir).unwrap_or_default()).collect();
        paths.extend(config.crl_dirs.iter().map(PathBuf::as_path));
        paths.extend(listed.iter().map(PathBuf::as_path));
        FileStamps(paths.into_iter().map(|p| (p.to_path_buf(), stamp(p))).collect())
    }
}
