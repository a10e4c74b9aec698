//! Issuing and inspecting, end to end through the library (no CLI).

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::*;
use crate::pki::{CertInfo, IdentityError, KeyType, PkiError, VerifyName, load_certs};

const DAY: Duration = Duration::from_secs(86_400);

fn new_ca(dir: &Path) -> CaFiles {
    init_ca(&CaOptions::new(dir).name("test CA")).expect("init_ca")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let ca = new_ca(&dir);
    assert_eq!(mode(&dir), 0o700, "created folder is private");
    assert_eq!(mode(&ca.key), 0o600);
    assert_eq!(mode(&ca.cert), 0o644);
    assert_eq!(listing(&dir), ["ca.key", "ca.pem"]);

    let info = CertInfo::from_file(&ca.cert).unwrap();
    assert_eq!(info, ca.info);
    assert!(info.is_ca);
    assert_eq!(info.path_len_constraint, Some(0));
    assert_eq!(info.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(info.subject, "CN=test CA");
    assert_eq!(info.issuer, info.subject, "self-signed");
    assert_eq!(info.key_type, KeyType::EcdsaP256);
    let days = info.not_after.duration_since(SystemTime::now()).unwrap().as_secs() / 86_400;
    assert!((DEFAULT_CA_DAYS - 1..=DEFAULT_CA_DAYS).contains(&(days as i64)), "{days}");
}

#[test]
fn node_profile_carries_the_identity_the_way_otp_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let files = issue(
        &IssueOptions::new(tmp.path(), "alice@localhost")
            .host("alice.example.com")
            .ip("127.0.0.1".parse().unwrap())
            .days(90),
    )
    .unwrap();
    assert_eq!(files.cert, tmp.path().join("alice@localhost.pem"));
    assert_eq!(files.key, tmp.path().join("alice@localhost.key"));
    assert_eq!(mode(&files.key), 0o600);
    assert_eq!(mode(&files.cert), 0o644);

    let info = CertInfo::from_file(&files.cert).unwrap();
    assert_eq!(info, files.info);
    assert_eq!(info.subject, "CN=alice@localhost");
    assert_eq!(info.subject_common_name.as_deref(), Some("alice@localhost"));
    assert_eq!(info.issuer, ca.info.subject);
    assert_eq!(info.dns_names, ["localhost", "alice.example.com"]);
    assert_eq!(info.ip_addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(info.node_names, ["alice@localhost", "alice@alice.example.com"]);
    assert_eq!(info.otp_cert_nodes, Some(vec!["localhost".to_string()]));
    assert!(!info.is_ca);
    assert_eq!(info.key_usage, ["digitalSignature"]);
    let eku = info.extended_key_usage.clone().expect("EKU present");
    assert!(eku.server_auth && eku.client_auth && !eku.any && eku.others.is_empty());
    assert!(info.allows_server_auth() && info.allows_client_auth());
    assert_eq!(info.key_type, KeyType::EcdsaP256);

    let left = info.expires_in(SystemTime::now()).unwrap();
    assert!(left > 89 * DAY && left <= 90 * DAY, "{left:?}");
    let skew = SystemTime::now().duration_since(info.not_before).unwrap();
    assert!(skew >= Duration::from_secs(250) && skew < Duration::from_secs(400), "backdated ~5 min: {skew:?}");

    let der = load_certs(&files.cert).unwrap().remove(0);
    assert_eq!(info.sha256_fingerprint, <[u8; 32]>::from(Sha256::digest(&der)));
    assert_eq!(info.fingerprint_hex().len(), 32 * 3 - 1);
}

#[test]
fn ip_literal_hosts_get_a_dns_name_spelled_as_the_address() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let info = issue(&IssueOptions::new(tmp.path(), "erl@127.0.0.1")).unwrap().info;
    assert_eq!(info.dns_names, ["127.0.0.1"]);
    assert_eq!(info.ip_addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(info.node_names, ["erl@127.0.0.1"]);
    info.check_node("erl@127.0.0.1", VerifyName::Strict).unwrap();
    info.check_node("other@127.0.0.1", VerifyName::Host).unwrap();
}

#[test]
fn key_types_and_serials() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let ed = issue(&IssueOptions::new(tmp.path(), "ed@localhost").key(KeyAlgorithm::Ed25519)).unwrap().info;
    assert_eq!(ed.key_type, KeyType::Ed25519);
    assert_eq!(ed.key_usage, ["digitalSignature"]);
    let rsa = issue(&IssueOptions::new(tmp.path(), "rsa@localhost").key(KeyAlgorithm::Rsa { bits: 2048 })).unwrap();
    assert_eq!(rsa.info.key_type, KeyType::Rsa { bits: 2048 });
    assert_eq!(rsa.info.key_usage, ["digitalSignature", "keyEncipherment"]);
    let key_pem = fs::read_to_string(&rsa.key).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 out");

    let p256 = issue(&IssueOptions::new(tmp.path(), "p@localhost")).unwrap().info;
    let serials = [&ed.serial, &rsa.info.serial, &p256.serial];
    for serial in serials {
        assert_eq!(serial.len(), 32, "16-byte serial, no sign padding: {serial}");
        let first = u8::from_str_radix(&serial[..2], 16).unwrap();
        assert!(first & 0x80 == 0 && first != 0, "positive, full length: {serial}");
    }
    assert!(serials[0] != serials[1] && serials[1] != serials[2] && serials[0] != serials[2]);

    // An Ed25519 CA signs too, and an RSA CA.
    let ed_dir = tmp.path().join("ed-ca");
    init_ca(&CaOptions::new(&ed_dir).key(KeyAlgorithm::Ed25519)).unwrap();
    assert_eq!(issue(&IssueOptions::new(&ed_dir, "a@localhost")).unwrap().info.key_type, KeyType::EcdsaP256);
    let rsa_dir = tmp.path().join("rsa-ca");
    let rsa_ca = init_ca(&CaOptions::new(&rsa_dir).key(KeyAlgorithm::Rsa { bits: 2048 })).unwrap();
    assert_eq!(rsa_ca.info.key_type, KeyType::Rsa { bits: 2048 });
    issue(&IssueOptions::new(&rsa_dir, "a@localhost")).unwrap();
}

