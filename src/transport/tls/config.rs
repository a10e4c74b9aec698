//! What the TLS transport is configured with: this node's certificate and
//! key, the trust roots, the node-name policy, and a few knobs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{OptfileError, OptfileProblem, TlsError};
use super::optfile::{CrlCache, CrlCheck, PeerVerify, SideOptions, SslDistOptions};
use super::suites::TlsSuite;
use crate::pki::{KeyPassword, VerifyName};

/// A TLS protocol version beamlink speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (what OTP 25's TLS distribution offers unless configured).
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        })
    }
}

/// Which certificate authorities a peer's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The CA certificates in a PEM file: normally the cluster CA. Several
    /// CAs in one file are all trusted, which gives an overlap window when the
    /// cluster CA itself is rotated. Re-read on reload.
    CaFile(PathBuf),
    /// The public web PKI (Mozilla's root program, via `webpki-roots`), for
    /// nodes whose certificates a public CA issued.
    WebPki,
}

impl std::fmt::Display for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustRoots::CaFile(path) => write!(f, "{}", path.display()),
            TrustRoots::WebPki => f.write_str("the public web PKI (webpki-roots)"),
        }
    }
}

/// How long before expiry the node's own certificate is warned about.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// The configuration of a [`TlsTransport`](super::TlsTransport).
///
/// Made from files ([`TlsConfig::from_files`]), from OTP's optfile
/// ([`TlsConfig::from_ssl_dist_optfile`]), or for publicly issued
/// certificates ([`TlsConfig::web_pki`]); then adjusted with the setters.
///
/// Defaults: node-name policy [`VerifyName::Strict`]; TLS 1.3 preferred and
/// TLS 1.2 accepted; no session resumption (every connection runs a full
/// handshake and re-verifies the peer's chain); no file polling (call
/// [`TlsTransport::reload`](super::TlsTransport::reload), or set
/// [`TlsConfig::reload_interval`]); an expiry warning 30 days ahead; no
/// revocation check until a CRL is given ([`TlsConfig::crl_file`]).
///
/// How long a TLS handshake may take and how many may be in progress are the
/// node's [`Limits`](crate::node::Limits) (`handshake_timeout`,
/// `max_pending_handshakes`, `max_pending_handshakes_per_address`), which
/// cover the TLS and the distribution handshake alike.
///
/// ```no_run
/// use std::time::Duration;
/// use beamlink::pki::VerifyName;
/// use beamlink::transport::tls::TlsConfig;
/// let config = TlsConfig::from_files("pki/ca.pem", "pki/alice@host.pem", "pki/alice@host.key")
///     .verify_name(VerifyName::Host)
///     .reload_interval(Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) roots: TrustRoots,
    pub(crate) verify_name: VerifyName,
    pub(crate) versions: Vec<TlsVersion>,
    pub(crate) resumption: bool,
    pub(crate) reload_interval: Option<Duration>,
    pub(crate) expiry_warning: Duration,
    pub(crate) crls: Vec<PathBuf>,
    pub(crate) crl_dirs: Vec<PathBuf>,
    pub(crate) allow_unknown_revocation: bool,
    pub(crate) enforce_crl_next_update: bool,
    /// The most intermediate CAs an accepted client's chain may hold.
    pub(crate) client_chain_depth: Option<usize>,
    /// The most intermediate CAs a dialled server's chain may hold.
    pub(crate) server_chain_depth: Option<usize>,
    /// The certificate and key presented when dialling, where they differ
    /// from `cert` and `key` (OTP's client section).
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    /// The password of `key` when it is encrypted.
    pub(crate) key_password: Option<KeyPassword>,
    /// The password of the dialling key, where it differs from `key_password`.
    pub(crate) client_key_password: Option<KeyPassword>,
    /// The TLS versions offered when dialling, where they differ from `versions`.
    pub(crate) client_versions: Option<Vec<TlsVersion>>,
    /// The cipher suites accepted from clients (`None`: every suite beamlink implements).
    pub(crate) server_suites: Option<Vec<TlsSuite>>,
    /// The cipher suites offered when dialling (`None`: every suite beamlink implements).
    pub(crate) client_suites: Option<Vec<TlsSuite>>,
}

impl TlsConfig {
    /// The versions spoken unless configured: TLS 1.3 preferred, TLS 1.2 accepted.
    const DEFAULT_VERSIONS: [TlsVersion; 2] = [TlsVersion::Tls13, TlsVersion::Tls12];

