//! What the TLS transport is configured with: this node's certificate and
//! key, the trust roots, the node-name policy, and a few knobs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{OptfileError, OptfileProblem, TlsError};
use super::optfile::{PeerVerify, SslDistOptions};
use crate::pki::VerifyName;

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
/// handshake and re-verifies the peer's chain); a 5-second TLS handshake
/// limit; no file polling (call [`TlsTransport::reload`](super::TlsTransport::reload),
/// or set [`TlsConfig::reload_interval`]); at most 128 incoming TLS
/// handshakes in progress; an expiry warning 30 days ahead.
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
    pub(crate) handshake_timeout: Duration,
    pub(crate) reload_interval: Option<Duration>,
    pub(crate) max_pending_handshakes: usize,
    pub(crate) expiry_warning: Duration,
}

impl TlsConfig {
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
            versions: vec![TlsVersion::Tls13, TlsVersion::Tls12],
            resumption: false,
            handshake_timeout: Duration::from_secs(5),
            reload_interval: None,
            max_pending_handshakes: 128,
            expiry_warning: DEFAULT_EXPIRY_WARNING,
        }
    }

    /// Takes the certificate, key, trust roots and verification settings from
    /// OTP's `-ssl_dist_optfile`, so a release's Erlang configuration serves
    /// beamlink too.
    ///
    /// `certfile`, `keyfile` and `cacertfile` come from the `server` section,
    /// or from the `client` section where the server section lacks them;
    /// `keyfile` defaults to `certfile`, as in OTP. `versions` is honoured
    /// (TLS 1.2 and 1.3 only). beamlink always verifies both directions, so
    /// `{verify, verify_none}` in either section is refused rather than
    /// silently changed; `{fail_if_no_peer_cert, false}` is overridden (a
    /// client certificate is always required) with a warning. Options beamlink
    /// does not apply are logged at warn level.
    pub fn from_ssl_dist_optfile(path: impl AsRef<Path>) -> Result<TlsConfig, TlsError> {
        let path = path.as_ref();
        let options = SslDistOptions::read(path)?;
        TlsConfig::from_ssl_dist_options(&options, &path.display().to_string())
    }

    /// [`TlsConfig::from_ssl_dist_optfile`] for options already parsed; `file`
    /// names their source in errors.
    pub fn from_ssl_dist_options(options: &SslDistOptions, file: &str) -> Result<TlsConfig, TlsError> {
        let fail = |problem| TlsError::Optfile(OptfileError { file: file.to_string(), problem });
        let (server, client) = (&options.server, &options.client);
        for (section, side) in [("server", server), ("client", client)] {
            if side.verify == Some(PeerVerify::VerifyNone) {
                return Err(fail(OptfileProblem::Unsupported {
                    section,
                    option: "verify".into(),
                    reason: "verify_none would accept any peer; beamlink always verifies peers' certificates, \
                             so set {verify, verify_peer}"
                        .into(),
                }));
            }
        }
        let cert = server.certfile.clone().or_else(|| client.certfile.clone());
        let cert = cert.ok_or_else(|| fail(OptfileProblem::Missing { option: "certfile" }))?;
        let key = server.keyfile.clone().or_else(|| client.keyfile.clone()).unwrap_or_else(|| cert.clone());
        let ca = server.cacertfile.clone().or_else(|| client.cacertfile.clone());
        let ca = ca.ok_or_else(|| fail(OptfileProblem::Missing { option: "cacertfile" }))?;
        let mut config = TlsConfig::from_files(ca, cert, key);
        if let Some(versions) = server.versions.clone().or_else(|| client.versions.clone()) {
            config.versions = versions;
        }
        if server.fail_if_no_peer_cert == Some(false) {
            tracing::warn!(
                optfile = file,
                "{{fail_if_no_peer_cert, false}} is overridden: beamlink always requires a client certificate"
            );
        }
        for option in &options.ignored {
            tracing::warn!(optfile = file, "not applied by beamlink: {option}");
        }
        Ok(config)
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
        self
    }

    /// Allows TLS session resumption (default off). Resumed connections skip
    /// the certificate exchange and trust the chain verified when the session
    /// was made; after a reload only new sessions are made.
    pub fn session_resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// How long the TLS handshake itself may take (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Polls the certificate, key and CA files this often and reloads when
    /// they change (default `None`: reload only when asked). The poll runs on
    /// the Tokio runtime that first uses the transport.
    pub fn reload_interval(mut self, interval: Option<Duration>) -> Self {
        self.reload_interval = interval.map(|d| d.max(Duration::from_millis(10)));
        self
    }

    /// How many incoming TLS handshakes may be in progress at once (default
    /// 128); connections beyond that are closed at once.
    pub fn max_pending_handshakes(mut self, limit: usize) -> Self {
        self.max_pending_handshakes = limit.max(1);
        self
    }

    /// Warn when the node's certificate expires within this long (default 30 days).
    pub fn expiry_warning(mut self, ahead: Duration) -> Self {
        self.expiry_warning = ahead;
        self
    }

    /// The certificate (chain) file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.key
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(text: &str) -> SslDistOptions {
        SslDistOptions::parse(text, "t.conf").unwrap()
    }

    #[test]
    fn server_section_first_client_as_fallback_and_keyfile_defaults_to_certfile() {
        let both = options(
            r#"[{server, [{certfile, "/s.pem"}, {keyfile, "/s.key"}]},
                {client, [{certfile, "/c.pem"}, {cacertfile, "/ca.pem"}, {versions, ['tlsv1.2']}]}]."#,
        );
        let config = TlsConfig::from_ssl_dist_options(&both, "t.conf").unwrap();
        assert_eq!(config.cert, Path::new("/s.pem"));
        assert_eq!(config.key, Path::new("/s.key"));
        assert_eq!(config.roots, TrustRoots::CaFile("/ca.pem".into()));
        assert_eq!(config.versions, [TlsVersion::Tls12]);
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
    fn setters_clamp_nonsense() {
        let config = TlsConfig::from_files("a", "b", "c")
            .max_pending_handshakes(0)
            .reload_interval(Some(Duration::ZERO))
            .session_resumption(true);
        assert_eq!(config.max_pending_handshakes, 1);
        assert_eq!(config.reload_interval, Some(Duration::from_millis(10)));
        assert!(config.resumption);
        assert_eq!(TlsConfig::web_pki("c", "k").roots, TrustRoots::WebPki);
    }
}
