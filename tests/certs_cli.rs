//! `beamlink certs ...` as a user runs it: exit codes, messages, files and
//! modes, and what `openssl` makes of the result.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use beamlink::certs::{IssueOptions, issue};

fn beamlink(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beamlink")).args(args).output().expect("run beamlink")
}

fn certs(args: &[&str]) -> Output {
    let mut all = vec!["certs"];
    all.extend_from_slice(args);
    beamlink(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(o.status.success(), "expected success, got {:?}\nstdout: {}\nstderr: {}", o.status, stdout(&o), stderr(&o));
    o
}

/// Asserts exit status 1 and that stderr says `needle`.
#[track_caller]
fn fails_with(o: Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "expected exit 1\nstdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(needle), "stderr should contain {needle:?}: {}", stderr(&o));
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_ca_and_two_nodes_in_three_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let out = ok(certs(&["init-ca", "--dir", s(&dir), "--name", "Test Cluster CA", "--days", "30"]));
    assert!(stdout(&out).contains("ca.pem"), "{}", stdout(&out));
    ok(certs(&["issue", "--dir", s(&dir), "alice@localhost", "--host", "alice.example.com", "--days", "20"]));
    let out = ok(certs(&["issue", "--dir", s(&dir), "erl@127.0.0.1", "--ip", "::1", "--days", "20"]));
    assert!(stdout(&out).contains("node names: erl@127.0.0.1"), "{}", stdout(&out));

    assert_eq!(mode(&dir), 0o700);
    for key in ["ca.key", "alice@localhost.key", "erl@127.0.0.1.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    assert_eq!(
        listing(&dir),
        ["alice@localhost.key", "alice@localhost.pem", "ca.key", "ca.pem", "erl@127.0.0.1.key", "erl@127.0.0.1.pem"]
    );

    let out = ok(certs(&["inspect", s(&dir.join("alice@localhost.pem")), "--warn-days", "10"]));
    let text = stdout(&out);
    for needle in [
        "subject:      CN=alice@localhost",
        "issuer:       CN=Test Cluster CA",
        "DNS names:    localhost, alice.example.com",
        "node names:   alice@localhost, alice@alice.example.com",
        "ext. usage:   serverAuth, clientAuth",
        "key type:     ECDSA P-256",
        "status:       OK",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    let out = ok(certs(&["inspect", s(&dir.join("erl@127.0.0.1.pem")), "--warn-days", "10"]));
    assert!(stdout(&out).contains("IP addresses: 127.0.0.1, ::1"), "{}", stdout(&out));
    // The node certificate would outlive the 30-day CA.
    fails_with(certs(&["issue", "--dir", s(&dir), "bob@localhost", "--days", "60"]), "expires before");
}

#[test]
fn existing_files_are_kept_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = s(tmp.path());
    ok(certs(&["init-ca", "--dir", dir]));
    let ca = fs::read(tmp.path().join("ca.pem")).unwrap();
    fails_with(certs(&["init-ca", "--dir", dir]), "already exists; refusing to overwrite it (use --force");
    assert_eq!(fs::read(tmp.path().join("ca.pem")).unwrap(), ca);
    ok(certs(&["init-ca", "--dir", dir, "--force"]));
    assert_ne!(fs::read(tmp.path().join("ca.pem")).unwrap(), ca);

    ok(certs(&["issue", "--dir", dir, "a@localhost"]));
    fails_with(certs(&["issue", "--dir", dir, "a@localhost"]), "a@localhost.pem already exists");
    ok(certs(&["issue", "--dir", dir, "a@localhost", "--force"]));
    assert_eq!(mode(&tmp.path().join("a@localhost.key")), 0o600);
}

#[test]
fn bad_input_exits_1_with_a_clear_message_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    fs::create_dir(&dir).unwrap();
    let d = s(&dir);

    fails_with(certs(&["issue", "--dir", d, "a@localhost"]), "ca.pem is missing");
    assert!(listing(&dir).is_empty());

    ok(certs(&["init-ca", "--dir", d]));
    let before = listing(&dir);
    for (node, why) in [
        ("alice", "no '@'"),
        ("@localhost", "before '@' is empty"),
        ("alice@", "host part"),
        ("al!ce@localhost", "contains '!'"),
        ("a@b@c", "more than one '@'"),
    ] {
        fails_with(certs(&["issue", "--dir", d, node]), why);
    }
    fails_with(certs(&["issue", "--dir", d, "a@localhost", "--host", "bad host"]), "invalid host");
    fails_with(certs(&["issue", "--dir", d, "a@localhost", "--days", "0"]), "between 1 and 36500 days");
    fails_with(certs(&["issue", "--dir", d, "a@localhost", "--days", "-3"]), "invalid validity of -3 days");
    fails_with(certs(&["init-ca", "--dir", s(&tmp.path().join("x")), "--days", "0"]), "between 1 and 36500");
    assert_eq!(listing(&dir), before);
    assert!(!tmp.path().join("x").exists());

    // The CA key of another CA.
    let other = tmp.path().join("other");
    ok(certs(&["init-ca", "--dir", s(&other)]));
    fs::copy(other.join("ca.key"), dir.join("ca.key")).unwrap();
    fails_with(certs(&["issue", "--dir", d, "a@localhost"]), "is not the CA certificate's key");

    // Unparsable PEM.
    let junk = tmp.path().join("junk.pem");
    fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n").unwrap();
    fails_with(certs(&["inspect", s(&junk)]), "malformed PEM");
    fs::write(&junk, "hello\n").unwrap();
    fails_with(certs(&["inspect", s(&junk)]), "no PEM block found");
    fs::copy(&junk, dir.join("ca.pem")).unwrap();
    fails_with(certs(&["issue", "--dir", d, "a@localhost"]), "no PEM block found");
    fails_with(certs(&["inspect", s(&tmp.path().join("absent.pem"))]), "absent.pem: no such file");

    // An output folder that cannot be written (a regular file stands in the way;
    // permission bits would not stop root).
    let blocker = tmp.path().join("blocker");
    fs::write(&blocker, "x").unwrap();
    fails_with(certs(&["init-ca", "--dir", s(&blocker.join("pki"))]), "cannot create directory");
    fails_with(certs(&["init-ca", "--dir", s(&blocker)]), "cannot create directory");

    assert!(listing(&dir).iter().all(|n| n == "ca.key" || n == "ca.pem"), "{:?}", listing(&dir));
    assert!(listing(tmp.path()).iter().all(|n| !n.ends_with(".tmp")));
}

