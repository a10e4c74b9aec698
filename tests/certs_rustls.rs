//! Certificates made by `beamlink::certs` as rustls (webpki) judges them: the
//! verifiers the TLS transport builds accept the cluster's certificates and
//! refuse another CA's, expired or not-yet-valid ones, a client certificate
//! without clientAuth, and a commonName-only certificate.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use beamlink::certs::{CaOptions, IssueOptions, KeyAlgorithm, KeyPurpose, init_ca, issue};
use beamlink::pki::{CertInfo, VerifyName, load_certs};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, Error, RootCertStore};

const DAY: Duration = Duration::from_secs(86_400);

struct Verifiers {
    server: Arc<WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
}

fn verifiers(ca_pem: &std::path::Path) -> Verifiers {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for der in load_certs(ca_pem).unwrap() {
        roots.add(der).unwrap();
    }
    let roots = Arc::new(roots);
    Verifiers {
        server: WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build().unwrap(),
        client: WebPkiClientVerifier::builder_with_provider(roots, provider).build().unwrap(),
    }
}

fn leaf(path: &std::path::Path) -> CertificateDer<'static> {
    load_certs(path).unwrap().remove(0)
}

impl Verifiers {
    fn as_server(&self, cert: &CertificateDer<'_>, host: &str) -> Result<(), Error> {
        let name = ServerName::try_from(host.to_string()).unwrap();
        self.server.verify_server_cert(cert, &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    fn as_client(&self, cert: &CertificateDer<'_>) -> Result<(), Error> {
        self.client.verify_client_cert(cert, &[], UnixTime::now()).map(|_| ())
    }
}

#[test]
fn cluster_certificates_pass_both_ways_for_every_key_type() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(&CaOptions::new(tmp.path())).unwrap();
    let v = verifiers(&ca.cert);
    for (node, key) in [
        ("p256@localhost", KeyAlgorithm::EcdsaP256),
        ("ed@localhost", KeyAlgorithm::Ed25519),
        ("rsa@localhost", KeyAlgorithm::Rsa { bits: 2048 }),
    ] {
        let files = issue(&IssueOptions::new(tmp.path(), node).key(key)).unwrap();
        let cert = leaf(&files.cert);
        v.as_server(&cert, "localhost").unwrap_or_else(|e| panic!("{node} as server: {e}"));
        v.as_client(&cert).unwrap_or_else(|e| panic!("{node} as client: {e}"));
        let err = v.as_server(&cert, "otherhost").unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{err:?}"
        );
    }

    // An IP-literal node: rustls checks the IP SAN, OTP the dNSName spelled as the address.
    let files = issue(&IssueOptions::new(tmp.path(), "ip@127.0.0.1")).unwrap();
    let cert = leaf(&files.cert);
    v.as_server(&cert, "127.0.0.1").unwrap();
    v.as_client(&cert).unwrap();
    CertInfo::from_der(&cert).unwrap().check_node("ip@127.0.0.1", VerifyName::Strict).unwrap();
}

#[test]
fn a_second_ca_made_the_same_way_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    let ca = init_ca(&CaOptions::new(&ours)).unwrap();
    init_ca(&CaOptions::new(&theirs)).unwrap();
    let v = verifiers(&ca.cert);
    let intruder = leaf(&issue(&IssueOptions::new(&theirs, "alice@localhost")).unwrap().cert);
    for err in [v.as_server(&intruder, "localhost").unwrap_err(), v.as_client(&intruder).unwrap_err()] {
        assert_eq!(err, Error::InvalidCertificate(CertificateError::UnknownIssuer));
    }

    // Even under the same CA name the intruder is refused, though webpki then
    // finds our CA by name and reports the signature instead.
    let twin = tmp.path().join("twin");
    init_ca(&CaOptions::new(&twin).name(ca.info.subject.trim_start_matches("CN="))).unwrap();
    let intruder = leaf(&issue(&IssueOptions::new(&twin, "alice@localhost")).unwrap().cert);
    for err in [v.as_server(&intruder, "localhost").unwrap_err(), v.as_client(&intruder).unwrap_err()] {
        assert_eq!(err, Error::InvalidCertificate(CertificateError::BadSignature));
    }
}

#[test]
fn bad_certificates_from_the_library_knobs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(&CaOptions::new(tmp.path())).unwrap();
    let v = verifiers(&ca.cert);
    let now = SystemTime::now();

    let expired =
        leaf(&issue(&IssueOptions::new(tmp.path(), "old@localhost").validity(now - 9 * DAY, now - DAY)).unwrap().cert);
    let err = v.as_client(&expired).unwrap_err();
    assert!(
        matches!(err, Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })),
        "{err:?}"
    );

    let future =
        leaf(&issue(&IssueOptions::new(tmp.path(), "new@localhost").validity(now + DAY, now + 9 * DAY)).unwrap().cert);
    let err = v.as_server(&future, "localhost").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. })
        ),
        "{err:?}"
    );

    let server_only =
        leaf(&issue(&IssueOptions::new(tmp.path(), "srv@localhost").purposes(&[KeyPurpose::ServerAuth])).unwrap().cert);
    v.as_server(&server_only, "localhost").unwrap();
    let err = v.as_client(&server_only).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidCertificate(
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. }
            )
        ),
        "{err:?}"
    );

    let cn_only =
        leaf(&issue(&IssueOptions::new(tmp.path(), "cn@localhost").without_subject_alt_names()).unwrap().cert);
    let err = v.as_server(&cn_only, "localhost").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "no commonName fallback: {err:?}"
    );
}
