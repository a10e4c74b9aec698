//! The `-ssl_dist_optfile` that makes a stock `erl` node use a certificate
//! from this folder for TLS distribution (OTP's *Using TLS for Erlang Distribution* (SSL User's Guide)).
//!
//! OTP 25 defaults matter here: `versions` defaults to TLS 1.2 only, a client
//! does not verify the server unless told (`verify_none`), and a server does
//! not require a client certificate. The optfile sets all three explicitly.

use std::path::{Path, PathBuf};

use super::ca::CA_CERT_FILE;
use super::crl::{CRL_FILE, hash_link_path};
use super::files::{PUBLIC_MODE, Staged, ensure_dir, refuse_existing};
use super::{CertsError, node_files};
use crate::pki::{self, parse_node_name};

/// An optfile for one node, and the `erl` flags that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErlangConfig {
    /// The node name.
    pub node: String,
    /// Where the optfile is meant to live (absolute); the flags point there.
    pub optfile_path: PathBuf,
    /// The optfile's text: one Erlang term, `[{server, ..}, {client, ..}].`.
    pub optfile_text: String,
    /// The CRL hash directory the optfile makes `erl` check peers against
    /// (`DIR/crl.d`), when the folder has a CRL.
    pub crl_dir: Option<PathBuf>,
    /// The `erl` arguments that go with it: the name flag (`-sname` for a
    /// single-label host, `-name` otherwise), `-proto_dist inet_tls` and
    /// `-ssl_dist_optfile PATH`.
    pub erl_flags: Vec<String>,
}

impl ErlangConfig {
    /// The same configuration, meant to be saved at `path` instead.
    pub fn at(mut self, path: &Path) -> Result<ErlangConfig, CertsError> {
        self.optfile_path = absolute(path)?;
        self.erl_flags = erl_flags(&self.node, &self.optfile_path)?;
        Ok(self)
    }

    /// Writes the optfile to [`ErlangConfig::optfile_path`] (atomically,
    /// mode 0644); refuses to overwrite an existing file unless `force`.
    pub fn write(&self, force: bool) -> Result<(), CertsError> {
        refuse_existing(&[&self.optfile_path], force)?;
        if let Some(parent) = self.optfile_path.parent() {
            ensure_dir(parent)?;
        }
        let mut staged = Staged::new();
        staged.add(&self.optfile_path, self.optfile_text.as_bytes(), PUBLIC_MODE)?;
        staged.commit()
    }

    /// The flags as one line for a shell, paths quoted where needed.
    pub fn erl_flags_line(&self) -> String {
        self.erl_flags.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    }
}

/// The optfile for `node`'s certificate in `dir`: mutual verification with
/// the folder's CA, TLS 1.3 and 1.2, secure renegotiation, absolute paths,
/// and, when the folder has a CRL (`crl.pem`, from `beamlink certs revoke` or
/// `crl`), a revocation check of each peer against it through `crl.d`.
/// It is meant to be saved as `DIR/NODE@HOST.ssl_dist.conf` unless
/// [`ErlangConfig::at`] names another place.
pub fn erlang_config(dir: &Path, node: &str) -> Result<ErlangConfig, CertsError> {
    parse_node_name(node).map_err(|reason| CertsError::InvalidNodeName { node: node.to_string(), reason })?;
    let (cert, key) = node_files(dir, node);
    let ca = dir.join(CA_CERT_FILE);
    for path in [&cert, &key] {
        if path.symlink_metadata().is_err() {
            return Err(CertsError::NoNodeCert {
                node: node.to_string(),
                dir: dir.to_path_buf(),
                missing: path.clone(),
            });
        }
    }
    if ca.symlink_metadata().is_err() {
        return Err(CertsError::NoCa { dir: dir.to_path_buf(), missing: ca });
    }
    let dir = dir.canonicalize().map_err(CertsError::io("resolve", dir))?;
    let (cert, key) = node_files(&dir, node);
    let ca = dir.join(CA_CERT_FILE);
    let mut common = format!(
        "{{certfile, {}}},\n    {{keyfile, {}}},\n    {{cacertfile, {}}},\n    {{verify, verify_peer}},\n",
        erlang_string(&cert)?,
        erlang_string(&key)?,
        erlang_string(&ca)?,
    );
    let crl_dir = crl_hash_dir(&dir, &ca)?;
    if let Some(crl_dir) = &crl_dir {
        common.push_str(&format!(
            "    {{crl_check, peer}},\n    {{crl_cache, {{ssl_crl_hash_dir, {{internal, [{{dir, {}}}]}}}}}},\n",
            erlang_string(crl_dir)?
        ));
    }
    let tail = "{secure_renegotiate, true},\n    {versions, ['tlsv1.3', 'tlsv1.2']}";
    let optfile_text = format!(
        "%% TLS distribution options for {node}: erl -proto_dist inet_tls -ssl_dist_optfile THIS_FILE\n\
         [{{server,\n   [{common}    {{fail_if_no_peer_cert, true}},\n    {tail}]}},\n \
         {{client,\n   [{common}    {tail}]}}].\n"
    );
    let optfile_path = dir.join(format!("{node}.ssl_dist.conf"));
    let erl_flags = erl_flags(node, &optfile_path)?;
    Ok(ErlangConfig { node: node.to_string(), optfile_path, optfile_text, crl_dir, erl_flags })
}

