//! `beamlink certs ...`: a private cluster CA and node certificates, for Rust
//! and Erlang nodes alike. Each subcommand calls one `beamlink::certs` function;
//! errors go to stderr and exit with status 1.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use beamlink::utc::format as utc;
use std::time::SystemTime;

use beamlink::certs::{
    self, CaOptions, CertsError, CrlFile, CrlOptions, DEFAULT_CA_DAYS, DEFAULT_CRL_DAYS, DEFAULT_NODE_DAYS,
    IssueOptions, KeyAlgorithm, NodeFiles, RenewOptions, RevokeOptions,
};
use beamlink::pki::PkiError;
use beamlink::transport::tls::RevocationReason;
use clap::Subcommand;

/// The `certs` subcommands.
#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Create a cluster CA: DIR/ca.pem and DIR/ca.key (mode 0600).
    InitCa {
        /// The certificate folder (created with mode 0700 if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name [default: "beamlink cluster CA" and a random tag].
        #[arg(long)]
        name: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_CA_DAYS, allow_negative_numbers = true)]
        days: i64,
        /// Key type: ecdsa-p256, ed25519, rsa (2048 bits), rsa3072 or rsa4096.
        #[arg(long, default_value = "ecdsa-p256")]
        key: KeyAlgorithm,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a key and certificate for a node: DIR/NODE@HOST.pem and DIR/NODE@HOST.key.
    Issue {
        /// The certificate folder holding the CA.
        #[arg(long)]
        dir: PathBuf,
        /// The node name, e.g. alice@localhost or erl@127.0.0.1.
        #[arg(required_unless_present = "operator")]
        node: Option<String>,
        /// Issue an operator credential instead, DIR/NAME@HOST.pem: a client
        /// certificate good for every node NAME-<suffix>@HOST, the names
        /// `ping`, `rpc` and `send` generate (accepted under --verify-name strict).
        #[arg(long, value_name = "NAME@HOST", conflicts_with = "node")]
        operator: Option<String>,
        /// Another host the node is reachable as (repeatable).
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
        /// An IP address to list in the certificate (repeatable).
        #[arg(long = "ip", value_name = "ADDR")]
        ips: Vec<IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = DEFAULT_NODE_DAYS, allow_negative_numbers = true)]
        days: i64,
        /// Key type: ecdsa-p256 (OTP-compatible default), ed25519, rsa, rsa3072 or rsa4096.
        #[arg(long, default_value = "ecdsa-p256")]
        key: KeyAlgorithm,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Show what a certificate or CRL says; exit 1 if the certificate is expired or expires soon,
    /// or the CRL is past its next update.
    Inspect {
        /// A PEM certificate file, or a CRL (PEM or DER).
        file: PathBuf,
        /// Exit 1 when the certificate expires within this many days.
        #[arg(long, default_value_t = 30)]
        warn_days: u32,
    },
    /// Issue a fresh key and certificate with the same identities; the old pair is kept as a backup.
    Renew {
        /// The certificate folder holding the CA and the node's files.
        #[arg(long)]
        dir: PathBuf,
        /// The node name.
        node: String,
        /// Validity in days (default: as long as the old certificate's).
        #[arg(long, allow_negative_numbers = true)]
        days: Option<i64>,
        /// Key type (default: the old key's type).
        #[arg(long)]
        key: Option<KeyAlgorithm>,
    },
    /// Revoke a node's certificate: add its serial to the CA's CRL, DIR/crl.pem (created on first use).
    Revoke {
        /// The certificate folder holding the CA.
        #[arg(long)]
        dir: PathBuf,
        /// The node whose current certificate (DIR/NODE@HOST.pem) is revoked.
        #[arg(required_unless_present_any = ["cert", "serial"], conflicts_with_all = ["cert", "serial"])]
        node: Option<String>,
        /// Revoke the certificate in this file instead (e.g. a backup kept by renew).
        #[arg(long, value_name = "FILE", conflicts_with = "serial")]
        cert: Option<PathBuf>,
        /// Revoke the certificate with this serial number (hex) instead.
        #[arg(long, value_name = "HEX")]
        serial: Option<String>,
        /// Why: key-compromise, superseded, cessation-of-operation, affiliation-changed, privilege-withdrawn,
        /// ca-compromise, certificate-hold, aa-compromise or unspecified.
        #[arg(long, value_name = "R")]
        reason: Option<RevocationReason>,
        /// Days until the CRL's next update (refresh it before then with `certs crl`).
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS, allow_negative_numbers = true)]
        days: i64,
    },
    /// Re-sign the CA's CRL (DIR/crl.pem) with a new next update, keeping its entries; creates an empty one.
    Crl {
        /// The certificate folder holding the CA.
        #[arg(long)]
        dir: PathBuf,
        /// Days until the CRL's next update.
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS, allow_negative_numbers = true)]
        days: i64,
    },
    /// Print an -ssl_dist_optfile for an erl node; the matching erl flags go to stderr.
    ErlangConfig {
        /// The certificate folder.
        #[arg(long)]
        dir: PathBuf,
        /// The node name the certificate was issued for.
        node: String,
        /// Write the optfile here instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// With --out: replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Runs one `certs` subcommand.
pub fn run(command: CertsCommand) -> ExitCode {
    match execute(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: CertsCommand) -> Result<ExitCode, CertsError> {
    match command {
        CertsCommand::InitCa { dir, name, days, key, force } => {
            let mut opts = CaOptions::new(dir).days(days).key(key).force(force);
            if let Some(name) = name {
                opts = opts.name(name);
            }
            let ca = certs::init_ca(&opts)?;
            println!("wrote {} and {}", ca.cert.display(), ca.key.display());
            println!("CA {:?}, {}, serial {}", ca.info.subject, ca.info.key_type, ca.info.serial);
        }
        CertsCommand::Issue { dir, node, operator, hosts, ips, days, key, force } => {
            // clap requires one of them; an empty name is refused as invalid.
            let (name, is_operator) = match operator {
                Some(ops) => (ops, true),
                None => (node.unwrap_or_default(), false),
            };
            let mut opts = IssueOptions::new(dir, name).days(days).key(key).force(force);
            if is_operator {
                opts = opts.operator();
            }
            opts.hosts = hosts;
            opts.ips = ips;
            report_node(&certs::issue(&opts)?);
        }
        CertsCommand::Inspect { file, warn_days } => {
            let needs_attention = match certs::inspect(&file, SystemTime::now(), warn_days) {
                Ok(inspection) => {
                    print!("{inspection}");
                    inspection.needs_attention()
                }
                Err(CertsError::Pki(PkiError::WrongBlockType { found, .. }))
                    if found.iter().any(|f| f == "X509 CRL") =>
                {
                    inspect_crl(&file)?
                }
                // A DER file: a CRL if it reads as one.
                Err(e @ CertsError::Pki(PkiError::NoPemBlock { .. })) => {
                    match certs::inspect_crl(&file, SystemTime::now()) {
                        Ok(inspection) => {
                            print!("{inspection}");
                            inspection.needs_attention()
                        }
                        Err(_) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            if needs_attention {
                return Ok(ExitCode::FAILURE);
            }
        }
        CertsCommand::Revoke { dir, node, cert, serial, reason, days } => {
            let (mut opts, what) = match (node, cert, serial) {
                (Some(node), _, _) => (RevokeOptions::new(dir, &node), node),
                (None, Some(cert), _) => (RevokeOptions::cert_file(dir, &cert), cert.display().to_string()),
                (None, None, Some(serial)) => (RevokeOptions::serial(dir, serial), "the certificate".to_string()),
                (None, None, None) => {
                    eprintln!("error: name the certificate to revoke: NODE, --cert FILE or --serial HEX");
                    return Ok(ExitCode::FAILURE);
                }
            };
            opts = opts.days(days);
            opts.reason = reason;
            let crl = certs::revoke(&opts)?;
            if let Some(entry) = &crl.entry {
                let why = entry.reason.map(|r| format!(", reason {r}")).unwrap_or_default();
                if crl.already_revoked {
                    println!("serial {} was already revoked (since {}{why})", entry.serial, utc(entry.revoked_at));
                } else {
                    println!("revoked {what} (serial {}{why})", entry.serial);
                }
            }
            report_crl(&crl);
        }
        CertsCommand::Crl { dir, days } => {
            report_crl(&certs::update_crl(&CrlOptions::new(dir).days(days))?);
        }
        CertsCommand::Renew { dir, node, days, key } => {
            let mut opts = RenewOptions::new(dir, node);
            opts.days = days;
            opts.key = key;
            let files = certs::renew(&opts)?;
            report_node(&files);
            if let Some(backup) = &files.backup {
                println!("kept the old pair as {} and {}", backup.cert.display(), backup.key.display());
            }
        }
        CertsCommand::ErlangConfig { dir, node, out, force } => {
            let mut conf = certs::erlang_config(&dir, &node)?;
            match out {
                Some(path) => {
                    conf = conf.at(&path)?;
                    conf.write(force)?;
                    eprintln!("wrote {}", conf.optfile_path.display());
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(conf.optfile_text.as_bytes());
                    let _ = stdout.flush();
                    eprintln!("# save the optfile above as {} (or use --out FILE)", conf.optfile_path.display());
                }
            }
            eprintln!("# erl flags for {node} (add -setcookie COOKIE):");
            eprintln!("{}", conf.erl_flags_line());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_crl(file: &std::path::Path) -> Result<bool, CertsError> {
    let inspection = certs::inspect_crl(file, SystemTime::now())?;
    print!("{inspection}");
    Ok(inspection.needs_attention())
}

fn report_crl(crl: &CrlFile) {
    let info = &crl.info;
    println!(
        "wrote {}: CRL number {}, {} revoked certificate{}, next update {}",
        crl.path.display(),
        info.number.as_deref().unwrap_or("(none)"),
        info.revoked.len(),
        if info.revoked.len() == 1 { "" } else { "s" },
        info.next_update.map(utc).unwrap_or_else(|| "(none)".into())
    );
    println!(
        "nodes started with --crl {} refuse the revoked certificates on new connections once they reload it \
         (beamlink serve polls its files every 10 seconds); refresh it before the next update with `beamlink certs crl`",
        crl.path.display()
    );
}

fn report_node(files: &NodeFiles) {
    let info = &files.info;
    println!("wrote {} and {}", files.cert.display(), files.key.display());
    println!("node names: {}", info.node_names.join(", "));
    let ips: Vec<String> = info.ip_addresses.iter().map(IpAddr::to_string).collect();
    println!(
        "DNS names: {}; IP addresses: {}",
        info.dns_names.join(", "),
        if ips.is_empty() { "none".into() } else { ips.join(", ") }
    );
    println!("{}, serial {}, expires in {} days", info.key_type, info.serial, days_left(info));
}

fn days_left(info: &beamlink::pki::CertInfo) -> u64 {
    info.expires_in(SystemTime::now()).map(|d| d.as_secs() / 86_400).unwrap_or(0)
}
