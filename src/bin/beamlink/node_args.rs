//! Options shared by the commands that run a node.

use beamlink::node::{NodeBuilder, hostname};
use beamlink::proto::{NameMode, NodeName};
use clap::Args;

/// How often a long-running node looks at the files it reloads when they
/// change (certificates, keys, CRLs, the firewall policy file).
pub const RELOAD_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// How this node is named: `--sname` or `--name`.
#[derive(Args, Debug, Clone, Default)]
pub struct NameArgs {
    /// Short node name (`NAME` or `NAME@HOST`; the host defaults to this machine's short name).
    #[arg(long, value_name = "NAME", conflicts_with = "name")]
    pub sname: Option<String>,
    /// Long node name (`NAME@HOST` with a fully qualified host or an IP address).
    #[arg(long, value_name = "NAME@HOST")]
    pub name: Option<String>,
}

impl NameArgs {
    /// The node name these options give, if any.
    pub fn node_name(&self) -> Result<Option<NodeName>, String> {
        let text = match (&self.sname, &self.name) {
            (Some(s), _) if s.contains('@') => s.clone(),
            (Some(s), _) => format!("{s}@{}", hostname::short_hostname()),
            (None, Some(n)) if n.contains('@') => n.clone(),
            (None, Some(n)) => match hostname::long_hostname() {
                Some(host) => format!("{n}@{host}"),
                None => return Err(format!("this machine's host name has no domain part: give --name {n}@HOST")),
            },
            (None, None) => return Ok(None),
        };
        let name = NodeName::new(&text).map_err(|e| e.to_string())?;
        let wanted = if self.sname.is_some() { NameMode::Short } else { NameMode::Long };
        if name.mode() != wanted {
            return Err(match wanted {
                NameMode::Short => format!("--sname {name}: a short name's host cannot contain dots; use --name"),
                NameMode::Long => {
                    format!("--name {name}: a long name needs a fully qualified host or an IP address; use --sname")
                }
            });
        }
        Ok(Some(name))
    }
}

/// The cookie option.
#[derive(Args, Debug, Clone, Default)]
pub struct CookieArgs {
    /// The distribution cookie [default: the contents of ~/.erlang.cookie].
    #[arg(long, env = "BEAMLINK_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
}

impl CookieArgs {
    /// Applies the cookie to a builder of a node that runs on (`serve`):
    /// without --cookie, ~/.erlang.cookie, created when missing as `erl` does.
    pub fn apply(&self, builder: NodeBuilder) -> NodeBuilder {
        match &self.cookie {
            Some(c) => builder.cookie(c.clone()),
            None => builder,
        }
    }

    /// Applies the cookie to a builder of a one-shot command's node: without
    /// --cookie, ~/.erlang.cookie, which must exist (a one-shot command
    /// never creates one).
    pub fn apply_one_shot(&self, builder: NodeBuilder) -> NodeBuilder {
        match &self.cookie {
            Some(c) => builder.cookie(c.clone()),
            None => builder.cookie_source(beamlink::node::Cookie::ExistingHomeFile),
        }
    }
}