    /// Trust the CAs in `ca` (a PEM bundle), present the certificate chain in
    /// `cert` (leaf first) with the private key in `key`.
    pub fn from_files(ca: impl Into<PathBuf>, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig::new(TrustRoots::CaFile(ca.into()), cert.into(), key.into())
    }

    /// Trust the public web PKI; present `cert` with `key`.
    pub fn web_pki(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig::new(TrustRoots::WebPki, cert.into(), key.into())
    }

    fn new(roots: TrustRoots, cert: PathBuf, key: PathBuf) -> TlsConfig {
        TlsConfig {
            cert,
            key,
            roots,
            verify_name: VerifyName::default(),
            versions: TlsConfig::DEFAULT_VERSIONS.to_vec(),
            resumption: false,
            reload_interval: None,
            expiry_warning: DEFAULT_EXPIRY_WARNING,
            crls: Vec::new(),
            crl_dirs: Vec::new(),
            allow_unknown_revocation: false,
            enforce_crl_next_update: false,
            client_chain_depth: None,
            server_chain_depth: None,
            client_identity: None,
            key_password: None,
            client_key_password: None,
            client_versions: None,
            server_suites: None,
            client_suites: None,
        }
    }

    /// Takes the certificate, key, trust roots and verification settings from
    /// OTP's `-ssl_dist_optfile`, so a release's Erlang configuration serves
    /// beamlink too.
    ///
    /// Each role takes its own section: the `server` section's `certfile`
    /// and `keyfile` are presented to nodes that dial in, the `client`
    /// section's when dialling ([`TlsConfig::client_certificate`]); a section
    /// without a `certfile` uses the other's, and `keyfile` defaults to its
    /// section's `certfile`, as in OTP. One `cacertfile` serves both roles: a
    /// `client` section naming another one is refused. `versions` (TLS 1.2
    /// and 1.3 only) and `ciphers` are honoured per section. beamlink always verifies both directions, so
    /// `{verify, verify_none}` in either section is refused rather than
    /// silently changed; `{fail_if_no_peer_cert, false}` is overridden (a
    /// client certificate is always required) with a warning. `{depth, N}`
    /// is honoured per role ([`TlsConfig::max_chain_depth`]). Options that
    /// make no difference to beamlink
    /// ([`HARMLESS_OPTIONS`](super::HARMLESS_OPTIONS)) are noted at
    /// info level; any other option beamlink cannot honour, `verify_fun`
    /// among them (except OTP's own `inet_tls_dist:verify_client/3` marker),
    /// refuses the configuration, naming it. `{crl_check, peer | true}`
    /// with `{crl_cache, {ssl_crl_hash_dir, {internal, [{dir, Dir}]}}}` becomes
    /// [`TlsConfig::crl_hash_dir`] (`best_effort` also allows unknown status);
    /// `crl_check` with any other cache is refused.
    pub fn from_ssl_dist_optfile(path: impl AsRef<Path>) -> Result<TlsConfig, TlsError> {
        TlsConfig::from_ssl_dist_optfile_ignoring(path, &[])
    }

    /// [`TlsConfig::from_ssl_dist_optfile`], leaving out the options named in
    /// `ignore` as [`TlsConfig::from_ssl_dist_options_ignoring`] does.
    pub fn from_ssl_dist_optfile_ignoring(path: impl AsRef<Path>, ignore: &[String]) -> Result<TlsConfig, TlsError> {
        let path = path.as_ref();
        let options = SslDistOptions::read(path)?;
        TlsConfig::from_ssl_dist_options_ignoring(&options, &path.display().to_string(), ignore)
    }

    /// [`TlsConfig::from_ssl_dist_optfile`] for options already parsed; `file`
    /// names their source in errors.
    pub fn from_ssl_dist_options(options: &SslDistOptions, file: &str) -> Result<TlsConfig, TlsError> {
        TlsConfig::from_ssl_dist_options_ignoring(options, file, &[])
    }

