//! Mutual TLS (feature `tls`): OTP's `inet_tls_dist` carrier, with rustls.
//!
//! Protocol background: OTP's *Using TLS for Erlang Distribution* (SSL User's Guide). The layering
//! is OTP's: EPMD lookups stay plain; a TCP connection (dialler = TLS client,
//! acceptor = TLS server); the TLS handshake; then the distribution handshake
//! inside TLS with **4-byte** length prefixes ([`LengthPrefix::U32`]), and
//! connected-mode packets as usual. Cookies are still checked.
//!
//! ## Who is trusted
//!
//! Both sides authenticate. The accepting side requires a client certificate
//! that chains to the trust roots and allows clientAuth; the connecting side
//! checks the server's chain (serverAuth) and that the certificate is good
//! for the host part of the node name it dialled, as OTP's client does. For
//! an IP-literal host (`x@127.0.0.1`) OTP matches only a dNSName spelled as
//! the address and rustls only an iPAddress entry; either is accepted here.
//! Trust roots are a CA bundle file ([`TrustRoots::CaFile`]; several CAs in
//! it are all trusted, for rotating the cluster CA) or the public web PKI
//! ([`TrustRoots::WebPki`]).
//!
//! After both handshakes, [`Transport::authorize`] binds the node name the
//! peer claimed to its certificate, something OTP does not enforce, under a
//! [`VerifyName`] policy: `strict` (default; the full `alive@host` must be one
//! of [`CertInfo::node_names`]), `host` (only the host must match), `none`
//! (chain only). A node presenting `alice@host`'s certificate while calling
//! itself `mallory@host` is refused with an error naming both.
//!
//! ## Interoperability with OTP
//!
//! - TLS 1.3 is preferred and TLS 1.2 accepted: OTP 25's TLS distribution
//!   offers only TLS 1.2 unless its optfile sets `versions`. Only AEAD suites
//!   (rustls' defaults); ECDSA, RSA and Ed25519 certificates.
//! - Erlang clients send the host part of the node name as SNI, also for
//!   single-label hosts (`-sname x@localhost`) and IP literals
//!   (`-name x@127.0.0.1`). A literal IP in SNI is not allowed by RFC 6066;
//!   rustls since its pull request 1881 (spring 2024; the locked release has
//!   it, and a test with `openssl s_client -servername 127.0.0.1` guards it)
//!   parses it and proceeds as if no SNI had been sent. That is right here:
//!   a node has one certificate whatever name it is reached by, so no
//!   SNI-based certificate choice is made and no custom resolver is needed.
//! - [`TlsConfig::from_ssl_dist_optfile`] reads OTP's own `-ssl_dist_optfile`.
//!
//! ## Sessions, reload and expiry
//!
//! Session resumption is off by default: every connection runs a full
//! handshake, so every peer chain is verified against the trust roots in
//! force at that moment (a knob turns it on). [`TlsTransport::reload`]
//! re-reads the certificate, key and CA files and swaps the configuration
//! used by *new* connections; established ones keep running on theirs.
//! [`TlsConfig::reload_interval`] makes the transport poll the files and
//! reload on its own. [`TlsTransport::cert_expires_in`] reports how long the
//! node's certificate has left; a warning is logged when that is under 30
//! days (configurable) at load and reload time, and daily while polling.
//!
//! ## Revocation
//!
//! [`TlsConfig::crl_file`] (repeatable; PEM or DER) turns on revocation
//! checks of the peer's end-entity certificate on both sides: a certificate
//! its issuer's CRL lists is refused, and so, by default, is one whose issuer
//! has no CRL among those given (its status is unknown;
//! [`TlsConfig::allow_unknown_revocation_status`] lets it in). Each CRL must
//! be signed by the trusted CA it names; of several CRLs from one CA the
//! newest (highest cRLNumber) is used. CRL files are re-read by reload and
//! the file poll like the other files, so a revocation reaches *new*
//! connections without a restart; established connections are not cut.
//! A CRL past its nextUpdate is still used, with a warning, unless
//! [`TlsConfig::enforce_crl_next_update`] is set. `beamlink certs revoke`
//! and `beamlink certs crl` make the CRL of a cluster CA.
//!
//! ## Refusals
//!
//! Every refused connection is logged (by the node) with a reason that says
//! what to fix: the refused certificate's subject, serial, issuer and
//! fingerprint, and whether its CA is unknown, it expired or is not yet
//! valid, lacks clientAuth, does not name the dialled host, is revoked (and
//! by which CRL), has no CRL for its issuer, or does not vouch for the
//! claimed node name; a plain-TCP peer on a TLS port (and the other
//! way round) is named as such.
//!
//! ```no_run
//! use beamlink::node::Node;
//! use beamlink::transport::tls::{TlsConfig, TlsTransport};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsTransport::new(TlsConfig::from_files("pki/ca.pem", "pki/a@host.pem", "pki/a@host.key"))?;
//! let node = Node::builder("a@host").cookie("secret").transport(tls.clone()).start().await?;
//! println!("certificate expires in {:?}", tls.cert_expires_in());
//! // Later, after the files were replaced:
//! tls.reload()?;
//! # Ok(()) }
//! ```

