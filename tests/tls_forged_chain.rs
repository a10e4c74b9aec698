//! A chain in which a node certificate signed another (fault matrix S7),
//! presented over TLS to real nodes: alice's key (a cA=false certificate with
//! keyUsage digitalSignature only, as `beamlink certs issue` makes them) signs
//! a certificate for mallory that copies the profile of a real one, and
//! mallory presents `[mallory, alice]`. A node refuses it as a client and as
//! a server, names the certificate in its log, and keeps serving. The
//! verifier-level checks are in tests/certs_rustls.rs.

mod common;
mod tls_fixtures;

use std::path::{Path, PathBuf};
use std::time::Duration;

use beamlink::pki::load_certs;
use beamlink::transport::tls::{TlsConfig, TlsTransport};
use common::erl::OtpEpmd;
use rcgen::{
    CertificateParams, CustomExtension, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(20);

/// The subjectAltName extension (its DER value) of the certificate in `path`.
fn subject_alt_name(path: &Path) -> Vec<u8> {
    let der = load_certs(path).unwrap().remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME)
        .expect("a subjectAltName");
    ext.value.to_vec()
}

/// Writes `[mallory, alice]` and mallory's key into `dir`: mallory's
/// certificate has the subject and subjectAltName of the real one `pki` issued
/// for `mallory`, and is signed with `alice`'s key. Returns (chain, key).
fn forge(pki: &Pki, alice: &str, mallory: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let (alice_cert, alice_key) = pki.files(alice);
    let alice_der: CertificateDer<'static> = load_certs(&alice_cert).unwrap().remove(0);
    let alice_key = KeyPair::from_pem(&std::fs::read_to_string(alice_key).unwrap()).unwrap();
    let alice_as_issuer = Issuer::from_ca_cert_der(&alice_der, alice_key).unwrap();

    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, DnValue::Utf8String(mallory.to_string()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let (real_cert, _) = pki.files(mallory);
    params.custom_extensions.push(CustomExtension::from_oid_content(&[2, 5, 29, 17], subject_alt_name(&real_cert)));
    let key = KeyPair::generate().unwrap();
    let forged = params.signed_by(&key, &alice_as_issuer).unwrap();

    let chain = dir.join("mallory-chain.pem");
    let alice_pem = std::fs::read_to_string(&alice_cert).unwrap();
    std::fs::write(&chain, format!("{}{alice_pem}", forged.pem())).unwrap();
    let key_path = dir.join("mallory.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (chain, key_path)
}

/// A TLS transport for the forged chain, trusting the cluster CA.
fn forged_transport(pki: &Pki, chain: &Path, key: &Path) -> TlsTransport {
    let config = TlsConfig::from_files(pki.ca(), chain, key);
    TlsTransport::new(config).expect("the forged chain loads (its leaf matches its key)")
}

#[test]
fn a_chain_through_a_node_certificate_is_refused_both_ways() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (server, alice, mallory, bob) = (short("srv"), short("alice"), short("mallory"), short("bob"));
    for node in [&server, &alice, &mallory, &bob] {
        pki.issue(node);
    }
    let server_node = tls_node(&server, epmd.port, &pki.transport(&server), |b| b.handshake_timeout(T / 4));

    // The control: mallory with the certificate the CA issued gets in.
    let real = tls_client(&mallory, epmd.port, &pki.transport(&mallory));
    let outcome = real.run(T, real.node.ping_detailed(&server));
    assert!(outcome.is_ok(), "the real mallory: {outcome:?}\nlogs:\n{}", logs());
    drop(real);

    let tmp = tempfile::tempdir().unwrap();
    let (chain, key) = forge(&pki, &alice, &mallory, tmp.path());
    let forged = forged_transport(&pki, &chain, &key);

    // Mallory dials the server with the forged chain: the server refuses the client.
    let client = tls_client(&mallory, epmd.port, &forged);
    let outcome = client.run(T, client.node.ping_detailed(&server));
    assert!(outcome.is_err(), "the forged chain was accepted by the server");
    let line = wait_log(&["refused the client's certificate", &format!("\"CN={mallory}\""), "EndEntityUsedAsCa"], T);
    assert!(line.contains(&format!("issuer \"CN={alice}\" is a node certificate, not a CA")), "{line}");
    drop(client);
    good_peer_reaches(&pki, &server, epmd.port);

    // Mallory serves with the forged chain: a real node dialling it refuses the server.
    drop(server_node);
    let fake_server = tls_node(&mallory, epmd.port, &forged, |b| b.handshake_timeout(T / 4));
    let dialler = tls_client(&bob, epmd.port, &pki.transport(&bob));
    let outcome = dialler.run(T, dialler.node.ping_detailed(&mallory));
    assert!(outcome.is_err(), "the forged chain was accepted by the client");
    let line = wait_log(&["refused the server's certificate", &format!("\"CN={mallory}\""), "EndEntityUsedAsCa"], T);
    assert!(line.contains(&format!("issuer \"CN={alice}\" is a node certificate, not a CA")), "{line}");
    assert!(dialler.node.connected_nodes().is_empty());
    drop(fake_server);
}