    /// [`TlsConfig::from_ssl_dist_options`], except that the options named in
    /// `ignore` are left out even though beamlink cannot honour them (e.g.
    /// `verify_fun`, which is Erlang code): the operator takes the risk
    /// knowingly, and each one is logged at warn level every time. Any other
    /// option beamlink cannot honour still refuses the configuration.
    pub fn from_ssl_dist_options_ignoring(
        options: &SslDistOptions,
        file: &str,
        ignore: &[String],
    ) -> Result<TlsConfig, TlsError> {
        let fail = |problem| TlsError::Optfile(OptfileError { file: file.to_string(), problem });
        for unhonoured in &options.unhonoured {
            if ignore.contains(&unhonoured.option) {
                tracing::warn!(
                    optfile = file,
                    section = unhonoured.section,
                    option = %unhonoured.option,
                    reason = %unhonoured.reason,
                    "an option beamlink cannot honour is ignored as the operator asked"
                );
                continue;
            }
            return Err(fail(OptfileProblem::Unsupported {
                section: unhonoured.section,
                option: unhonoured.option.clone(),
                line: unhonoured.line,
                reason: format!(
                    "{}; remove it, or start with --ignore-optfile-option {} to run without it knowingly",
                    unhonoured.reason, unhonoured.option
                ),
            }));
        }
        let (server, client) = (&options.server, &options.client);
        for (section, side) in [("server", server), ("client", client)] {
            if side.verify == Some(PeerVerify::VerifyNone) {
                return Err(fail(OptfileProblem::Unsupported {
                    section,
                    option: "verify".into(),
                    line: None,
                    reason: "verify_none would accept any peer; beamlink always verifies peers' certificates, \
                             so set {verify, verify_peer}"
                        .into(),
                }));
            }
        }
        // Each role presents its own section's certificate, or the other
        // section's when its own names none; a keyfile defaults to its
        // section's certfile, as in OTP.
        let identity =
            |side: &SideOptions| side.certfile.clone().map(|cert| (cert.clone(), side.keyfile.clone().unwrap_or(cert)));
        let client_identity = identity(client);
        let accepting = identity(server).or_else(|| client_identity.clone());
        let (cert, key) = accepting.ok_or_else(|| fail(OptfileProblem::Missing { option: "certfile" }))?;
        let ca = server.cacertfile.clone().or_else(|| client.cacertfile.clone());
        let ca = ca.ok_or_else(|| fail(OptfileProblem::Missing { option: "cacertfile" }))?;
        let mut config = TlsConfig::from_files(ca, cert.clone(), key.clone());
        // Each section's password unlocks the key that section names; a
        // shared key takes whichever section gives one.
        let (server_password, client_password) = (server.password.clone(), client.password.clone());
        if let Some((client_cert, client_key)) = client_identity.filter(|dialling| *dialling != (cert, key)) {
            config = config.client_certificate(client_cert, client_key);
            config.key_password = server_password;
            config.client_key_password = client_password;
        } else {
            config.key_password = server_password.or(client_password);
        }
        // Versions and suites per role; a section without them takes the default.
        let accepting = server.versions.clone().unwrap_or_else(|| TlsConfig::DEFAULT_VERSIONS.to_vec());
        let dialling = client.versions.clone().unwrap_or_else(|| TlsConfig::DEFAULT_VERSIONS.to_vec());
        config.client_versions = (dialling != accepting).then_some(dialling);
        config.versions = accepting;
        config.server_suites = server.ciphers.clone();
        config.client_suites = client.ciphers.clone();
        apply_crl_options(&mut config, server, client).map_err(fail)?;
        if server.fail_if_no_peer_cert == Some(false) {
            tracing::warn!(
                optfile = file,
                "{{fail_if_no_peer_cert, false}} is overridden: beamlink always requires a client certificate"
            );
        }
        // OTP's `depth` in a section limits the chains of the peers that
        // section's role verifies: the server section's, clients'.
        config.client_chain_depth = server.depth;
        config.server_chain_depth = client.depth;
        for option in &options.ignored {
            tracing::info!(optfile = file, "makes no difference to beamlink, left alone: {option}");
        }
        Ok(config)
    }

    /// The most intermediate CA certificates a peer's chain may hold between
    /// its own certificate and a trusted root (OTP's `depth`; a
    /// self-issued certificate, such as a root sent along, does not count),
    /// for the clients this node accepts and the servers it dials. Default:
    /// no limit beyond the verifier's own.
    pub fn max_chain_depth(mut self, clients: Option<usize>, servers: Option<usize>) -> Self {
        self.client_chain_depth = clients;
        self.server_chain_depth = servers;
        self
    }

    /// The node-name policy applied after the distribution handshake (default strict).
    pub fn verify_name(mut self, policy: VerifyName) -> Self {
        self.verify_name = policy;
        self
    }

