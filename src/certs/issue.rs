//! Node certificates: issuing and renewing.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::OffsetDateTime;

use super::ca::{LoadedCa, load_ca};
use super::files::{KEY_MODE, PUBLIC_MODE, Staged, ensure_dir, refuse_existing};
use super::profile::{NodeIdentity, Window, node_params};
use super::{CertsError, IssueOptions, MAX_DAYS, RenewOptions, keys};
use crate::pki::{CertInfo, check_host, parse_node_name};

/// What [`issue`] or [`renew`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeFiles {
    /// The certificate (`DIR/NODE@HOST.pem`).
    pub cert: PathBuf,
    /// The key (`DIR/NODE@HOST.key`, mode 0600).
    pub key: PathBuf,
    /// What the new certificate says.
    pub info: CertInfo,
    /// Where [`renew`] kept the previous pair (`None` for [`issue`]).
    pub backup: Option<Backup>,
}

/// The previous certificate and key, kept by [`renew`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The old certificate.
    pub cert: PathBuf,
    /// The old key (mode 0600, as before).
    pub key: PathBuf,
}

/// The certificate and key paths of `node` in `dir`: `NODE@HOST.pem` and `NODE@HOST.key`.
pub fn node_files(dir: &Path, node: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{node}.pem")), dir.join(format!("{node}.key")))
}

/// Issues a key and a certificate for `opts.node`, signed by the CA in
/// `opts.dir`. Refuses to overwrite existing files unless `opts.force`.
///
/// ```no_run
/// use beamlink::certs::{IssueOptions, issue};
/// let files = issue(&IssueOptions::new("pki", "alice@host1.example.com").host("alice.example.com"))?;
/// println!("good for {:?}", files.info.node_names);
/// # Ok::<(), beamlink::certs::CertsError>(())
/// ```
pub fn issue(opts: &IssueOptions) -> Result<NodeFiles, CertsError> {
    let mut id = identity(&opts.node, &opts.hosts, &opts.ips)?;
    if opts.operator {
        id.make_operator();
    }
    let window = window(opts)?;
    let (cert_path, key_path) = node_files(&opts.dir, &id.node);
    refuse_existing(&[&cert_path, &key_path], opts.force)?;
    let ca = load_ca(&opts.dir)?;
    let made = make(&ca, &id, opts, window)?;
    ensure_dir(&opts.dir)?;
    made.stage(&cert_path, &key_path)?.commit()?;
    tracing::info!(node = %id.node, serial = %made.info.serial, "issued node certificate");
    Ok(NodeFiles { cert: cert_path, key: key_path, info: made.info, backup: None })
}

/// Issues a fresh key and certificate for a node that already has one in
/// `opts.dir`, with the same identities (hosts, addresses, node name), the
/// same key type and validity length unless told otherwise. The old pair is
/// kept beside the new one as `NODE@HOST.pem.bak-<UTC time>` / `.key.bak-<UTC time>`.
pub fn renew(opts: &RenewOptions) -> Result<NodeFiles, CertsError> {
    let parts = parse_node_name(&opts.node)
        .map_err(|reason| CertsError::InvalidNodeName { node: opts.node.clone(), reason })?;
    let (cert_path, key_path) = node_files(&opts.dir, &opts.node);
    for path in [&cert_path, &key_path] {
        if path.symlink_metadata().is_err() {
            return Err(CertsError::NoNodeCert {
                node: opts.node.clone(),
                dir: opts.dir.clone(),
                missing: path.clone(),
            });
        }
    }
    let old = CertInfo::from_file(&cert_path)?;
    let hosts: Vec<String> = old.dns_names.iter().filter(|h| h.as_str() != parts.host).cloned().collect();
    let days = match opts.days {
        Some(days) => days,
        None => {
            // Rounded to the nearest day, so the five-minute backdating does not add a day per renewal.
            let secs = old.not_after.duration_since(old.not_before).map(|d| d.as_secs()).unwrap_or(0);
            i64::try_from((secs + 43_200) / 86_400).unwrap_or(MAX_DAYS).clamp(1, MAX_DAYS)
        }
    };
    let mut issue_opts = IssueOptions::new(&opts.dir, &opts.node)
        .days(days)
        .key(opts.key.unwrap_or_else(|| keys::algorithm_like(&old.key_type)))
        .force(true);
    issue_opts.hosts = hosts;
    issue_opts.ips = old.ip_addresses.clone();
    let operator = old.operator_patterns().next().is_some();
    if operator {
        issue_opts = issue_opts.operator();
    }

    let mut id = identity(&issue_opts.node, &issue_opts.hosts, &issue_opts.ips)?;
    if operator {
        id.make_operator();
    }
    let window = window(&issue_opts)?;
    let ca = load_ca(&opts.dir)?;
    let made = make(&ca, &id, &issue_opts, window)?;
    let staged = made.stage(&cert_path, &key_path)?;
    let backup = keep_backup(&cert_path, &key_path)?;
    if let Err(e) = staged.commit() {
        let _ = fs::remove_file(&backup.cert);
        let _ = fs::remove_file(&backup.key);
        return Err(e);
    }
    tracing::info!(node = %id.node, serial = %made.info.serial, old_serial = %old.serial, "renewed node certificate");
    Ok(NodeFiles { cert: cert_path, key: key_path, info: made.info, backup: Some(backup) })
}

