//! Revocation through the library: the CRL a folder's CA keeps, its entries
//! and numbering, its files, and the refusals.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::pki::{CertInfo, PkiError};
use crate::transport::tls::{CrlInfo, RevocationReason, load_crls};

const DAY: Duration = Duration::from_secs(86_400);

fn new_ca(dir: &Path) -> CaFiles {
    init_ca(&CaOptions::new(dir).name("crl test CA")).expect("init_ca")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn read_crl(path: &Path) -> CrlInfo {
    let ders = load_crls(path).expect("load the CRL");
    assert_eq!(ders.len(), 1);
    CrlInfo::from_der(ders[0].as_ref(), "crl").expect("parse the CRL")
}

#[test]
fn revocations_accumulate_with_increasing_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = new_ca(dir);
    let alice = issue(&IssueOptions::new(dir, "alice@localhost")).unwrap().info;
    let bob = issue(&IssueOptions::new(dir, "bob@localhost")).unwrap().info;

    let before = SystemTime::now() - Duration::from_secs(2);
    let first = revoke(&RevokeOptions::new(dir, "alice@localhost").reason(RevocationReason::KeyCompromise)).unwrap();
    assert_eq!(first.path, dir.join("crl.pem"));
    assert_eq!(fs::metadata(&first.path).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(!first.already_revoked);
    let entry = first.entry.clone().expect("an entry for alice");
    assert_eq!(entry.serial, alice.serial);
    assert_eq!(entry.reason, Some(RevocationReason::KeyCompromise));
    assert!(entry.revoked_at >= before && entry.revoked_at <= SystemTime::now());
    let info = read_crl(&first.path);
    assert_eq!(info, first.info, "what revoke reports is what the file says");
    assert_eq!(info.issuer, ca.info.subject);
    assert_eq!(info.number.as_deref(), Some("1"));
    assert_eq!(info.revoked.len(), 1);
    let next = info.next_update.unwrap().duration_since(info.this_update).unwrap();
    assert_eq!(next, DEFAULT_CRL_DAYS as u32 * DAY);

    let second = revoke(&RevokeOptions::new(dir, "bob@localhost").days(7)).unwrap();
    let info = read_crl(&second.path);
    assert_eq!(info.number.as_deref(), Some("2"));
    let serials: Vec<&str> = info.revoked.iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(serials, [alice.serial.as_str(), bob.serial.as_str()], "earlier revocations are kept, in order");
    assert_eq!(info.revoked[0], entry, "alice's entry keeps its date and reason");
    assert_eq!(info.revoked[1].reason, None);
    assert_eq!(info.next_update.unwrap().duration_since(info.this_update).unwrap(), 7 * DAY);

    // Again: nothing is added or changed, but the CRL is re-signed with the next number.
    let again = revoke(&RevokeOptions::new(dir, "alice@localhost").reason(RevocationReason::Superseded)).unwrap();
    assert!(again.already_revoked);
    assert_eq!(again.entry, Some(entry.clone()), "the original reason stays");
    assert_eq!(again.info.number.as_deref(), Some("3"));
    assert_eq!(again.info.revoked.len(), 2);

    // A refresh keeps every entry and moves the number on.
    let refreshed = update_crl(&CrlOptions::new(dir).days(90)).unwrap();
    assert_eq!(refreshed.info.number.as_deref(), Some("4"));
    assert_eq!(refreshed.info.revoked, again.info.revoked);
    assert_eq!(refreshed.entry, None);
    let next_update = refreshed.info.next_update.unwrap();
    assert_eq!(next_update.duration_since(refreshed.info.this_update).unwrap(), 90 * DAY);

    // The hash-directory link OTP's ssl_crl_hash_dir reads, and nothing else new.
    let link = refreshed.hash_link.clone().expect("a hash link");
    assert_eq!(link.parent().unwrap(), dir.join(CRL_HASH_DIR));
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("../crl.pem"));
    assert_eq!(fs::read(&link).unwrap(), fs::read(dir.join("crl.pem")).unwrap());
    assert_eq!(listing(&dir.join(CRL_HASH_DIR)).len(), 1);
    assert_eq!(
        listing(dir),
        ["alice@localhost.key", "alice@localhost.pem", "bob@localhost.key", "bob@localhost.pem", "ca.key", "ca.pem"]
            .into_iter()
            .chain(["crl.d", "crl.pem"])
            .collect::<Vec<_>>()
    );
}