mod config;
mod crl;
mod diagnose;
mod error;
mod material;
mod optfile;
mod stream;
mod suites;
mod verify;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

pub use config::{DEFAULT_EXPIRY_WARNING, TlsConfig, TlsVersion, TrustRoots};
pub use crl::{
    CrlInfo, MAX_CRL_FILE_BYTES, RevocationReason, RevokedCert, UnknownRevocationReason, load_crls, parse_crls,
};
pub use error::{OptfileError, OptfileProblem, TlsError};
pub use optfile::{
    CrlCache, CrlCheck, HARMLESS_OPTIONS, MAX_OPTFILE_BYTES, PeerVerify, SideOptions, SslDistOptions, Unhonoured,
};
pub use suites::TlsSuite;

use self::material::{FileStamps, Loaded};
use self::stream::TlsConn;
use self::verify::{PeerRole, RejectionSlot};
use super::tcp::{TcpAcceptor, connect_tcp_within};
use super::{BoxFuture, Established, Incoming, Listener, PeerIdentity, SetupTimeouts, Transport, TransportError};
use crate::pki::{CertInfo, IdentityError, VerifyName};
use crate::proto::NodeName;
use crate::proto::frame::LengthPrefix;

/// The mutual-TLS transport. Cheap to clone; clones share the configuration,
/// so keep one to call [`TlsTransport::reload`] after handing another to the node.
#[derive(Clone)]
pub struct TlsTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leaf = self.shared.current().leaf.clone();
        f.debug_struct("TlsTransport")
            .field("certificate", &leaf.subject)
            .field("serial", &leaf.serial)
            .field("trust", &self.shared.config.roots)
            .field("verify_name", &self.shared.config.verify_name)
            .finish()
    }
}

struct Shared {
    config: TlsConfig,
    current: RwLock<Arc<Loaded>>,
    generation: AtomicU64,
    watch: Mutex<WatchState>,
    watcher_started: AtomicBool,
}

struct WatchState {
    /// The files as last seen by the poll (or read by a reload).
    seen: FileStamps,
    last_expiry_warning: Option<Instant>,
}

impl TlsTransport {
    /// Reads the files `config` names and builds the transport. Fails with an
    /// error naming the file when one is missing, malformed, or the key does
    /// not belong to the certificate.
    pub fn new(config: TlsConfig) -> Result<TlsTransport, TlsError> {
        let loaded = material::load(&config)?;
        let leaf = loaded.leaf.clone();
        tracing::info!(
            certificate = %leaf.subject,
            serial = %leaf.serial,
            node_names = ?leaf.node_names,
            expires = %crate::utc::format(leaf.not_after),
            trust = %loaded.trust,
            crls = %loaded.trust.crl_list(),
            verify_name = %config.verify_name,
            "TLS distribution configured"
        );
        loaded.own_certificates().for_each(|own| check_own_certificate(own, &config));
        let seen = loaded.stamps.clone();
        let shared = Arc::new(Shared {
            current: RwLock::new(Arc::new(loaded)),
            generation: AtomicU64::new(1),
            watch: Mutex::new(WatchState { seen, last_expiry_warning: Some(Instant::now()) }),
            watcher_started: AtomicBool::new(false),
            config,
        });
        Ok(TlsTransport { shared })
    }

    /// Re-reads the certificate, key and trust roots. New connections use
    /// them; established connections keep running. On failure the previous
    /// material stays in use and the error says which file is at fault.
    /// Returns what the new certificate says.
    pub fn reload(&self) -> Result<CertInfo, TlsError> {
        self.shared.reload("reload requested").map(|leaf| (*leaf).clone())
    }

    /// What this node's current certificate says.
    pub fn certificate(&self) -> CertInfo {
        (*self.shared.current().leaf).clone()
    }

    /// How long until this node's current certificate expires (`None` once it has).
    pub fn cert_expires_in(&self) -> Option<Duration> {
        self.shared.current().leaf.expires_in(SystemTime::now())
    }