    /// Replaces the trust roots.
    pub fn trust(mut self, roots: TrustRoots) -> Self {
        self.roots = roots;
        self
    }

    /// The TLS versions to speak, most preferred first (default TLS 1.3, TLS 1.2).
    pub fn versions(mut self, versions: &[TlsVersion]) -> Self {
        self.versions = versions.to_vec();
        self.client_versions = None;
        self
    }

    /// The certificate (chain) and key this node presents when it dials a
    /// peer, where they differ from the ones it accepts connections with
    /// (OTP's `client` section; e.g. a certificate whose extended key usage
    /// allows only clientAuth). Both must name the same node. Default: the
    /// same certificate for both roles.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_identity = Some((cert.into(), key.into()));
        self
    }

    /// The password that decrypts the private key when it is encrypted
    /// (PKCS#8 PBES2, or OpenSSL's traditional `Proc-Type: 4,ENCRYPTED`), and
    /// the key of [`TlsConfig::client_certificate`] too unless
    /// [`TlsConfig::client_key_password`] is set. Default: none; an
    /// encrypted key then fails to load with a message saying so.
    pub fn key_password(mut self, password: KeyPassword) -> Self {
        self.key_password = Some(password);
        self
    }

    /// The password of the key given with [`TlsConfig::client_certificate`],
    /// where it differs from [`TlsConfig::key_password`].
    pub fn client_key_password(mut self, password: KeyPassword) -> Self {
        self.client_key_password = Some(password);
        self
    }

    /// Restricts the cipher suites, in both roles, to these (default: every
    /// [`TlsSuite`]: the TLS 1.3 suites and TLS 1.2's ECDHE suites with AEAD
    /// ciphers). An empty list leaves the default.
    pub fn cipher_suites(mut self, suites: &[TlsSuite]) -> Self {
        let suites = (!suites.is_empty()).then(|| suites.to_vec());
        self.server_suites = suites.clone();
        self.client_suites = suites;
        self
    }

    /// Allows TLS session resumption (default off). Resumed connections skip
    /// the certificate exchange and trust the chain verified when the session
    /// was made; after a reload only new sessions are made.
    pub fn session_resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// Polls the certificate, key, CA and CRL files this often and reloads when
    /// they change (default `None`: reload only when asked). The poll runs on
    /// the Tokio runtime that first uses the transport.
    pub fn reload_interval(mut self, interval: Option<Duration>) -> Self {
        self.reload_interval = interval.map(|d| d.max(Duration::from_millis(10)));
        self
    }

    /// Warn when the node's certificate expires within this long (default 30 days).
    pub fn expiry_warning(mut self, ahead: Duration) -> Self {
        self.expiry_warning = ahead;
        self
    }

    /// Checks peers' certificates against the certificate revocation list(s)
    /// in `path` (PEM `X509 CRL` blocks, or one DER CRL); call it once per
    /// file. Re-read on reload and by the file poll, like the other files.
    ///
    /// With at least one CRL given, both sides check the peer's end-entity
    /// certificate: one its issuer's CRL lists is refused, and so is one
    /// whose issuer has no CRL among those given (its status is unknown)
    /// unless [`TlsConfig::allow_unknown_revocation_status`] says otherwise.
    /// A CRL past its nextUpdate is still used (with a warning) unless
    /// [`TlsConfig::enforce_crl_next_update`] is set. Without any CRL no
    /// revocation check is made.
    pub fn crl_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.crls.push(path.into());
        self
    }

    /// Checks peers' certificates against every CRL in the hash directory
    /// `dir`: the files named `HASH.rN` (8 hex digits, `.r`, a number), the
    /// layout of OTP's `ssl_crl_hash_dir` and OpenSSL's `-CRLpath`, such as
    /// the `crl.d` of a `beamlink certs` folder. Read like [`TlsConfig::crl_file`]s;
    /// files added or replaced later are picked up by reload and the file poll.
    pub fn crl_hash_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crl_dirs.push(dir.into());
        self
    }

    /// Accepts a peer whose certificate's issuer has no CRL among those given
    /// (default `false`: refused, its revocation status being unknown). For
    /// a CA bundle where only some CAs publish CRLs.
    pub fn allow_unknown_revocation_status(mut self, allow: bool) -> Self {
        self.allow_unknown_revocation = allow;
        self
    }

    /// Refuses peers whose issuer's CRL is past its nextUpdate (default
    /// `false`: a stale CRL is used, and warned about). Strict, but a CRL
    /// that is not refreshed in time then locks out every node of its CA.
    pub fn enforce_crl_next_update(mut self, enforce: bool) -> Self {
        self.enforce_crl_next_update = enforce;
        self
    }

    /// The CRL files, in the order given.
    pub fn crl_paths(&self) -> &[PathBuf] {
        &self.crls
    }

    /// The CRL hash directories, in the order given.
    pub fn crl_hash_dirs(&self) -> &[PathBuf] {
        &self.crl_dirs
    }

    /// The certificate (chain) file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// The certificate and key files presented when dialling, where they
    /// differ from [`TlsConfig::cert_path`] and [`TlsConfig::key_path`].
    pub fn client_certificate_paths(&self) -> Option<(&Path, &Path)> {
        self.client_identity.as_ref().map(|(cert, key)| (cert.as_path(), key.as_path()))
    }

    /// The trust roots.
    pub fn trust_roots(&self) -> &TrustRoots {
        &self.roots
    }

    /// The node-name policy.
    pub fn name_policy(&self) -> VerifyName {
        self.verify_name
    }
}

