//! Certificates made by `beamlink::certs` as rustls (webpki) judges them: the
//! verifiers the TLS transport builds accept the cluster's certificates and
//! refuse another CA's, expired or not-yet-valid ones, a client certificate
//! without clientAuth, and a commonName-only certificate; a chain in which a
//! node certificate signed another (fault matrix S7); and what a CA carrying a
//! URI name constraint does to the certificates under it, which the CLI cannot
//! make (S9).

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use beamlink::certs::{CaOptions, IssueOptions, KeyAlgorithm, KeyPurpose, init_ca, issue};
use beamlink::pki::{CertInfo, VerifyName, load_certs};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, Error, RootCertStore};
use yasna::Tag;

const DAY: Duration = Duration::from_secs(86_400);

struct Verifiers {
    server: Arc<WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
}

fn verifiers(ca_pem: &std::path::Path) -> Verifiers {
    verifiers_trusting(load_certs(ca_pem).unwrap())
}

fn verifiers_trusting(cas: Vec<CertificateDer<'static>>) -> Verifiers {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for der in cas {
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
        self.chain_as_server(std::slice::from_ref(cert), host)
    }

    fn as_client(&self, cert: &CertificateDer<'_>) -> Result<(), Error> {
        self.chain_as_client(std::slice::from_ref(cert))
    }

    /// A peer presenting `chain` (its certificate, then intermediates) as a TLS server for `host`.
    fn chain_as_server(&self, chain: &[CertificateDer<'_>], host: &str) -> Result<(), Error> {
        let name = ServerName::try_from(host.to_string()).unwrap();
        self.server.verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now()).map(|_| ())
    }

    /// A peer presenting `chain` as a TLS client.
    fn chain_as_client(&self, chain: &[CertificateDer<'_>]) -> Result<(), Error> {
        self.client.verify_client_cert(&chain[0], &chain[1..], UnixTime::now()).map(|_| ())
    }

    /// Both verdicts on `chain`: as a server for `localhost`, as a client.
    fn both(&self, chain: &[CertificateDer<'_>]) -> [Result<(), Error>; 2] {
        [self.chain_as_server(chain, "localhost"), self.chain_as_client(chain)]
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

// --- S7: a node certificate used as a CA ---------------------------------

/// Parameters of a CA made in the test with rcgen: unlike `init_ca`'s (pathLen
/// 0), it allows intermediates, so a chain through a forged intermediate fails
/// only for what that intermediate is.
fn rcgen_ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Parameters of a node-like certificate for `node` (SAN dNSName localhost,
/// serverAuth + clientAuth) with the given basicConstraints and keyUsage.
fn leaf_params(node: &str, is_ca: IsCa, key_usages: &[KeyUsagePurpose]) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, node);
    params.is_ca = is_ca;
    params.key_usages = key_usages.to_vec();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

/// A self-signed certificate from `params`, and the issuer that signs with its key.
fn self_signed(params: CertificateParams) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().clone();
    (der, Issuer::new(params, key))
}

/// A certificate from `params` signed by `issuer`, and the issuer that signs with its key.
fn signed_by(
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let der = params.signed_by(&key, issuer).unwrap().der().clone();
    (der, Issuer::new(params, key))
}

/// The refusal webpki gives when a certificate that is not a CA (cA=false or
/// no basicConstraints) appears as the issuer of another.
fn assert_not_a_ca(verdict: Result<(), Error>, what: &str) {
    let err = verdict.expect_err(what);
    assert!(
        matches!(err, Error::InvalidCertificate(CertificateError::Other(_)))
            && format!("{err:?}").contains("EndEntityUsedAsCa"),
        "{what}: {err:?}"
    );
}

#[test]
fn a_node_certificate_that_signs_another_is_refused_as_an_issuer() {
    // The cluster's own material: a CA from init_ca, alice's certificate from
    // issue (cA=false, keyUsage digitalSignature only), and alice's key
    // signing a certificate for mallory. Both sides refuse the chain.
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(&CaOptions::new(tmp.path())).unwrap();
    let v = verifiers(&ca.cert);
    let alice = issue(&IssueOptions::new(tmp.path(), "alice@localhost")).unwrap();
    let alice_der = leaf(&alice.cert);
    let alice_key = KeyPair::from_pem(&std::fs::read_to_string(&alice.key).unwrap()).unwrap();
    let as_issuer = Issuer::from_ca_cert_der(&alice_der, alice_key).unwrap();
    assert!(!as_issuer.key_usages().contains(&KeyUsagePurpose::KeyCertSign));
    let forged = leaf_params("mallory@localhost", IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature]);
    let (mallory, _) = signed_by(forged, &as_issuer);
    let chain = [mallory.clone(), alice_der.clone()];
    for verdict in v.both(&chain) {
        assert_not_a_ca(verdict, "mallory signed by alice, under the cluster CA");
    }
    // Without the intermediate the chain does not even reach a root.
    for err in [v.as_server(&mallory, "localhost").unwrap_err(), v.as_client(&mallory).unwrap_err()] {
        assert_eq!(err, Error::InvalidCertificate(CertificateError::UnknownIssuer));
    }

    // Under a root that allows intermediates, so that the issuer's own flags
    // are the only thing wrong. First the control: a real intermediate CA
    // passes, so the verifiers do follow intermediates.
    let (root, root_issuer) = self_signed(rcgen_ca_params("S7 root"));
    let v = verifiers_trusting(vec![root]);
    let (sub, sub_issuer) = signed_by(rcgen_ca_params("S7 intermediate"), &root_issuer);
    let (good, _) =
        signed_by(leaf_params("bob@localhost", IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature]), &sub_issuer);
    for verdict in v.both(&[good, sub]) {
        verdict.expect("a leaf under a real intermediate CA");
    }
    // Then a leaf as the intermediate, in the three shapes a leaf takes:
    // cA=false with keyUsage digitalSignature (our profile), cA=false with no
    // keyUsage, no basicConstraints and no keyUsage.
    for (shape, is_ca, usages) in [
        ("cA=false, digitalSignature", IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature][..]),
        ("cA=false, no keyUsage", IsCa::ExplicitNoCa, &[][..]),
        ("no basicConstraints, no keyUsage", IsCa::NoCa, &[][..]),
    ] {
        let (fake_ca, fake_issuer) = signed_by(leaf_params("alice@localhost", is_ca, usages), &root_issuer);
        let forged = leaf_params("mallory@localhost", IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature]);
        let (mallory, _) = signed_by(forged, &fake_issuer);
        for verdict in v.both(&[mallory, fake_ca.clone()]) {
            assert_not_a_ca(verdict, shape);
        }
        // The leaf itself is fine as a leaf: the refusal is about its use as an issuer.
        for verdict in v.both(&[fake_ca]) {
            verdict.unwrap_or_else(|e| panic!("{shape} as a leaf: {e:?}"));
        }
    }
}