#[test]
fn check_node_under_each_policy() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let info = issue(&IssueOptions::new(tmp.path(), "alice@host1").host("host2.example.com")).unwrap().info;

    info.check_node("alice@host1", VerifyName::Strict).unwrap();
    info.check_node("alice@host2.example.com", VerifyName::Strict).unwrap();
    // One node, one spelling: the certificate's own.
    let err = info.check_node("alice@HOST2.example.com", VerifyName::Strict).unwrap_err();
    assert!(
        matches!(&err, IdentityError::NotCanonical { canonical, .. } if canonical == "alice@host2.example.com"),
        "{err:?}"
    );
    assert!(info.check_node("mallory@HOST1", VerifyName::Host).is_err(), "host case under verify-name host");
    let err = info.check_node("mallory@host1", VerifyName::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer mallory@host1 presented a certificate for alice@host1, alice@host2.example.com (verify-name strict)"
    );
    assert!(info.check_node("Alice@host1", VerifyName::Strict).is_err(), "alive names are case-sensitive");

    info.check_node("mallory@host1", VerifyName::Host).unwrap();
    let err = info.check_node("alice@host3", VerifyName::Host).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer alice@host3 presented a certificate for host1, host2.example.com (verify-name host)"
    );
    assert!(info.check_node("alice@127.0.0.1", VerifyName::Host).is_err());

    info.check_node("anyone@anywhere", VerifyName::None).unwrap();
    info.check_node("not a node name", VerifyName::None).unwrap();
    let err = info.check_node("no-at-sign", VerifyName::Host).unwrap_err();
    assert!(matches!(err, IdentityError::InvalidClaim { .. }), "{err:?}");
    assert!(err.to_string().contains("no '@'"), "{err}");

    // A commonName-only certificate vouches for nothing.
    let cn_only = issue(&IssueOptions::new(tmp.path(), "carol@host1").without_subject_alt_names()).unwrap().info;
    assert!(cn_only.node_names.is_empty() && cn_only.dns_names.is_empty());
    assert_eq!(cn_only.otp_cert_nodes, None);
    let err = cn_only.check_node("carol@host1", VerifyName::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "peer carol@host1 presented a certificate for no node name at all (verify-name strict)"
    );
    assert!(cn_only.check_node("carol@host1", VerifyName::Host).is_err());
}