/// `crl_check` and `crl_cache` (server section first, as for the files).
/// Only a hash-directory cache can be read; any other cache with the check
/// on is refused, since ignoring it would silently drop the check.
fn apply_crl_options(config: &mut TlsConfig, server: &SideOptions, client: &SideOptions) -> Result<(), OptfileProblem> {
    let (section, check) = match (server.crl_check, client.crl_check) {
        (Some(check), _) if check != CrlCheck::Off => ("server", check),
        (_, Some(check)) if check != CrlCheck::Off => ("client", check),
        _ => return Ok(()),
    };
    let cache = server.crl_cache.as_ref().or(client.crl_cache.as_ref());
    match cache {
        Some(CrlCache::HashDir(dir)) => config.crl_dirs.push(dir.clone()),
        other => {
            let found = match other {
                Some(CrlCache::Other(text)) => format!("the crl_cache {text}"),
                _ => "no crl_cache (OTP's default fetches CRLs from the certificates' distribution points)".into(),
            };
            return Err(OptfileProblem::Unsupported {
                section,
                option: "crl_check".into(),
                line: None,
                reason: format!(
                    "beamlink reads CRLs from files (--crl) or from a hash directory, \
                     {{crl_cache, {{ssl_crl_hash_dir, {{internal, [{{dir, Dir}}]}}}}}}, but found {found}"
                ),
            });
        }
    }
    match check {
        CrlCheck::BestEffort => config.allow_unknown_revocation = true,
        CrlCheck::Chain => tracing::info!(
            "{{crl_check, true}}: beamlink checks the revocation of the peer's own certificate, as {{crl_check, peer}} does"
        ),
        CrlCheck::Peer | CrlCheck::Off => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(text: &str) -> SslDistOptions {
        SslDistOptions::parse(text, "t.conf").unwrap()
    }

    #[test]
    fn each_role_takes_its_own_section_or_else_the_other_and_keyfile_defaults_to_certfile() {
        let both = options(
            r#"[{server, [{certfile, "/s.pem"}, {keyfile, "/s.key"}]},
                {client, [{certfile, "/c.pem"}, {cacertfile, "/ca.pem"}, {versions, ['tlsv1.2']}]}]."#,
        );
        let config = TlsConfig::from_ssl_dist_options(&both, "t.conf").unwrap();
        assert_eq!(config.cert, Path::new("/s.pem"));
        assert_eq!(config.key, Path::new("/s.key"));
        assert_eq!(config.roots, TrustRoots::CaFile("/ca.pem".into()));
        assert_eq!(config.versions, [TlsVersion::Tls13, TlsVersion::Tls12], "the server section has no versions");
        assert_eq!(config.client_versions.as_deref(), Some(&[TlsVersion::Tls12][..]), "the client section's");
        assert_eq!(config.client_certificate_paths(), Some((Path::new("/c.pem"), Path::new("/c.pem"))));
        assert_eq!(config.verify_name, VerifyName::Strict);

        let combined = options(r#"[{client, [{certfile, "/both.pem"}, {cacertfile, "/ca.pem"}]}]."#);
        let config = TlsConfig::from_ssl_dist_options(&combined, "t.conf").unwrap();
        assert_eq!(config.key, Path::new("/both.pem"));
        assert_eq!(config.versions, [TlsVersion::Tls13, TlsVersion::Tls12]);
    }

    #[test]
    fn missing_files_and_verify_none_are_refused_with_the_reason() {
        let cases = [
            (r#"[{server, [{cacertfile, "/ca.pem"}]}]."#, "t.conf: certfile is in neither the server nor the client"),
            (r#"[{server, [{certfile, "/c.pem"}]}]."#, "t.conf: cacertfile is in neither"),
            (
                r#"[{server, [{certfile, "/c"}, {cacertfile, "/ca"}]}, {client, [{verify, verify_none}]}]."#,
                "client option verify: verify_none would accept any peer",
            ),
        ];
        for (text, needle) in cases {
            let err = TlsConfig::from_ssl_dist_options(&options(text), "t.conf").unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn crl_options_become_a_hash_directory_or_are_refused() {
        let base = r#"{certfile, "/c.pem"}, {cacertfile, "/ca.pem"}"#;
        let with = |extra: &str| options(&format!("[{{server, [{base}, {extra}]}}]."));
        let dir = r#"{crl_cache, {ssl_crl_hash_dir, {internal, [{dir, "/pki/crl.d"}]}}}"#;

        let config = TlsConfig::from_ssl_dist_options(&with(&format!("{{crl_check, peer}}, {dir}")), "t").unwrap();
        assert_eq!(config.crl_hash_dirs(), [PathBuf::from("/pki/crl.d")]);
        assert!(!config.allow_unknown_revocation);
        let config = TlsConfig::from_ssl_dist_options(&with(&format!("{{crl_check, best_effort}}, {dir}")), "t");
        assert!(config.unwrap().allow_unknown_revocation);
        let config = TlsConfig::from_ssl_dist_options(&with(&format!("{{crl_check, false}}, {dir}")), "t").unwrap();
        assert!(config.crl_hash_dirs().is_empty(), "the check is off");

        for extra in ["{crl_check, true}", "{crl_check, peer}, {crl_cache, {ssl_crl_cache, {internal, [{http, 1}]}}}"] {
            let err = TlsConfig::from_ssl_dist_options(&with(extra), "t.conf").unwrap_err().to_string();
            assert!(err.contains("server option crl_check: beamlink reads CRLs from files (--crl)"), "{extra}: {err}");
        }
    }

    #[test]
    fn setters_clamp_nonsense() {
        let config =
            TlsConfig::from_files("a", "b", "c").reload_interval(Some(Duration::ZERO)).session_resumption(true);
        assert_eq!(config.reload_interval, Some(Duration::from_millis(10)));
        assert!(config.resumption);
        assert_eq!(TlsConfig::web_pki("c", "k").roots, TrustRoots::WebPki);
        let config = TlsConfig::from_files("a", "b", "c").crl_file("one.pem").crl_file("two.crl");
        assert_eq!(config.crl_paths(), [PathBuf::from("one.pem"), PathBuf::from("two.crl")]);
        assert!(!config.allow_unknown_revocation && !config.enforce_crl_next_update);
    }

    #[test]
    fn an_option_beamlink_cannot_honour_refuses_the_configuration_unless_named_to_be_ignored() {
        let text = r#"[{server, [{certfile, "/c.pem"}, {cacertfile, "/ca.pem"}, {depth, 1}]},
                       {client, [{verify_fun, {fun my_mod:check/3, []}}, {depth, 3}]}]."#;
        let err = TlsConfig::from_ssl_dist_options(&options(text), "t.conf").unwrap_err().to_string();
        assert!(err.contains("t.conf") && err.contains("client option verify_fun"), "{err}");
        assert!(err.contains("a peer it would refuse would be let in"), "{err}");
        assert!(err.contains("--ignore-optfile-option verify_fun"), "{err}");

        let other = TlsConfig::from_ssl_dist_options_ignoring(&options(text), "t.conf", &["ciphers".into()]);
        assert!(other.unwrap_err().to_string().contains("verify_fun"), "naming another option does not help");

        let config =
            TlsConfig::from_ssl_dist_options_ignoring(&options(text), "t.conf", &["verify_fun".into()]).unwrap();
        assert_eq!((config.client_chain_depth, config.server_chain_depth), (Some(1), Some(3)), "depth per role");
    }
}
