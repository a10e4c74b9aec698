//! Revocation from the command line (fault matrix row C5): `beamlink certs
//! revoke` and `certs crl` write a CRL that `openssl` reads and verifies
//! against, `certs inspect` lists it, and `beamlink serve --crl` (or with an
//! optfile from `certs erlang-config`) refuses `beamlink ping` with a revoked
//! certificate while letting others in.

mod common;
mod tls_fixtures;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, beamlink};
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn certs(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["certs"];
    all.extend_from_slice(args);
    beamlink(&all, common::free_port(), T)
}

#[track_caller]
fn ok(result: (i32, String, String)) -> String {
    let (code, out, err) = result;
    assert_eq!(code, 0, "expected success\nstdout: {out}\nstderr: {err}");
    out
}

#[track_caller]
fn fails_with(result: (i32, String, String), needle: &str) {
    let (code, out, err) = result;
    assert_ne!(code, 0, "expected a failure\nstdout: {out}\nstderr: {err}");
    assert!(err.contains(needle), "stderr should contain {needle:?}: {err}");
}

fn openssl() -> Option<impl Fn(&[&str]) -> Output> {
    if Command::new("openssl").arg("version").output().is_err() {
        common::skip("the openssl checks", "openssl is not installed");
        return None;
    }
    Some(|args: &[&str]| Command::new("openssl").args(args).output().expect("run openssl"))
}

#[test]
fn revoke_writes_a_crl_that_openssl_and_inspect_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let d = s(&dir);
    ok(certs(&["init-ca", "--dir", d, "--name", "CLI CRL CA"]));
    ok(certs(&["issue", "--dir", d, "alice@localhost"]));
    ok(certs(&["issue", "--dir", d, "bob@localhost"]));
    let alice = serial_of(&dir.join("alice@localhost.pem"));
    let bob = serial_of(&dir.join("bob@localhost.pem"));

    let out = ok(certs(&["revoke", "--dir", d, "alice@localhost", "--reason", "key-compromise", "--days", "14"]));
    assert!(out.contains(&format!("revoked alice@localhost (serial {alice}, reason keyCompromise)")), "{out}");
    assert!(out.contains("CRL number 1, 1 revoked certificate, next update"), "{out}");
    let out = ok(certs(&["revoke", "--dir", d, "--cert", s(&dir.join("bob@localhost.pem"))]));
    assert!(out.contains("CRL number 2, 2 revoked certificates"), "{out}");
    let out = ok(certs(&["revoke", "--dir", d, "alice@localhost"]));
    assert!(out.contains(&format!("serial {alice} was already revoked")), "{out}");
    let out = ok(certs(&["crl", "--dir", d, "--days", "60"]));
    assert!(out.contains("CRL number 4, 2 revoked certificates"), "{out}");

    let crl = dir.join("crl.pem");
    let out = ok(certs(&["inspect", s(&crl)]));
    for needle in [
        "issuer:       CN=CLI CRL CA",
        "CRL number:   4",
        "revoked:      2 certificates",
        &format!("serial {alice} since"),
        ", keyCompromise",
        &format!("serial {bob} since"),
        "status:       OK",
    ] {
        assert!(out.contains(needle), "missing {needle:?}:\n{out}");
    }

    if let Some(openssl) = openssl() {
        let out = openssl(&["crl", "-in", s(&crl), "-text", "-noout"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        for needle in [
            &format!("Serial Number: {alice}"),
            &format!("Serial Number: {bob}"),
            "Key Compromise",
            "Issuer: CN = CLI CRL CA",
            "X509v3 CRL Number: \n                4",
            "X509v3 Authority Key Identifier",
        ] {
            assert!(text.contains(needle), "openssl crl -text should show {needle:?}:\n{text}");
        }
        // The same CRL in DER reads the same.
        let der = dir.join("crl.der");
        assert!(openssl(&["crl", "-in", s(&crl), "-outform", "DER", "-out", s(&der)]).status.success());
        let out = ok(certs(&["inspect", s(&der)]));
        assert!(out.contains("CRL number:   4") && out.contains(&format!("serial {alice} since")), "{out}");
        let out = openssl(&["crl", "-in", s(&crl), "-noout", "-CAfile", s(&dir.join("ca.pem"))]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("verify OK"), "the CA's signature verifies: {out:?}");
        // OpenSSL's own chain check with the CRL says revoked for alice, OK for a fresh node.
        ok(certs(&["issue", "--dir", d, "carol@localhost"]));
        let verify = |node: &str| {
            openssl(&["verify", "-crl_check", "-CAfile", s(&dir.join("ca.pem")), "-CRLfile", s(&crl), node])
        };
        let out = verify(s(&dir.join("alice@localhost.pem")));
        let said = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(!out.status.success() && String::from_utf8_lossy(&said).contains("certificate revoked"), "{out:?}");
        assert!(verify(s(&dir.join("carol@localhost.pem"))).status.success());
        // The hash directory is what `openssl -CRLpath` and OTP look CRLs up in.
        let hash = openssl(&["x509", "-in", s(&dir.join("ca.pem")), "-noout", "-hash"]);
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
        assert!(dir.join("crl.d").join(format!("{hash}.r0")).is_file(), "crl.d/{hash}.r0");
    }
    if common::erlang_or_skip() {
        // OTP computes the same name hash the link is named by.
        let expr = format!(
            "{{ok, Pem}} = file:read_file(\"{}\"), [{{_, Der, _}}] = public_key:pem_decode(Pem), \
             C = public_key:pkix_decode_cert(Der, otp), \
             io:format(\"~s~n\", [public_key:short_name_hash(element(7, element(2, C)))]), halt().",
            s(&dir.join("ca.pem"))
        );
        let hash = common::erl::erl_script(&expr, T);
        assert!(dir.join("crl.d").join(format!("{}.r0", hash.trim())).is_file(), "OTP's hash {hash:?}");
    }
}

#[test]
fn revoke_mistakes_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    fails_with(certs(&["revoke", "--dir", d, "a@localhost"]), "no CA in");
    ok(certs(&["init-ca", "--dir", d]));
    fails_with(certs(&["revoke", "--dir", d, "nobody@localhost"]), "no certificate for nobody@localhost");
    fails_with(certs(&["revoke", "--dir", d, "--serial", "xyz"]), "invalid serial number \"xyz\"");
    fails_with(certs(&["revoke", "--dir", d, "--serial", "01", "--reason", "stolen"]), "unknown revocation reason");
    fails_with(certs(&["revoke", "--dir", d]), "required");
    fails_with(certs(&["crl", "--dir", d, "--days", "0"]), "between 1 and 36500 days");
    fails_with(
        beamlink(&["ping", "x@localhost", "--crl", s(&tmp.path().join("crl.pem"))], common::free_port(), T),
        "--crl needs TLS",
    );
    assert!(!tmp.path().join("crl.pem").exists());
}