    /// How many times the material has been loaded (1 after [`TlsTransport::new`],
    /// plus one per successful reload).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The configuration the transport was made with.
    pub fn config(&self) -> &TlsConfig {
        &self.shared.config
    }

    /// Whether this node's own certificate vouches for `node` under the
    /// configured policy, i.e. whether peers using the same policy will
    /// accept this node under that name.
    pub fn check_local_name(&self, node: &str) -> Result<(), IdentityError> {
        let loaded = self.shared.current();
        let policy = self.shared.config.verify_name;
        loaded.leaf.check_node(node, policy).and_then(|()| loaded.client_leaf.check_node(node, policy))
    }

    /// Starts the file poll if [`TlsConfig::reload_interval`] asks for one and
    /// a Tokio runtime is at hand (the node's first listen or connect calls this).
    fn ensure_watcher(&self) {
        let Some(interval) = self.shared.config.reload_interval else { return };
        if self.shared.watcher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.watcher_started.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(&self.shared);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                shared.poll_files();
            }
        });
    }
}

impl Shared {
    fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn reload(&self, why: &str) -> Result<Arc<CertInfo>, TlsError> {
        let loaded = Arc::new(material::load(&self.config)?);
        let leaf = loaded.leaf.clone();
        let stamps = loaded.stamps.clone();
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(|p| p.into_inner()), loaded.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.watch.lock().unwrap_or_else(|p| p.into_inner()).seen = stamps;
        tracing::info!(
            reason = why,
            certificate = %leaf.subject,
            serial = %leaf.serial,
            previous_serial = %old.leaf.serial,
            expires = %crate::utc::format(leaf.not_after),
            trust = %self.current().trust,
            crls = %self.current().trust.crl_list(),
            "TLS material reloaded; new connections use it"
        );
        loaded.own_certificates().for_each(|own| check_own_certificate(own, &self.config));
        Ok(leaf)
    }