#[test]
fn knobs_make_bad_certificates_for_other_tests() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let now = SystemTime::now();
    let expired = issue(&IssueOptions::new(tmp.path(), "old@localhost").validity(now - 10 * DAY, now - DAY)).unwrap();
    assert!(expired.info.expires_in(now).is_none() && !expired.info.is_valid_at(now));
    let future = issue(&IssueOptions::new(tmp.path(), "new@localhost").validity(now + DAY, now + 10 * DAY)).unwrap();
    assert!(!future.info.is_valid_at(now) && future.info.is_valid_at(now + 2 * DAY));
    let server_only =
        issue(&IssueOptions::new(tmp.path(), "srv@localhost").purposes(&[KeyPurpose::ServerAuth])).unwrap().info;
    assert!(server_only.allows_server_auth() && !server_only.allows_client_auth());
    let no_eku = issue(&IssueOptions::new(tmp.path(), "any@localhost").purposes(&[])).unwrap().info;
    assert_eq!(no_eku.extended_key_usage, None);
    assert!(no_eku.allows_client_auth());
    let err = issue(&IssueOptions::new(tmp.path(), "bad@localhost").validity(now, now - DAY)).unwrap_err();
    assert!(matches!(err, CertsError::InvalidWindow), "{err:?}");
}