#[test]
fn each_crl_replaces_the_file_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir);
    let path = update_crl(&CrlOptions::new(dir)).unwrap().path;
    assert!(read_crl(&path).revoked.is_empty(), "an empty CRL to start with");
    let mut inodes = vec![fs::metadata(&path).unwrap().ino()];
    for i in 0..3 {
        let node = format!("n{i}@localhost");
        issue(&IssueOptions::new(dir, &node)).unwrap();
        revoke(&RevokeOptions::new(dir, &node)).unwrap();
        // Written beside and renamed into place: a reader sees the old file or the new, never a mix.
        inodes.push(fs::metadata(&path).unwrap().ino());
        assert_eq!(read_crl(&path).revoked.len(), i + 1);
    }
    inodes.dedup();
    assert_eq!(inodes.len(), 4, "a new file each time");
    assert!(!listing(dir).iter().chain(listing(&dir.join(CRL_HASH_DIR)).iter()).any(|n| n.ends_with(".tmp")));
}

#[test]
fn old_certificate_files_and_bare_serials_can_be_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir);
    let old = issue(&IssueOptions::new(dir, "carol@localhost")).unwrap();
    let renewed = renew(&RenewOptions::new(dir, "carol@localhost")).unwrap();
    let backup = renewed.backup.unwrap();
    let crl = revoke(&RevokeOptions::cert_file(dir, &backup.cert).reason(RevocationReason::Superseded)).unwrap();
    assert_eq!(crl.entry.unwrap().serial, old.info.serial);
    assert!(crl.info.find(&renewed.info.serial).is_none(), "the renewed certificate is still good");

    let crl = revoke(&RevokeOptions::serial(dir, "0x00:0a:bc")).unwrap();
    assert_eq!(crl.entry.unwrap().serial, "0ABC");
    assert!(crl.info.find("abc").is_some() && crl.info.find(&old.info.serial).is_some());
}

#[test]
fn revoking_needs_the_ca_and_a_certificate_it_issued() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    fs::create_dir(&dir).unwrap();

    // No CA: refused, nothing written.
    let err = revoke(&RevokeOptions::serial(&dir, "01")).unwrap_err();
    assert!(matches!(err, CertsError::NoCa { .. }), "{err:?}");
    assert!(err.to_string().contains("ca.pem is missing"), "{err}");
    assert!(matches!(update_crl(&CrlOptions::new(&dir)), Err(CertsError::NoCa { .. })));
    assert!(listing(&dir).is_empty());

    new_ca(&dir);
    // A node without a certificate here.
    let err = revoke(&RevokeOptions::new(&dir, "nobody@localhost")).unwrap_err();
    assert!(matches!(err, CertsError::NoNodeCert { .. }), "{err:?}");
    assert!(err.to_string().starts_with("no certificate for nobody@localhost in"), "{err}");
    assert!(err.to_string().contains("nobody@localhost.pem is missing"), "{err}");
    let err = revoke(&RevokeOptions::new(&dir, "not a node")).unwrap_err();
    assert!(matches!(err, CertsError::InvalidNodeName { .. }), "{err:?}");

    // A certificate from another CA, even one with the same name.
    let other = tmp.path().join("other");
    new_ca(&other);
    let foreign = issue(&IssueOptions::new(&other, "eve@localhost")).unwrap();
    let err = revoke(&RevokeOptions::cert_file(&dir, &foreign.cert)).unwrap_err();
    assert!(matches!(err, CertsError::NotIssuedByCa { .. }), "{err:?}");
    assert!(err.to_string().contains("was not issued by the CA in"), "{err}");
    let err = revoke(&RevokeOptions::cert_file(&dir, &foreign.key)).unwrap_err();
    assert!(matches!(err, CertsError::Pki(PkiError::WrongBlockType { .. })), "{err:?}");

    // Bad serials, days and reasons.
    for bad in ["", "xyz", "00", &"7".repeat(41)] {
        let err = revoke(&RevokeOptions::serial(&dir, bad)).unwrap_err();
        assert!(matches!(err, CertsError::InvalidSerial { .. }), "{bad:?}: {err:?}");
    }
    for days in [0, -3, MAX_DAYS + 1] {
        let err = revoke(&RevokeOptions::serial(&dir, "01").days(days)).unwrap_err();
        assert!(matches!(err, CertsError::InvalidDays { .. }), "{days}: {err:?}");
        assert!(matches!(update_crl(&CrlOptions::new(&dir).days(days)), Err(CertsError::InvalidDays { .. })));
    }
    let err = revoke(&RevokeOptions::serial(&dir, "01").reason(RevocationReason::RemoveFromCrl)).unwrap_err();
    assert!(err.to_string().contains("removeFromCRL belongs in delta CRLs only"), "{err}");
    assert_eq!(listing(&dir), ["ca.key", "ca.pem"], "no CRL from refused requests");
}