// --- S9: a CA with a URI name constraint ---------------------------------

const OID_NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];

/// A critical nameConstraints extension with one URI subtree (`[6]`
/// uniformResourceIdentifier), permitted or excluded. rcgen's
/// `GeneralSubtree` has no URI form, so the value is encoded here.
fn uri_name_constraint(base: &str, permitted: bool) -> CustomExtension {
    let which = if permitted { 0 } else { 1 };
    let value = yasna::construct_der(|w| {
        w.write_sequence(|constraints| {
            constraints.next().write_tagged_implicit(Tag::context(which), |w| {
                w.write_sequence(|subtrees| {
                    subtrees.next().write_sequence(|subtree| {
                        subtree.next().write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(base));
                    });
                });
            });
        });
    });
    let mut ext = CustomExtension::from_oid_content(OID_NAME_CONSTRAINTS, value);
    ext.set_criticality(true);
    ext
}

/// A CA with `constraint`, written as `DIR/ca.pem` and `DIR/ca.key` so that
/// `issue` signs node certificates with it.
fn constrained_ca(
    dir: &std::path::Path,
    constraint: CustomExtension,
) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let mut params = rcgen_ca_params("S9 constrained CA");
    params.custom_extensions.push(constraint);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(beamlink::certs::CA_CERT_FILE), cert.pem()).unwrap();
    std::fs::write(dir.join(beamlink::certs::CA_KEY_FILE), key.serialize_pem()).unwrap();
    (cert.der().clone(), Issuer::new(params, key))
}

/// The URI subtrees x509-parser reads from `ca` (permitted, excluded): proof
/// that the hand-made extension says what the test means.
fn uri_subtrees(ca: &CertificateDer<'_>) -> (Vec<String>, Vec<String>) {
    let (_, cert) = x509_parser::parse_x509_certificate(ca).unwrap();
    let ext = cert.name_constraints().unwrap().expect("a nameConstraints extension");
    assert!(ext.critical);
    let uris = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| -> Vec<String> {
        trees
            .iter()
            .flatten()
            .map(|t| match &t.base {
                x509_parser::extensions::GeneralName::URI(u) => u.to_string(),
                other => panic!("not a URI subtree: {other:?}"),
            })
            .collect()
    };
    (uris(&ext.value.permitted_subtrees), uris(&ext.value.excluded_subtrees))
}

fn assert_name_constraint_violation(verdict: Result<(), Error>, what: &str) {
    let err = verdict.expect_err(what);
    assert!(
        matches!(err, Error::InvalidCertificate(CertificateError::Other(_)))
            && format!("{err:?}").contains("NameConstraintViolation"),
        "{what}: {err:?}"
    );
}