    /// One poll: reload when a file changed; repeat the expiry and stale-CRL warnings daily.
    fn poll_files(&self) {
        let now = FileStamps::take(&self.config);
        let changed = {
            let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
            let changed = watch.seen != now;
            watch.seen = now;
            changed
        };
        if changed {
            if let Err(e) = self.reload("the files changed") {
                tracing::warn!(error = %e, "TLS reload failed; connections keep using the previous certificate and trust roots");
            }
            return;
        }
        let current = self.current();
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let due = watch.last_expiry_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(86_400));
        let stale_crl = current.trust.crls.iter().any(|c| c.info.is_stale_at(SystemTime::now()));
        if due && (current.own_certificates().any(|own| expiry_near(own, &self.config)) || stale_crl) {
            watch.last_expiry_warning = Some(Instant::now());
            drop(watch);
            current.own_certificates().for_each(|own| check_own_certificate(own, &self.config));
            material::warn_stale_crls(&current.trust, &self.config, SystemTime::now());
        }
    }

    async fn connect(
        self: Arc<Self>,
        addr: SocketAddr,
        peer: NodeName,
        timeouts: SetupTimeouts,
    ) -> Result<Established, TransportError> {
        let loaded = self.current();
        let name = ServerName::try_from(peer.host().to_string()).map_err(|e| {
            TransportError::Handshake(format!("the host of {peer} cannot be checked against a certificate: {e}"))
        })?;
        let tcp = connect_tcp_within(addr, &peer, timeouts.connect).await?;
        let slot = RejectionSlot::default();
        let handshake = slot.watch(TlsConnector::from(loaded.client.clone()).connect(name, tcp));
        let limit = timeouts.handshake;
        let stream = match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                let why =
                    diagnose::handshake_failure(&e, slot.take(), &loaded.client_leaf, &loaded.trust, PeerRole::Server);
                return Err(TransportError::Handshake(format!("TLS connection to {peer} at {addr}: {why}")));
            }
            Err(_) => {
                return Err(TransportError::Handshake(format!(
                    "TLS connection to {peer} at {addr}: no TLS handshake reply within {limit:?}; it may be a \
                     plain-TCP distribution node (erl without -proto_dist inet_tls, beamlink without --ca/--cert/--key)"
                )));
            }
        };
        let (_, conn) = stream.get_ref();
        let identity = peer_identity(conn.peer_certificates());
        tracing::debug!(
            %peer, %addr,
            version = ?conn.protocol_version(),
            kind = ?conn.handshake_kind(),
            suite = ?conn.negotiated_cipher_suite().map(|s| s.suite()),
            "TLS connection established"
        );
        let label: Arc<str> = Arc::from(peer.to_string());
        let security = session_summary(conn.protocol_version(), conn.negotiated_cipher_suite());
        Ok(Established {
            stream: Box::new(TlsConn::new(TlsStream::Client(stream), label, loaded.client_leaf.clone())),
            peer_addr: Some(addr),
            identity,
            security,
        })
    }

    /// The server side of the TLS handshake; the node bounds how long it may take.
    async fn accept(self: Arc<Self>, tcp: TcpStream, addr: SocketAddr) -> Result<Established, TransportError> {
        let loaded = self.current();
        let stream = async {
            let mut first = [0u8; 3];
            let n = tcp.peek(&mut first).await.map_err(|e| TransportError::io(format!("read from {addr}"), e))?;
            let first = first.get(..n).unwrap_or_default();
            if first.is_empty() {
                return Err(TransportError::Handshake(format!(
                    "TLS client at {addr}: closed the connection before the TLS handshake"
                )));
            }
            if first.first() != Some(&0x16) {
                let why = format!("TLS client at {addr}: {}", diagnose::not_tls(first));
                answer_plain_peer(&tcp).await;
                return Err(TransportError::Handshake(why));
            }
            let slot = RejectionSlot::default();
            slot.watch(TlsAcceptor::from(loaded.server.clone()).accept(tcp)).await.map_err(|e| {
                let rejected = slot.take();
                // A refused or missing client certificate is an authentication
                // failure (the node backs off repeat offenders); anything else
                // (no common version or suite, a hang-up) is not.
                let certificate_problem = rejected.is_some()
                    || matches!(
                        diagnose::rustls_error(&e),
                        Some(rustls::Error::NoCertificatesPresented | rustls::Error::InvalidCertificate(_))
                    );
                let why = diagnose::handshake_failure(&e, rejected, &loaded.leaf, &loaded.trust, PeerRole::Client);
                if certificate_problem {
                    TransportError::Identity(format!("TLS client at {addr}: {why}"))
                } else {
                    TransportError::Handshake(format!("TLS client at {addr}: {why}"))
                }
            })
        }
        .await?;
        let (_, conn) = stream.get_ref();
        let identity = peer_identity(conn.peer_certificates());
        tracing::debug!(
            %addr,
            version = ?conn.protocol_version(),
            kind = ?conn.handshake_kind(),
            suite = ?conn.negotiated_cipher_suite().map(|s| s.suite()),
            "TLS connection accepted"
        );
        let security = session_summary(conn.protocol_version(), conn.negotiated_cipher_suite());
        let label: Arc<str> = Arc::from(format!("the client at {addr}"));
        Ok(Established {
            stream: Box::new(TlsConn::new(TlsStream::Server(stream), label, loaded.leaf.clone())),
            peer_addr: Some(addr),
            identity,
            security,
        })
    }
}