/// A signed certificate and its key, not yet on disk.
struct Made {
    cert_pem: String,
    key_pem: String,
    info: CertInfo,
}

impl Made {
    fn stage(&self, cert_path: &Path, key_path: &Path) -> Result<Staged, CertsError> {
        let mut staged = Staged::new();
        staged.add(key_path, self.key_pem.as_bytes(), KEY_MODE)?;
        staged.add(cert_path, self.cert_pem.as_bytes(), PUBLIC_MODE)?;
        Ok(staged)
    }
}

fn make(ca: &LoadedCa, id: &NodeIdentity, opts: &IssueOptions, window: Window) -> Result<Made, CertsError> {
    if window.not_after > ca.info.not_after {
        return Err(CertsError::CaExpiresFirst { ca: ca.cert_path.clone() });
    }
    let key = keys::generate(opts.key)?;
    let params = node_params(id, opts.key, window, &opts.purposes, opts.subject_alt_names)?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(CertsError::crypto("signing the node certificate"))?;
    let info = CertInfo::from_der(cert.der())?;
    Ok(Made { cert_pem: cert.pem(), key_pem: key.serialize_pem(), info })
}

/// Checks the node name and extra hosts, and lists the SAN entries.
fn identity(node: &str, hosts: &[String], ips: &[IpAddr]) -> Result<NodeIdentity, CertsError> {
    let parts =
        parse_node_name(node).map_err(|reason| CertsError::InvalidNodeName { node: node.to_string(), reason })?;
    let mut id = NodeIdentity {
        node: node.to_string(),
        subject: node.to_string(),
        alive: parts.alive.to_string(),
        dns_names: Vec::new(),
        ips: Vec::new(),
    };
    add_host(&mut id, parts.host);
    for host in hosts {
        check_host(host).map_err(|reason| CertsError::InvalidHost { host: host.clone(), reason })?;
        add_host(&mut id, host);
    }
    for ip in ips {
        if !id.ips.contains(ip) {
            id.ips.push(*ip);
        }
    }
    Ok(id)
}

/// A host becomes a dNSName; an IP-literal host also becomes an iPAddress.
fn add_host(id: &mut NodeIdentity, host: &str) {
    if !id.dns_names.iter().any(|d| d.eq_ignore_ascii_case(host)) {
        id.dns_names.push(host.to_string());
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !id.ips.contains(&ip)
    {
        id.ips.push(ip);
    }
}

fn window(opts: &IssueOptions) -> Result<Window, CertsError> {
    let now = SystemTime::now();
    let default = Window::days_from_now(opts.days, now)?;
    Ok(Window {
        not_before: opts.not_before.unwrap_or(default.not_before),
        not_after: opts.not_after.unwrap_or(default.not_after),
    })
}

/// Hard-links the current pair to backup names (copying where links are not
/// possible), so the current names can then be replaced atomically.
fn keep_backup(cert_path: &Path, key_path: &Path) -> Result<Backup, CertsError> {
    let now = OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for attempt in 0..100u32 {
        let suffix = if attempt == 0 { stamp.clone() } else { format!("{stamp}-{attempt}") };
        let backup = Backup { cert: with_suffix(cert_path, &suffix), key: with_suffix(key_path, &suffix) };
        if backup.cert.symlink_metadata().is_ok() || backup.key.symlink_metadata().is_ok() {
            continue;
        }
        link_or_copy(key_path, &backup.key)?;
        if let Err(e) = link_or_copy(cert_path, &backup.cert) {
            let _ = fs::remove_file(&backup.key);
            return Err(e);
        }
        return Ok(backup);
    }
    Err(CertsError::Io {
        action: "find a free backup name for",
        path: cert_path.to_path_buf(),
        error: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".bak-{suffix}"));
    path.with_file_name(name)
}

fn link_or_copy(from: &Path, to: &Path) -> Result<(), CertsError> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    let mut staged = Staged::new();
    let contents = fs::read(from).map_err(CertsError::io("read", from))?;
    let mode = if from.extension().is_some_and(|e| e == "key") { KEY_MODE } else { PUBLIC_MODE };
    staged.add(to, &contents, mode)?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::KeyPurpose;

    #[test]
    fn identity_lists_hosts_and_addresses_once() {
        let id = identity(
            "erl@127.0.0.1",
            &["LOCALHOST".into(), "localhost".into(), "127.0.0.1".into()],
            &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        )
        .unwrap();
        assert_eq!(id.alive, "erl");
        assert_eq!(id.dns_names, ["127.0.0.1", "LOCALHOST"]);
        assert_eq!(id.ips, ["127.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert!(matches!(identity("a@h", &["bad host".into()], &[]), Err(CertsError::InvalidHost { .. })));
        assert!(matches!(identity("a", &[], &[]), Err(CertsError::InvalidNodeName { .. })));
    }

    #[test]
    fn backup_names_carry_a_suffix() {
        assert_eq!(with_suffix(Path::new("/d/a@h.pem"), "X"), Path::new("/d/a@h.pem.bak-X"));
    }

    #[test]
    fn purposes_default_to_server_and_client() {
        assert_eq!(IssueOptions::new("d", "a@h").purposes, [KeyPurpose::ServerAuth, KeyPurpose::ClientAuth]);
    }
}