#[test]
fn inspect_exit_status_is_for_monitoring() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = s(tmp.path());
    ok(certs(&["init-ca", "--dir", dir]));
    ok(certs(&["issue", "--dir", dir, "fresh@localhost", "--days", "90"]));
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    issue(&IssueOptions::new(tmp.path(), "old@localhost").validity(now - 30 * day, now - day)).unwrap();

    let fresh = tmp.path().join("fresh@localhost.pem");
    ok(certs(&["inspect", s(&fresh)]));
    let out = certs(&["inspect", s(&fresh), "--warn-days", "100"]);
    assert_eq!(out.status.code(), Some(1), "expiring within --warn-days");
    assert!(stdout(&out).contains("EXPIRING: expires within 100 days"), "{}", stdout(&out));

    let out = certs(&["inspect", s(&tmp.path().join("old@localhost.pem"))]);
    assert_eq!(out.status.code(), Some(1), "expired");
    assert!(stdout(&out).contains("status:       EXPIRED"), "{}", stdout(&out));
    assert!(stdout(&out).contains("(expired 24 hours ago)"), "{}", stdout(&out));
}

#[test]
fn renew_and_erlang_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = s(tmp.path());
    ok(certs(&["init-ca", "--dir", dir]));
    ok(certs(&["issue", "--dir", dir, "n1@host.example.com", "--key", "ed25519", "--days", "50"]));
    let old = fs::read(tmp.path().join("n1@host.example.com.key")).unwrap();
    let out = ok(certs(&["renew", "--dir", dir, "n1@host.example.com"]));
    assert!(stdout(&out).contains("kept the old pair as"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Ed25519"), "{}", stdout(&out));
    let backups: Vec<String> = listing(tmp.path()).into_iter().filter(|n| n.contains(".bak-")).collect();
    assert_eq!(backups.len(), 2, "{backups:?}");
    let key_backup = backups.iter().find(|n| n.starts_with("n1@host.example.com.key.bak-")).unwrap();
    assert_eq!(fs::read(tmp.path().join(key_backup)).unwrap(), old);
    fails_with(certs(&["renew", "--dir", dir, "n2@host.example.com"]), "no certificate for n2@host.example.com");

    let canonical = tmp.path().canonicalize().unwrap();
    let out = ok(certs(&["erlang-config", "--dir", dir, "n1@host.example.com"]));
    assert!(stdout(&out).starts_with("%% TLS distribution options for n1@host.example.com"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("{{cacertfile, \"{}/ca.pem\"}}", canonical.display())));
    let flags = format!(
        "-name n1@host.example.com -proto_dist inet_tls -ssl_dist_optfile {}/n1@host.example.com.ssl_dist.conf",
        canonical.display()
    );
    assert!(stderr(&out).contains(&flags), "{}", stderr(&out));

    let conf = tmp.path().join("n1.conf");
    let out = ok(certs(&["erlang-config", "--dir", dir, "n1@host.example.com", "--out", s(&conf)]));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains(&format!("-ssl_dist_optfile {}", conf.display())), "{}", stderr(&out));
    assert!(fs::read_to_string(&conf).unwrap().contains("{fail_if_no_peer_cert, true}"));
    fails_with(certs(&["erlang-config", "--dir", dir, "n1@host.example.com", "--out", s(&conf)]), "already exists");
}