fn peer_identity(chain: Option<&[rustls::pki_types::CertificateDer<'static>]>) -> PeerIdentity {
    let chain: Vec<Vec<u8>> = chain.unwrap_or_default().iter().map(|der| der.as_ref().to_vec()).collect();
    PeerIdentity::Certificate(Arc::new(chain))
}

fn expiry_near(leaf: &CertInfo, config: &TlsConfig) -> bool {
    leaf.expires_in(SystemTime::now()).is_none_or(|left| left < config.expiry_warning)
}

/// Warnings about this node's own certificate: outside its validity, close
/// to expiry, or without the key usages both TLS roles need.
fn check_own_certificate(leaf: &CertInfo, config: &TlsConfig) {
    let now = SystemTime::now();
    let line = diagnose::cert_line(leaf);
    if now < leaf.not_before {
        tracing::warn!(
            "this node's certificate {line} is not valid before {}: peers will refuse it",
            crate::utc::format(leaf.not_before)
        );
    }
    match leaf.expires_in(now) {
        None => tracing::warn!(
            "this node's certificate {line} expired on {}: peers will refuse it; renew it (beamlink certs renew)",
            crate::utc::format(leaf.not_after)
        ),
        Some(left) if left < config.expiry_warning => tracing::warn!(
            expires_in_secs = left.as_secs(),
            "this node's certificate {line} expires in {} (on {}): renew it (beamlink certs renew)",
            diagnose::days(left),
            crate::utc::format(leaf.not_after)
        ),
        Some(_) => {}
    }
    if !leaf.allows_client_auth() || !leaf.allows_server_auth() {
        tracing::warn!(
            "this node's certificate {line} does not allow both serverAuth and clientAuth: peers will refuse it in one direction"
        );
    }
}

impl Transport for TlsTransport {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn handshake_framing(&self) -> LengthPrefix {
        LengthPrefix::U32
    }

    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        self.ensure_watcher();
        Box::pin(async move {
            let listener = crate::transport::tcp::bind_listener(addr)?;
            Ok(Box::new(TlsListener { tcp: TcpAcceptor(listener), shared: self.shared.clone() }) as Box<dyn Listener>)
        })
    }

    fn connect<'a>(
        &'a self,
        addr: SocketAddr,
        peer: &'a NodeName,
        timeouts: SetupTimeouts,
    ) -> BoxFuture<'a, Result<Established, TransportError>> {
        self.ensure_watcher();
        Box::pin(self.shared.clone().connect(addr, peer.clone(), timeouts))
    }

    fn authorize(&self, identity: &PeerIdentity, claimed: &NodeName) -> Result<(), TransportError> {
        let policy = self.shared.config.verify_name;
        let chain = match identity {
            PeerIdentity::Certificate(chain) => chain,
            PeerIdentity::Unverified => {
                return Err(TransportError::Identity(format!("peer {claimed} has no verified certificate")));
            }
        };
        if policy == VerifyName::None {
            return Ok(());
        }
        let Some(leaf) = chain.first() else {
            return Err(TransportError::Identity(format!("peer {claimed} presented no certificate")));
        };
        let info = CertInfo::from_der(leaf)
            .map_err(|e| TransportError::Identity(format!("peer {claimed}: cannot read its certificate: {e}")))?;
        info.check_node(claimed.as_str(), policy).map_err(|e| {
            let fix = match policy {
                // Certificates made for OTP name hosts, not nodes: host
                // binding is what they were made for.
                VerifyName::Strict if info.node_names.is_empty() => format!(
                    "its certificate names no node (as certificates made for OTP do): run this node with \
                     --verify-name host (VerifyName::Host) to accept any node of a host it names, or issue \
                     {claimed} a certificate of its own (beamlink certs issue {claimed})"
                ),
                VerifyName::Strict => format!(
                    "issue {claimed} a certificate of its own (beamlink certs issue {claimed}), or have the peer use \
                     a name its certificate carries"
                ),
                _ => {
                    format!("issue {claimed} a certificate naming its host, or dial it by a host its certificate names")
                }
            };
            TransportError::Identity(format!("{e}; its certificate is {}; {fix}", diagnose::cert_line(&info)))
        })
    }
}

/// A fatal `unexpected_message` alert in a TLS 1.2 record: what OTP's TLS
/// distribution answers to a peer that does not speak TLS.
const UNEXPECTED_MESSAGE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a];

/// Tells a peer that opened without TLS, as OTP does, with a TLS alert: a
/// plain distribution client reads its first bytes as a length and can say
/// that the peer speaks TLS. What the peer already sent is read first (at
/// most 4 KiB, without waiting), so that closing does not reset the
/// connection and discard the alert; the write is bounded too.
async fn answer_plain_peer(tcp: &TcpStream) {
    let mut discard = [0u8; 4096];
    let _ = tcp.try_read(&mut discard);
    let write = async {
        let mut written = 0;
        while written < UNEXPECTED_MESSAGE_ALERT.len() {
            tcp.writable().await?;
            match tcp.try_write(&UNEXPECTED_MESSAGE_ALERT[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(200), write).await;
}

/// A listening socket that hands out connections whose TLS handshake runs in
/// [`Incoming::finish`] (the node bounds how many run at once, and for how long).
struct TlsListener {
    tcp: TcpAcceptor,
    shared: Arc<Shared>,
}

impl Listener for TlsListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.0.local_addr()
    }

    fn accept(&self) -> BoxFuture<'_, io::Result<Incoming>> {
        Box::pin(async move {
            let (tcp, peer_addr) = self.tcp.accept_tcp().await?;
            let finish = self.shared.clone().accept(tcp, peer_addr);
            Ok(Incoming::new(peer_addr, Box::pin(finish)))
        })
    }
}

/// "TLSv1_3 TLS13_AES_128_GCM_SHA256": what protects a connection, for status reports.
fn session_summary(
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
) -> Option<Arc<str>> {
    let version = version?;
    let suite = suite.map(|s| format!(" {:?}", s.suite())).unwrap_or_default();
    Some(Arc::from(format!("{version:?}{suite}")))
}