/// The CRL hash directory of `dir` when the folder has a CRL: `erl` then
/// checks each peer's certificate against it (`{crl_check, peer}`; a peer
/// whose CA has no CRL there is refused, as beamlink does by default).
/// OTP's `ssl_crl_hash_dir` re-reads the directory at each handshake, so
/// later revocations reach `erl` without a restart. Unlike beamlink's
/// default, OTP refuses every peer once the CRL is past its nextUpdate:
/// refresh it in time (`beamlink certs crl`).
fn crl_hash_dir(dir: &Path, ca: &Path) -> Result<Option<PathBuf>, CertsError> {
    let crl = dir.join(CRL_FILE);
    if crl.symlink_metadata().is_err() {
        return Ok(None);
    }
    let ca_der = pki::load_certs(ca)?.into_iter().next();
    let link = ca_der.and_then(|der| hash_link_path(dir, der.as_ref())).ok_or_else(|| CertsError::BadCrl {
        path: crl.clone(),
        reason: "the CA's name cannot be hashed for a CRL hash directory; configure erl's crl_cache by hand".into(),
    })?;
    if link.metadata().is_err() {
        return Err(CertsError::BadCrl {
            path: link,
            reason: format!(
                "missing, so erl cannot find the CRL; make it with `beamlink certs crl --dir {}`",
                dir.display()
            ),
        });
    }
    Ok(link.parent().map(Path::to_path_buf))
}

fn erl_flags(node: &str, optfile: &Path) -> Result<Vec<String>, CertsError> {
    let parts =
        parse_node_name(node).map_err(|reason| CertsError::InvalidNodeName { node: node.to_string(), reason })?;
    let name_flag = if parts.host.contains('.') || parts.host_ip().is_some() { "-name" } else { "-sname" };
    let optfile = optfile.to_str().ok_or_else(|| CertsError::NonUtf8Path { path: optfile.to_path_buf() })?;
    Ok(vec![
        name_flag.to_string(),
        node.to_string(),
        "-proto_dist".to_string(),
        "inet_tls".to_string(),
        "-ssl_dist_optfile".to_string(),
        optfile.to_string(),
    ])
}

fn absolute(path: &Path) -> Result<PathBuf, CertsError> {
    std::path::absolute(path).map_err(CertsError::io("resolve", path))
}

/// A path as an Erlang string literal. The optfile is read as Latin-1 unless
/// it declares a coding, so anything outside printable ASCII is escaped.
fn erlang_string(path: &Path) -> Result<String, CertsError> {
    let text = path.to_str().ok_or_else(|| CertsError::NonUtf8Path { path: path.to_path_buf() })?;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\x{{{:X}}}", u32::from(c))),
        }
    }
    out.push('"');
    Ok(out)
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_erlang_strings() {
        assert_eq!(erlang_string(Path::new("/a/b c.pem")).unwrap(), "\"/a/b c.pem\"");
        assert_eq!(erlang_string(Path::new("/a\"\\é")).unwrap(), "\"/a\\\"\\\\\\x{E9}\"");
    }

    #[test]
    fn name_flag_follows_the_host() {
        let p = Path::new("/x/o.conf");
        assert_eq!(erl_flags("a@localhost", p).unwrap()[0], "-sname");
        assert_eq!(erl_flags("a@host.example.com", p).unwrap()[0], "-name");
        assert_eq!(erl_flags("a@127.0.0.1", p).unwrap()[0], "-name");
        assert_eq!(erl_flags("a@::1", p).unwrap()[0], "-name");
        assert_eq!(
            erl_flags("a@localhost", p).unwrap()[1..],
            ["a@localhost", "-proto_dist", "inet_tls", "-ssl_dist_optfile", "/x/o.conf"]
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/plain/path@x.conf"), "/plain/path@x.conf");
        assert_eq!(shell_quote("/with space/it's"), "'/with space/it'\\''s'");
    }
}