/// webpki does not implement URI name constraints and fails closed: under a
/// CA carrying one, every certificate that names a URI is refused, inside the
/// permitted subtree or not. A URI constraint says nothing about the other
/// name forms, so node certificates (dNSName, iPAddress and directoryName, no
/// URI) pass as they would under an unconstrained CA: the constraint neither
/// lets anything through nor restricts the cluster's names.
#[test]
fn a_ca_with_a_uri_name_constraint_refuses_every_uri_and_ignores_other_names() {
    let tmp = tempfile::tempdir().unwrap();
    let with_uri = |node: &str, uri: &str| {
        let mut params = leaf_params(node, IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature]);
        params.subject_alt_names.push(SanType::URI(uri.try_into().unwrap()));
        params
    };
    for permitted in [true, false] {
        let kind = if permitted { "permitted" } else { "excluded" };
        let dir = tmp.path().join(kind);
        let (ca, ca_issuer) = constrained_ca(&dir, uri_name_constraint("beamlink.example", permitted));
        let expected = vec!["beamlink.example".to_string()];
        assert_eq!(uri_subtrees(&ca), if permitted { (expected, vec![]) } else { (vec![], expected) });
        let v = verifiers_trusting(vec![ca]);

        for uri in ["https://beamlink.example/alice", "https://elsewhere.example/alice", "urn:node:alice"] {
            let (cert, _) = signed_by(with_uri("alice@localhost", uri), &ca_issuer);
            for verdict in v.both(&[cert]) {
                assert_name_constraint_violation(verdict, &format!("{kind} URI subtree, SAN URI {uri}"));
            }
        }
        // The same certificate without the URI passes: the URI alone is refused.
        let (plain, _) = signed_by(
            leaf_params("alice@localhost", IsCa::ExplicitNoCa, &[KeyUsagePurpose::DigitalSignature]),
            &ca_issuer,
        );
        for verdict in v.both(&[plain]) {
            verdict.unwrap_or_else(|e| panic!("{kind}: no URI: {e:?}"));
        }
        // Node certificates as `issue` makes them (no URI) pass both ways.
        for node in ["bob@localhost", "ip@127.0.0.1"] {
            let cert = leaf(&issue(&IssueOptions::new(&dir, node)).unwrap().cert);
            let host = node.split('@').nth(1).unwrap();
            v.as_server(&cert, host).unwrap_or_else(|e| panic!("{kind}: {node} as server: {e:?}"));
            v.as_client(&cert).unwrap_or_else(|e| panic!("{kind}: {node} as client: {e:?}"));
        }
    }
}

/// Whether the DER of a certificate holds a nameConstraints extension.
fn has_name_constraints(der: &[u8]) -> bool {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.extensions().iter().any(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS)
}

/// The CLI and the library make CAs without name constraints and offer no way
/// to add one: `init-ca` takes exactly the options below, refuses any other,
/// and the CA it writes carries no nameConstraints extension.
#[test]
fn the_cli_cannot_make_a_name_constrained_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = init_ca(&CaOptions::new(tmp.path().join("lib"))).unwrap();
    assert!(!has_name_constraints(&leaf(&ca.cert)), "init_ca wrote a nameConstraints extension");

    let Some(exe) = option_env!("CARGO_BIN_EXE_beamlink") else {
        common::skip("the CLI part", "the beamlink binary is built only with the `cli` feature");
        return;
    };
    let run = |args: &[&str]| std::process::Command::new(exe).args(args).output().expect("run beamlink");
    let help = run(&["certs", "init-ca", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut options: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    options.sort_unstable();
    options.dedup();
    // Besides the logging flags every command takes (-v, -q).
    let expected = ["--days", "--dir", "--force", "--help", "--key", "--name", "--quiet", "--verbose"];
    assert_eq!(options, expected, "init-ca options:\n{help}");
    for word in ["constraint", "permit", "exclude", "uri"] {
        assert!(!help.to_lowercase().contains(word), "init-ca --help mentions {word:?}:\n{help}");
    }

    let dir = tmp.path().join("cli");
    let d = dir.to_str().unwrap();
    for extra in [&["--name-constraint", "URI:beamlink.example"][..], &["--permitted-uri", "beamlink.example"][..]] {
        let out = run(&[&["certs", "init-ca", "--dir", d][..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "init-ca {extra:?} was not refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"), "{out:?}");
        assert!(!dir.exists(), "a refused init-ca {extra:?} wrote {}", dir.display());
    }
    let out = run(&["certs", "init-ca", "--dir", d]);
    assert!(out.status.success(), "{out:?}");
    let cert = leaf(&dir.join(beamlink::certs::CA_CERT_FILE));
    assert!(!has_name_constraints(&cert), "init-ca wrote a nameConstraints extension");
}
