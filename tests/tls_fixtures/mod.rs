//! Shared by the `tls_*` tests: a throwaway PKI made with the `certs`
//! library, TLS nodes, and captured log output to check refusal messages.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use beamlink::certs::{CaOptions, IssueOptions, NodeFiles, erlang_config, init_ca, issue};
use beamlink::node::NodeBuilder;
use beamlink::pki::CertInfo;
use beamlink::transport::tls::{TlsConfig, TlsTransport};

use crate::common;
use crate::common::erl::{ErlName, ErlNode, ErlOptions};
use crate::common::rust::TestNode;

pub const DAY: Duration = Duration::from_secs(86_400);

/// A cluster CA in a temporary folder, and the node certificates it issues.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA in a new temporary folder.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        init_ca(&CaOptions::new(dir.path())).expect("init_ca");
        Pki { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir().join("ca.pem")
    }

    /// Issues (or re-issues) the standard certificate for `node`.
    pub fn issue(&self, node: &str) -> NodeFiles {
        self.issue_with(node, |o| o)
    }

    /// Issues a certificate for `node` with options adjusted by `adjust` (always replacing existing files).
    pub fn issue_with(&self, node: &str, adjust: impl FnOnce(IssueOptions) -> IssueOptions) -> NodeFiles {
        issue(&adjust(IssueOptions::new(self.dir(), node)).force(true)).expect("issue")
    }

    /// The certificate and key files of `node`.
    pub fn files(&self, node: &str) -> (PathBuf, PathBuf) {
        beamlink::certs::node_files(self.dir(), node)
    }

    /// A TLS configuration presenting `node`'s certificate and trusting this CA.
    pub fn config(&self, node: &str) -> TlsConfig {
        let (cert, key) = self.files(node);
        TlsConfig::from_files(self.ca(), cert, key)
    }

    /// [`Pki::config`] as a transport.
    pub fn transport(&self, node: &str) -> TlsTransport {
        TlsTransport::new(self.config(node)).expect("TLS transport")
    }

    /// The CA's CRL, `DIR/crl.pem` (made by [`Pki::revoke`] or [`Pki::empty_crl`]).
    pub fn crl(&self) -> PathBuf {
        beamlink::certs::crl_path(self.dir())
    }

    /// Revokes `node`'s current certificate; returns the CRL path.
    pub fn revoke(&self, node: &str) -> PathBuf {
        beamlink::certs::revoke(&beamlink::certs::RevokeOptions::new(self.dir(), node)).expect("revoke").path
    }

    /// Makes (or refreshes) the CA's CRL without revoking anything; returns its path.
    pub fn empty_crl(&self) -> PathBuf {
        beamlink::certs::update_crl(&beamlink::certs::CrlOptions::new(self.dir())).expect("update_crl").path
    }

    /// Writes `node`'s `-ssl_dist_optfile` with `beamlink::certs::erlang_config`; returns its path.
    pub fn optfile(&self, node: &str) -> PathBuf {
        let config = erlang_config(self.dir(), node).expect("erlang_config");
        config.write(true).expect("write optfile");
        config.optfile_path
    }
}

/// The serial a certificate file's leaf carries.
pub fn serial_of(path: &Path) -> String {
    CertInfo::from_file(path).expect("read certificate").serial
}

/// A node named `name` on TLS transport `tls`, registered with the EPMD on `epmd_port`.
pub fn tls_node(
    name: &str,
    epmd_port: u16,
    tls: &TlsTransport,
    configure: impl FnOnce(NodeBuilder) -> NodeBuilder,
) -> TestNode {
    let tls = tls.clone();
    TestNode::start(name, COOKIE, epmd_port, move |b| configure(b.transport(tls)))
}

/// A TLS node that only dials (no listener, no EPMD registration).
pub fn tls_client(name: &str, epmd_port: u16, tls: &TlsTransport) -> TestNode {
    tls_node(name, epmd_port, tls, |b| b.no_listen().hidden(true).connect_timeout(Duration::from_secs(5)))
}

/// The cookie every TLS test node uses.
pub const COOKIE: &str = "tls_test_cookie";

/// A unique short node name `PREFIX_<pid>_<n>@localhost`.
pub fn short(prefix: &str) -> String {
    format!("{}@localhost", common::unique_name(prefix))
}

/// Asserts that a fresh node with a good certificate reaches `server` (the node is still healthy).
pub fn good_peer_reaches(pki: &Pki, server: &str, epmd_port: u16) {
    let name = short("good");
    pki.issue(&name);
    let client = tls_client(&name, epmd_port, &pki.transport(&name));
    let outcome = client.run(Duration::from_secs(20), client.node.ping_detailed(server));
    assert!(outcome.is_ok(), "a good peer could not reach {server}: {outcome:?}\nlogs:\n{}", logs());
}

/// Now plus or minus whole days.
pub fn days_from_now(days: i64) -> SystemTime {
    let span = DAY * days.unsigned_abs() as u32;
    if days >= 0 { SystemTime::now() + span } else { SystemTime::now() - span }
}

/// A log writer that appends to a shared buffer.
#[derive(Clone)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,beamlink=info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
}

/// Captures the log output of this thread only, at `filter` (e.g.
/// `beamlink=debug`), until the guard drops; read it with [`read_capture`].
pub fn capture_thread_logs(filter: &str) -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<u8>>>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), buffer)
}

/// The text in a buffer from [`capture_thread_logs`].
pub fn read_capture(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Starts capturing this process's log output (call before anything logs).
pub fn capture_logs() {
    capture();
}

/// Everything logged so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&capture().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Waits (bounded) for a log line containing every one of `needles`; returns it.
pub fn wait_log(needles: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = logs();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        if Instant::now() >= deadline {
            panic!("no log line containing {needles:?} within {timeout:?}; logs:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A stock erl node `alive@localhost` running TLS distribution with
/// `optfile`, cookie [`COOKIE`], registered with the EPMD on `epmd_port`.
pub fn erl_tls_node(alive: String, epmd_port: u16, optfile: &Path) -> ErlNode {
    ErlNode::start(ErlOptions {
        name: ErlName::Short(alive),
        cookie: COOKIE.into(),
        epmd_port,
        extra_args: vec![
            "-proto_dist".into(),
            "inet_tls".into(),
            "-ssl_dist_optfile".into(),
            optfile.to_str().expect("a UTF-8 path").into(),
        ],
    })
}
