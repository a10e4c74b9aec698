//! `beamlink epmd` (an EPMD in the foreground or detached, or `--kill` to
//! stop one) and `beamlink names` (what `epmd -names` prints).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use beamlink::epmd::codec::KillResponse;
use beamlink::epmd::{DaemonConfig, EpmdDaemon, client, default_port};
use clap::Args;
use tracing::info;

/// Options of `beamlink epmd`.
#[derive(Args, Debug)]
pub struct EpmdArgs {
    /// TCP port to listen on [default: $ERL_EPMD_PORT, else 4369].
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on; repeat it or separate with commas [default: $ERL_EPMD_ADDRESS
    /// with the loopback addresses added, as OTP's epmd reads it, else 127.0.0.1 and ::1].
    #[arg(long = "address", value_name = "IP", value_delimiter = ',')]
    addresses: Vec<IpAddr>,
    /// Allow KILL while nodes are registered, STOP, and registrations from other hosts.
    #[arg(long)]
    relaxed_command_check: bool,
    /// Answer NAMES and DUMP to peers on other hosts.
    #[arg(long)]
    allow_remote_names: bool,
    /// Cap on registered names [default: 512].
    #[arg(long, value_name = "N")]
    max_names: Option<usize>,
    /// Run detached, as `epmd -daemon`: a process of its own with no terminal, which
    /// outlives whatever started it. Returns once it listens; it then writes nothing
    /// to the terminal and logs to syslog, or to --log FILE.
    #[arg(long, conflicts_with = "kill")]
    daemon: bool,
    /// Append the log to FILE instead of writing it to the terminal (or to syslog, with --daemon).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Stop the EPMD on --port, as `epmd -kill`: it refuses while names are registered
    /// (unless it runs with --relaxed-command-check).
    #[arg(long)]
    kill: bool,
    /// This process is the detached daemon that --daemon starts.
    #[arg(long, hide = true)]
    detached: bool,
}

impl EpmdArgs {
    /// Whether this command installs its own log writer (a file, or syslog).
    pub fn logs_on_its_own(&self) -> bool {
        self.log.is_some() || self.detached
    }

    /// The options a detached daemon is started with: these, less --daemon.
    fn detached_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(port) = self.port {
            args.extend(["--port".to_string(), port.to_string()]);
        }
        for ip in &self.addresses {
            args.extend(["--address".to_string(), ip.to_string()]);
        }
        if self.relaxed_command_check {
            args.push("--relaxed-command-check".into());
        }
        if self.allow_remote_names {
            args.push("--allow-remote-names".into());
        }
        if let Some(max) = self.max_names {
            args.extend(["--max-names".to_string(), max.to_string()]);
        }
        if let Some(log) = &self.log {
            args.extend(["--log".to_string(), log.display().to_string()]);
        }
        args
    }
}

/// Options of `beamlink names`.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// The host whose EPMD to ask.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// The EPMD port [default: $ERL_EPMD_PORT, else 4369].
    #[arg(long)]
    port: Option<u16>,
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

/// Runs the daemon in the foreground until SIGINT, SIGTERM or a KILL
/// request; or detached (`--daemon`); or stops one (`--kill`).
pub fn run_epmd(args: EpmdArgs) -> ExitCode {
    if args.kill {
        return kill(args.port.unwrap_or_else(default_port));
    }
    if args.daemon {
        return match crate::detach::launch(&args.detached_args()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = init_own_logging(&args) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let detached = args.detached;
    let fail = |e: &dyn std::fmt::Display| {
        if detached {
            crate::detach::report_error(e);
        } else {
            eprintln!("error: {e}");
        }
        ExitCode::FAILURE
    };
    let mut config = DaemonConfig {
        relaxed_command_check: args.relaxed_command_check,
        allow_remote_names: args.allow_remote_names,
        ..DaemonConfig::default()
    };
    if let Some(port) = args.port {
        config.port = port;
    }
    if !args.addresses.is_empty() {
        config.addresses = args.addresses;
    } else {
        match beamlink::epmd::listen_addresses_from_env() {
            Ok(Some(addresses)) => config.addresses = addresses,
            Ok(None) => {}
            Err(e) => return fail(&e),
        }
    }
    if let Some(max) = args.max_names {
        config.max_names = max;
    }
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let daemon = match EpmdDaemon::bind(config).await {
            Ok(daemon) => daemon,
            Err(e) => return fail(&e),
        };
        info!(pid = std::process::id(), addrs = ?daemon.local_addrs(), "epmd listening");
        if detached {
            crate::detach::report_ready();
        }
        tokio::select! {
            _ = daemon.run() => info!("stopped by a KILL request"),
            signal = stop_signal() => info!("{signal}: stopping"),
        }
        ExitCode::SUCCESS
    })
}

/// Logs to `--log FILE`, or to syslog for the detached daemon.
fn init_own_logging(args: &EpmdArgs) -> Result<(), String> {
    match (&args.log, args.detached) {
        (Some(path), _) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            crate::init_logging_to("info", std::sync::Mutex::new(file));
        }
        (None, true) => {
            let syslog = crate::syslog::Syslog::open();
            crate::init_logging_to("info", move || syslog);
        }
        (None, false) => {}
    }
    Ok(())
}

/// `beamlink epmd --kill`: asks the EPMD on `port` to stop, as `epmd -kill`.
fn kill(port: u16) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(client::kill("localhost", port)) {
        Ok(KillResponse::Ok) => {
            println!("Killed");
            ExitCode::SUCCESS
        }
        Ok(KillResponse::No) => {
            eprintln!("Killing not allowed - living nodes in database.");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM, naming the signal.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Prints the names registered with an EPMD, exactly as `epmd -names` does.
pub fn run_names(args: NamesArgs) -> ExitCode {
    let port = args.port.unwrap_or_else(default_port);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(client::names(&args.host, port)) {
        Ok(names) => {
            print!("{}", names.listing());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