#[test]
fn existing_files_need_force() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = new_ca(tmp.path());
    let err = init_ca(&CaOptions::new(tmp.path())).unwrap_err();
    assert!(matches!(err, CertsError::Exists { .. }), "{err:?}");
    assert!(err.to_string().contains("use --force"), "{err}");
    assert_eq!(CertInfo::from_file(&ca.cert).unwrap().serial, ca.info.serial, "untouched");

    let first = issue(&IssueOptions::new(tmp.path(), "a@localhost")).unwrap();
    let err = issue(&IssueOptions::new(tmp.path(), "a@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::Exists { .. }));
    let second = issue(&IssueOptions::new(tmp.path(), "a@localhost").force(true)).unwrap();
    assert_ne!(first.info.serial, second.info.serial);
    assert_eq!(CertInfo::from_file(&second.cert).unwrap().serial, second.info.serial);
    assert_eq!(mode(&second.key), 0o600);
    assert_eq!(listing(tmp.path()), ["a@localhost.key", "a@localhost.pem", "ca.key", "ca.pem"]);
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // No CA yet.
    let err = issue(&IssueOptions::new(dir, "a@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::NoCa { .. }), "{err:?}");
    assert!(err.to_string().contains("ca.pem is missing"), "{err}");
    assert!(listing(dir).is_empty());

    new_ca(dir);
    let before = listing(dir);

    for bad in ["alice", "@localhost", "alice@", "a@b@c", "al ice@localhost", "a@ho_st", ""] {
        let err = issue(&IssueOptions::new(dir, bad)).unwrap_err();
        assert!(matches!(err, CertsError::InvalidNodeName { .. }), "{bad:?}: {err:?}");
    }
    for days in [0, -1, MAX_DAYS + 1] {
        let err = issue(&IssueOptions::new(dir, "a@localhost").days(days)).unwrap_err();
        assert!(matches!(err, CertsError::InvalidDays { .. }), "{days}: {err:?}");
        assert!(err.to_string().contains("between 1 and 36500 days"), "{err}");
        assert!(matches!(init_ca(&CaOptions::new(dir.join("x")).days(days)), Err(CertsError::InvalidDays { .. })));
    }
    let err = issue(&IssueOptions::new(dir, "a@localhost").days(DEFAULT_CA_DAYS + 10)).unwrap_err();
    assert!(matches!(err, CertsError::CaExpiresFirst { .. }), "{err:?}");
    assert_eq!(listing(dir), before);

    // A CA key that belongs to another CA.
    let other = dir.join("other");
    let other_ca = new_ca(&other);
    fs::copy(&other_ca.key, dir.join("ca.key")).unwrap();
    let err = issue(&IssueOptions::new(dir, "a@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::CaKeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("is not the CA certificate's key"), "{err}");

    // A CA certificate that is not PEM, and one that is not a CA.
    fs::write(dir.join("ca.pem"), "this is not PEM\n").unwrap();
    let err = issue(&IssueOptions::new(dir, "a@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::Pki(PkiError::NoPemBlock { .. })), "{err:?}");
    let node = issue(&IssueOptions::new(&other, "n@localhost")).unwrap();
    fs::copy(&node.cert, other.join("ca.pem")).unwrap();
    let err = issue(&IssueOptions::new(&other, "m@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::NotACa { .. }), "{err:?}");

    // An output folder that cannot be created.
    let blocker = dir.join("a-file");
    fs::write(&blocker, "x").unwrap();
    let err = init_ca(&CaOptions::new(blocker.join("pki"))).unwrap_err();
    assert!(matches!(err, CertsError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot create directory"), "{err}");

    assert!(!listing(dir).iter().any(|n| n.ends_with(".tmp") || n.starts_with("a@")), "{:?}", listing(dir));
    assert!(!listing(&other).iter().any(|n| n.starts_with("m@")));
}

#[test]
fn renew_keeps_identities_and_a_backup() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let first = issue(
        &IssueOptions::new(tmp.path(), "bob@localhost")
            .host("bob.example.com")
            .ip("10.1.2.3".parse().unwrap())
            .key(KeyAlgorithm::Ed25519)
            .days(30),
    )
    .unwrap();
    let old_key = fs::read(&first.key).unwrap();
    let old_cert = fs::read(&first.cert).unwrap();

    let renewed = renew(&RenewOptions::new(tmp.path(), "bob@localhost")).unwrap();
    let backup = renewed.backup.clone().expect("backup kept");
    assert_eq!(fs::read(&backup.key).unwrap(), old_key);
    assert_eq!(fs::read(&backup.cert).unwrap(), old_cert);
    assert_eq!(mode(&backup.key), 0o600);
    assert_ne!(fs::read(&renewed.key).unwrap(), old_key, "fresh key");
    assert_eq!(mode(&renewed.key), 0o600);

    let (old, new) = (&first.info, &renewed.info);
    assert_ne!(old.serial, new.serial);
    assert_eq!(new.dns_names, old.dns_names);
    assert_eq!(new.ip_addresses, old.ip_addresses);
    assert_eq!(new.node_names, old.node_names);
    assert_eq!(new.key_type, KeyType::Ed25519);
    let length = new.not_after.duration_since(new.not_before).unwrap();
    assert!(length >= 30 * DAY && length <= 31 * DAY, "{length:?}");

    let again = renew(&RenewOptions::new(tmp.path(), "bob@localhost").days(7).key(KeyAlgorithm::EcdsaP256)).unwrap();
    assert_ne!(again.backup.unwrap(), backup, "a second renewal keeps a second backup");
    assert_eq!(again.info.key_type, KeyType::EcdsaP256);

    let err = renew(&RenewOptions::new(tmp.path(), "nobody@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::NoNodeCert { .. }), "{err:?}");
}

#[test]
fn inspect_flags_expired_and_expiring_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let now = SystemTime::now();
    let ok = issue(&IssueOptions::new(tmp.path(), "ok@localhost").days(90)).unwrap();
    let soon = issue(&IssueOptions::new(tmp.path(), "soon@localhost").days(10)).unwrap();
    let old = issue(&IssueOptions::new(tmp.path(), "old@localhost").validity(now - 10 * DAY, now - DAY)).unwrap();
    let future = issue(&IssueOptions::new(tmp.path(), "new@localhost").validity(now + DAY, now + 9 * DAY)).unwrap();

    let report = inspect(&ok.cert, now, 30).unwrap();
    assert_eq!(report.status, ExpiryStatus::Valid);
    assert!(!report.needs_attention());
    let text = report.to_string();
    for needle in [
        "subject:      CN=ok@localhost",
        "issuer:       CN=test CA",
        "node names:   ok@localhost",
        "DNS names:    localhost",
        "ext. usage:   serverAuth, clientAuth",
        "key type:     ECDSA P-256",
        "(expires in 89 days)",
        "status:       OK",
        &format!("serial:       {}", ok.info.serial),
        &format!("SHA-256:      {}", ok.info.fingerprint_hex()),
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let report = inspect(&soon.cert, now, 30).unwrap();
    assert_eq!(report.status, ExpiryStatus::ExpiringSoon);
    assert!(report.needs_attention() && report.to_string().contains("EXPIRING"));
    assert_eq!(inspect(&soon.cert, now, 5).unwrap().status, ExpiryStatus::Valid);

    let report = inspect(&old.cert, now, 30).unwrap();
    assert_eq!(report.status, ExpiryStatus::Expired);
    assert!(report.needs_attention());
    assert!(report.to_string().contains("(expired 24 hours ago)"), "{report}");

    assert_eq!(inspect(&future.cert, now, 30).unwrap().status, ExpiryStatus::NotYetValid);

    let err = inspect(&ok.key, now, 30).unwrap_err();
    assert!(err.to_string().contains("expected a CERTIFICATE block, found PRIVATE KEY"), "{err}");
}

#[test]
fn erlang_config_points_at_the_node_files() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    issue(&IssueOptions::new(tmp.path(), "erl@localhost")).unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let conf = erlang_config(tmp.path(), "erl@localhost").unwrap();
    let text = &conf.optfile_text;
    let cert = format!("{{certfile, \"{}\"}}", dir.join("erl@localhost.pem").display());
    let key = format!("{{keyfile, \"{}\"}}", dir.join("erl@localhost.key").display());
    let ca = format!("{{cacertfile, \"{}\"}}", dir.join("ca.pem").display());
    for needle in [&cert, &key, &ca] {
        assert_eq!(text.matches(needle.as_str()).count(), 2, "{needle} on both sides:\n{text}");
    }
    assert_eq!(text.matches("{verify, verify_peer}").count(), 2);
    assert_eq!(text.matches("{fail_if_no_peer_cert, true}").count(), 1, "server side only");
    assert!(text.find("fail_if_no_peer_cert").unwrap() < text.find("{client,").unwrap());
    assert_eq!(text.matches("{versions, ['tlsv1.3', 'tlsv1.2']}").count(), 2);
    assert_eq!(text.matches("{secure_renegotiate, true}").count(), 2);
    assert!(text.trim_end().ends_with("]}]."));

    assert_eq!(conf.optfile_path, dir.join("erl@localhost.ssl_dist.conf"));
    assert_eq!(
        conf.erl_flags,
        [
            "-sname",
            "erl@localhost",
            "-proto_dist",
            "inet_tls",
            "-ssl_dist_optfile",
            dir.join("erl@localhost.ssl_dist.conf").to_str().unwrap()
        ]
    );

    let out = tmp.path().join("conf/erl.conf");
    let conf = conf.at(&out).unwrap();
    conf.write(false).unwrap();
    assert_eq!(fs::read_to_string(&out).unwrap(), conf.optfile_text);
    assert_eq!(conf.erl_flags.last().map(String::as_str), out.to_str());
    assert!(matches!(conf.write(false), Err(CertsError::Exists { .. })));
    conf.write(true).unwrap();

    let err = erlang_config(tmp.path(), "nobody@localhost").unwrap_err();
    assert!(matches!(err, CertsError::NoNodeCert { .. }), "{err:?}");
    assert!(matches!(erlang_config(tmp.path(), "bad"), Err(CertsError::InvalidNodeName { .. })));
}

#[test]
fn an_operator_certificate_covers_generated_names_for_clients_only_and_renews_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    new_ca(tmp.path());
    let ops = issue(&IssueOptions::new(tmp.path(), "ops@localhost").operator()).unwrap();
    assert_eq!(ops.cert, tmp.path().join("ops@localhost.pem"));
    assert_eq!(ops.info.node_names, ["ops-*@localhost"]);
    assert_eq!(ops.info.operator_patterns().collect::<Vec<_>>(), [("ops-", "localhost")]);
    assert_eq!(ops.info.subject, "CN=ops-*@localhost");
    let eku = ops.info.extended_key_usage.clone().expect("EKU present");
    assert!(eku.client_auth && !eku.server_auth, "{eku:?}");
    ops.info.check_node("ops-ping_12_34@localhost", VerifyName::Strict).unwrap();
    ops.info.check_node("ops@localhost", VerifyName::Strict).expect_err("the operator name itself is no node");
    ops.info.check_node("rust@localhost", VerifyName::Strict).expect_err("nor is any other");

    let renewed = renew(&RenewOptions::new(tmp.path(), "ops@localhost")).unwrap();
    assert_eq!(renewed.info.node_names, ops.info.node_names);
    assert_eq!(renewed.info.extended_key_usage, ops.info.extended_key_usage);
}