/// The TLS options of the commands that run a node: giving them turns mutual TLS on.
#[cfg(feature = "tls")]
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Use mutual TLS, trusting the CA certificates in this PEM file (with --cert and --key).
    #[arg(long, value_name = "FILE", help_heading = "TLS distribution")]
    pub ca: Option<std::path::PathBuf>,
    /// This node's certificate (chain) for TLS, PEM.
    #[arg(long, value_name = "FILE", help_heading = "TLS distribution")]
    pub cert: Option<std::path::PathBuf>,
    /// This node's private key for TLS, PEM.
    #[arg(long, value_name = "FILE", help_heading = "TLS distribution")]
    pub key: Option<std::path::PathBuf>,
    /// How a peer's node name must match its certificate: strict (the full name), host, or none [default: strict].
    #[arg(long, value_name = "POLICY", help_heading = "TLS distribution")]
    pub verify_name: Option<beamlink::pki::VerifyName>,
    /// Use mutual TLS with the certfile, keyfile, cacertfile and verify settings of OTP's -ssl_dist_optfile.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ca", "cert", "key"], help_heading = "TLS distribution")]
    pub ssl_dist_optfile: Option<std::path::PathBuf>,
    /// Start although the --ssl-dist-optfile holds this option, which beamlink cannot honour (e.g. verify_fun):
    /// the node runs without it (repeatable; logged at warn level on every start).
    #[arg(
        long = "ignore-optfile-option",
        value_name = "NAME",
        requires = "ssl_dist_optfile",
        help_heading = "TLS distribution"
    )]
    pub ignore_optfile_options: Vec<String>,
    /// The password of an encrypted --key (or of the optfile's keyfiles), on the first line of FILE;
    /// takes the place of the optfile's {password, ...}.
    #[arg(long, value_name = "FILE", help_heading = "TLS distribution")]
    pub key_password_file: Option<std::path::PathBuf>,
    /// Trust the public web PKI (the Mozilla roots built in) instead of a cluster CA, with --cert and --key:
    /// for nodes with publicly issued certificates.
    #[arg(long, conflicts_with_all = ["ca", "ssl_dist_optfile"], help_heading = "TLS distribution")]
    pub web_pki: bool,
    /// Refuse peers whose certificate this CRL (PEM or DER) revokes, and peers whose CA has no CRL given
    /// (repeatable; re-read when it changes).
    #[arg(long = "crl", value_name = "FILE", help_heading = "TLS distribution")]
    pub crls: Vec<std::path::PathBuf>,
}

#[cfg(feature = "tls")]
impl TlsArgs {
    /// The TLS transport these options ask for; `None` when no TLS option was given.
    pub fn transport(&self) -> Result<Option<beamlink::transport::tls::TlsTransport>, String> {
        use beamlink::transport::tls::{TlsConfig, TlsTransport};
        let config = match (&self.ssl_dist_optfile, &self.ca, &self.cert, &self.key) {
            (Some(optfile), ..) => TlsConfig::from_ssl_dist_optfile_ignoring(optfile, &self.ignore_optfile_options)
                .map_err(|e| e.to_string())?,
            (None, None, Some(cert), Some(key)) if self.web_pki => TlsConfig::web_pki(cert, key),
            (None, None, _, _) if self.web_pki => {
                return Err("--web-pki needs this node's --cert and --key".into());
            }
            (None, Some(ca), Some(cert), Some(key)) => TlsConfig::from_files(ca, cert, key),
            (None, None, None, None)
                if self.verify_name.is_none() && self.crls.is_empty() && self.key_password_file.is_none() =>
            {
                return Ok(None);
            }
            (None, None, None, None) => {
                let flag = if self.verify_name.is_some() {
                    "--verify-name"
                } else if self.crls.is_empty() {
                    "--key-password-file"
                } else {
                    "--crl"
                };
                return Err(format!("{flag} needs TLS: give --ca, --cert and --key, or --ssl-dist-optfile"));
            }
            (None, ..) => {
                let missing: Vec<&str> =
                    [("--ca", self.ca.is_none()), ("--cert", self.cert.is_none()), ("--key", self.key.is_none())]
                        .into_iter()
                        .filter_map(|(flag, absent)| absent.then_some(flag))
                        .collect();
                return Err(format!("TLS needs --ca, --cert and --key together; missing {}", missing.join(" and ")));
            }
        };
        let config = match self.verify_name {
            Some(policy) => config.verify_name(policy),
            None => config,
        };
        let config = match &self.key_password_file {
            Some(file) => {
                let password =
                    beamlink::pki::KeyPassword::from_file(file).map_err(|e| format!("--key-password-file {e}"))?;
                config.key_password(password.clone()).client_key_password(password)
            }
            None => config,
        };
        let config = self.crls.iter().fold(config, |config, crl| config.crl_file(crl));
        // Replaced certificate files are picked up without a restart.
        let config = config.reload_interval(Some(RELOAD_POLL));
        TlsTransport::new(config).map(Some).map_err(|e| e.to_string())
    }
}