#[test]
fn a_crl_the_ca_did_not_sign_is_not_extended() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir);
    issue(&IssueOptions::new(dir, "a@localhost")).unwrap();
    revoke(&RevokeOptions::new(dir, "a@localhost")).unwrap();
    let crl_text = fs::read(dir.join("crl.pem")).unwrap();

    // The CA is replaced (same name, new key): its predecessor's CRL is refused, untouched.
    init_ca(&CaOptions::new(dir).name("crl test CA").force(true)).unwrap();
    let err = update_crl(&CrlOptions::new(dir)).unwrap_err();
    assert!(matches!(err, CertsError::ForeignCrl { .. }), "{err:?}");
    assert!(err.to_string().contains("was not signed by the CA in"), "{err}");
    assert_eq!(fs::read(dir.join("crl.pem")).unwrap(), crl_text);

    fs::write(dir.join("crl.pem"), "garbage\n").unwrap();
    let err = update_crl(&CrlOptions::new(dir)).unwrap_err();
    assert!(matches!(err, CertsError::BadCrl { .. }), "{err:?}");
    assert!(err.to_string().contains("crl.pem: cannot use it as a CRL: no X509 CRL block found"), "{err}");

    // Moved away, a new CRL starts at number 1.
    fs::remove_file(dir.join("crl.pem")).unwrap();
    assert_eq!(update_crl(&CrlOptions::new(dir)).unwrap().info.number.as_deref(), Some("1"));
}

#[test]
fn crl_inspection_lists_entries_and_flags_a_stale_crl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir);
    let a = issue(&IssueOptions::new(dir, "a@localhost")).unwrap().info;
    let crl = revoke(&RevokeOptions::new(dir, "a@localhost").reason(RevocationReason::CessationOfOperation).days(10))
        .unwrap();
    let now = SystemTime::now();
    let report = inspect_crl(&crl.path, now).unwrap();
    assert!(!report.needs_attention());
    let text = report.to_string();
    for needle in [
        "kind:         certificate revocation list",
        "issuer:       CN=crl test CA",
        "CRL number:   1",
        "revoked:      1 certificate\n",
        &format!("  serial {} since ", a.serial),
        ", cessationOfOperation",
        "(in 9 days)",
        "status:       OK",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let later = inspect_crl(&crl.path, now + 11 * DAY).unwrap();
    assert!(later.needs_attention());
    assert!(later.to_string().contains("status:       STALE"), "{later}");

    // A certificate is not a CRL, and inspect says which it is.
    let err = inspect_crl(&dir.join("ca.pem"), now).unwrap_err();
    assert!(err.to_string().contains("expected an X509 CRL block, found Certificate"), "{err}");
    let err = inspect(&crl.path, now, 30).unwrap_err();
    assert!(matches!(err, CertsError::Pki(PkiError::WrongBlockType { .. })), "{err:?}");
    assert_eq!(CertInfo::from_file(&dir.join("a@localhost.pem")).unwrap().serial, a.serial);
}

#[test]
fn erlang_config_checks_the_crl_once_the_folder_has_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir);
    issue(&IssueOptions::new(dir, "erl@localhost")).unwrap();
    let without = erlang_config(dir, "erl@localhost").unwrap();
    assert_eq!(without.crl_dir, None);
    assert!(!without.optfile_text.contains("crl"), "{}", without.optfile_text);

    update_crl(&CrlOptions::new(dir)).unwrap();
    let with = erlang_config(dir, "erl@localhost").unwrap();
    let crl_dir = dir.canonicalize().unwrap().join("crl.d");
    assert_eq!(with.crl_dir.as_deref(), Some(crl_dir.as_path()));
    let text = &with.optfile_text;
    assert_eq!(text.matches("{crl_check, peer}").count(), 2, "both sections:\n{text}");
    let cache = format!("{{crl_cache, {{ssl_crl_hash_dir, {{internal, [{{dir, \"{}\"}}]}}}}}}", crl_dir.display());
    assert_eq!(text.matches(&cache).count(), 2, "{cache} in:\n{text}");

    // The optfile beamlink itself reads maps it back to the same directory.
    let options = crate::transport::tls::SslDistOptions::parse(text, "t.conf").unwrap();
    let config = crate::transport::tls::TlsConfig::from_ssl_dist_options(&options, "t.conf").unwrap();
    assert_eq!(config.crl_hash_dirs(), std::slice::from_ref(&crl_dir));
    assert!(options.ignored.iter().all(|o| !o.contains("crl")), "{:?}", options.ignored);

    // Without the hash link erl could not find the CRL: refused with the fix.
    for entry in fs::read_dir(&crl_dir).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let err = erlang_config(dir, "erl@localhost").unwrap_err();
    assert!(err.to_string().contains("beamlink certs crl --dir"), "{err}");
}