/// `beamlink ping SRV` with `node`'s certificate, under the name it carries
/// (the check here is revocation): the exit code and what it printed.
fn ping_as(pki: &Pki, srv: &str, node: &str, epmd_port: u16) -> (i32, String) {
    let (cert, key) = pki.files(node);
    let ca = pki.ca();
    let args = [
        "ping",
        srv,
        "--cookie",
        COOKIE,
        "--ca",
        s(&ca),
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        "--timeout",
        "5",
        "--sname",
        node,
    ];
    let (code, out, _) = beamlink(&args, epmd_port, T);
    (code, out.trim().to_string())
}

#[test]
fn serve_with_crl_refuses_a_revoked_ping_and_picks_up_new_revocations() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, good, bad) = (short("clicrlsrv"), short("cligood"), short("clibad"));
    for node in [&srv, &good, &bad] {
        pki.issue(node);
    }
    let dir = s(pki.dir());
    ok(certs(&["revoke", "--dir", dir, &bad, "--reason", "cessation-of-operation"]));
    let crl = pki.crl();
    let ca = pki.ca();
    let (srv_cert, srv_key) = pki.files(&srv);
    let serve = BeamlinkProcess::start(
        &[
            "serve",
            "--sname",
            &srv,
            "--cookie",
            COOKIE,
            "--ca",
            s(&ca),
            "--cert",
            s(&srv_cert),
            "--key",
            s(&srv_key),
            "--crl",
            s(&crl),
        ],
        epmd.port,
    );
    let ping = |node: &str| ping_as(&pki, &srv, node, epmd.port);
    assert_eq!(ping(&bad), (3, "pang".to_string()), "the revoked certificate is refused");
    assert_eq!(ping(&good), (0, "pong".to_string()), "an unrevoked one gets in");

    // Revoked while the server runs: its file poll reloads the CRL.
    ok(certs(&["revoke", "--dir", dir, &good]));
    common::wait_for("serve to reload the CRL", T, || (ping(&good).0 == 3).then_some(()));

    // A client with --crl refuses the server once the server's certificate is revoked.
    let other = short("cliother");
    pki.issue(&other);
    let (cert, key) = pki.files(&other);
    let with_crl = [
        "ping",
        &srv,
        "--cookie",
        COOKIE,
        "--ca",
        s(&ca),
        "--cert",
        s(&cert),
        "--key",
        s(&key),
        "--crl",
        s(&crl),
        "--sname",
        &other,
    ];
    let (code, out, err) = beamlink(&with_crl, epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "stderr: {err}");
    ok(certs(&["revoke", "--dir", dir, &srv]));
    let (code, out, err) = beamlink(&with_crl, epmd.port, T);
    assert_eq!((code, out.trim()), (3, "pang"), "stderr: {err}");
    assert!(err.contains(&format!("certificate \"CN={srv}\"")) && err.contains("is revoked"), "{err}");
    drop(serve);
}

#[test]
fn serve_with_an_optfile_from_erlang_config_checks_the_crl() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, good, bad) = (short("optcrlsrv"), short("optgood"), short("optbad"));
    for node in [&srv, &good, &bad] {
        pki.issue(node);
    }
    pki.revoke(&bad);
    let optfile = pki.optfile(&srv);
    assert!(std::fs::read_to_string(&optfile).unwrap().contains("ssl_crl_hash_dir"));
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ssl-dist-optfile", s(&optfile)],
        epmd.port,
    );
    let ping = |node: &str| ping_as(&pki, &srv, node, epmd.port).1;
    assert_eq!(ping(&bad), "pang");
    assert_eq!(ping(&good), "pong");
    drop(serve);
}