/// Warns when this node's certificate does not vouch for its own name.
#[cfg(feature = "tls")]
pub fn warn_unless_certified(tls: &beamlink::transport::tls::TlsTransport, name: &NodeName) {
    match tls.check_local_name(name.as_str()) {
        Ok(()) => {}
        Err(beamlink::pki::IdentityError::Mismatch { good_for, policy, .. }) => tracing::warn!(
            "this node is {name}, but its certificate is good for {good_for}: peers using --verify-name {policy} will refuse it"
        ),
        Err(e) => tracing::warn!("this node's name does not fit its certificate: {e}"),
    }
}

/// The node name a TLS certificate was issued for, preferring one in the
/// naming mode of `target` (what `bench` uses when given no name).
#[cfg(feature = "tls")]
pub fn certificate_node_name(
    tls: &beamlink::transport::tls::TlsTransport,
    target: &NodeName,
) -> Result<NodeName, String> {
    let cert = tls.certificate();
    let names: Vec<NodeName> =
        cert.node_names.iter().filter(|n| !n.contains('*')).filter_map(|n| NodeName::new(n).ok()).collect();
    names
        .iter()
        .find(|n| n.mode() == target.mode())
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| format!("the certificate {} carries no node name; give --sname or --name", cert.subject))
}

/// The name a one-shot command runs under with an operator certificate
/// (`beamlink certs issue --operator ops@HOST`): `ops-<prefix>_<pid>_<n>@HOST`,
/// from the certificate's `ops-*@HOST` in the naming mode of `target`.
#[cfg(feature = "tls")]
pub fn operator_node_name(
    tls: &beamlink::transport::tls::TlsTransport,
    prefix: &str,
    target: &NodeName,
) -> Option<NodeName> {
    let unique = unique_alive(prefix);
    tls.certificate().operator_patterns().find_map(|(operator, host)| {
        let name = NodeName::from_parts(&format!("{operator}{unique}"), host).ok()?;
        (name.mode() == target.mode()).then_some(name)
    })
}

/// Why a peer under strict name binding would turn away a one-shot node
/// named `name` with this certificate, if it would.
#[cfg(feature = "tls")]
pub fn uncertified_name(tls: &beamlink::transport::tls::TlsTransport, name: &NodeName) -> Option<String> {
    tls.check_local_name(name.as_str()).err()?;
    let cert = tls.certificate();
    Some(format!(
        "this command ran as {name}, which its certificate ({}) does not carry, so a peer with --verify-name \
         strict turns it away: give it an operator certificate (beamlink certs issue --operator ops@{}), good \
         for the names one-shot commands generate",
        cert.subject,
        name.host()
    ))
}

/// A name for a short-lived node that dials `target`: unique, and in the
/// target's naming mode (as `erl_call` does).
pub fn one_shot_name(prefix: &str, target: &NodeName) -> Result<NodeName, String> {
    let alive = unique_alive(prefix);
    let host = match target.mode() {
        NameMode::Short => hostname::short_hostname(),
        NameMode::Long => hostname::long_hostname().unwrap_or_else(|| "127.0.0.1".to_string()),
    };
    NodeName::from_parts(&alive, &host).map_err(|e| e.to_string())
}

/// `PREFIX_<pid>_<n>`: an alive name no other process uses now.
fn unique_alive(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() % 100_000).unwrap_or(0)
}

/// Parses a node name given on the command line.
pub fn parse_node(text: &str) -> Result<NodeName, String> {
    NodeName::new(text).map_err(|e| e.to_string())
}

/// A multi-threaded runtime for commands that run a node.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