/// `openssl` agrees with the chain, the profile and the fingerprint.
#[test]
fn openssl_verifies_and_reads_the_certificates() {
    if Command::new("openssl").arg("version").output().is_err() {
        common::skip("", "openssl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = s(tmp.path());
    ok(certs(&["init-ca", "--dir", dir]));
    ok(certs(&["issue", "--dir", dir, "alice@localhost", "--ip", "127.0.0.1"]));
    ok(certs(&["issue", "--dir", dir, "rsa@127.0.0.1", "--key", "rsa"]));
    let ca = tmp.path().join("ca.pem");
    let openssl = |args: &[&str]| ok(Command::new("openssl").args(args).output().unwrap());

    for node in ["alice@localhost", "rsa@127.0.0.1"] {
        let cert = tmp.path().join(format!("{node}.pem"));
        let out = openssl(&["verify", "-CAfile", s(&ca), s(&cert)]);
        assert!(stdout(&out).trim_end().ends_with(": OK"), "{}", stdout(&out));
        let out = openssl(&["verify", "-CAfile", s(&ca), "-purpose", "sslclient", s(&cert)]);
        assert!(stdout(&out).contains("OK"));
        let out = openssl(&["verify", "-CAfile", s(&ca), "-purpose", "sslserver", s(&cert)]);
        assert!(stdout(&out).contains("OK"));
    }

    let cert = tmp.path().join("alice@localhost.pem");
    let text = stdout(&openssl(&["x509", "-in", s(&cert), "-noout", "-text"]));
    for needle in [
        "DNS:localhost, IP Address:127.0.0.1, DirName:/CN=alice",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "CA:FALSE",
        "Digital Signature",
        "Subject: CN = alice@localhost",
        "ASN1 OID: prime256v1",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    let ca_text = stdout(&openssl(&["x509", "-in", s(&ca), "-noout", "-text"]));
    assert!(ca_text.contains("CA:TRUE, pathlen:0"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign, CRL Sign"), "{ca_text}");
    let rsa_text = stdout(&openssl(&["x509", "-in", s(&tmp.path().join("rsa@127.0.0.1.pem")), "-noout", "-text"]));
    assert!(rsa_text.contains("DNS:127.0.0.1, IP Address:127.0.0.1, DirName:/CN=rsa"), "{rsa_text}");
    assert!(rsa_text.contains("Public-Key: (2048 bit)") && rsa_text.contains("Key Encipherment"), "{rsa_text}");

    let facts = stdout(&openssl(&["x509", "-in", s(&cert), "-noout", "-serial", "-fingerprint", "-sha256"]));
    let report = stdout(&ok(certs(&["inspect", s(&cert)])));
    let serial = facts.lines().find_map(|l| l.strip_prefix("serial=")).unwrap();
    let fingerprint = facts.lines().find_map(|l| l.split_once("Fingerprint=").map(|(_, f)| f)).unwrap();
    assert!(report.contains(&format!("serial:       {serial}")), "{facts}\n{report}");
    assert!(report.contains(&format!("SHA-256:      {fingerprint}")), "{facts}\n{report}");

    // The keys are PKCS#8 and match their certificates.
    let key = tmp.path().join("alice@localhost.key");
    let from_key = stdout(&openssl(&["pkey", "-in", s(&key), "-pubout"]));
    let from_cert = stdout(&openssl(&["x509", "-in", s(&cert), "-noout", "-pubkey"]));
    assert_eq!(from_key, from_cert);
}
