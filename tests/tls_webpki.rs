//! Trusting the public web PKI: a node configured with `webpki-roots`
//! refuses a peer whose certificate comes from a private cluster CA (which
//! no public root vouches for), and the CLI flag does the same.

mod common;
mod tls_fixtures;

use std::time::Duration;

use beamlink::transport::tls::{TlsConfig, TlsTransport, TrustRoots};
use common::erl::OtpEpmd;
use tls_fixtures::*;

#[test]
fn web_pki_trust_refuses_a_private_ca() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let server = short("private");
    pki.issue(&server);
    let _srv = tls_node(&server, epmd.port, &pki.transport(&server), |b| b);
    let client = short("public");
    pki.issue(&client);
    let (cert, key) = pki.files(&client);
    let config = TlsConfig::web_pki(&cert, &key);
    assert!(matches!(config.trust_roots(), TrustRoots::WebPki));
    let tls = TlsTransport::new(config).unwrap();
    let node = tls_client(&client, epmd.port, &tls);
    let err = node.run(Duration::from_secs(20), node.node.ping_detailed(&server)).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("issuer"), "{err}");

    let (code, out, err) = common::rust::beamlink(
        &[
            "ping",
            &server,
            "--cookie",
            COOKIE,
            "--web-pki",
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
        ],
        epmd.port,
        Duration::from_secs(30),
    );
    assert_eq!((code, out.trim()), (3, "pang"), "{err}");
}
