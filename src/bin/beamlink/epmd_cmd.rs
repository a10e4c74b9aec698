//! `beamlink epmd` (a foreground EPMD) and `beamlink names` (what `epmd -names` prints).

use std::net::IpAddr;
use std::process::ExitCode;

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

/// Runs the daemon in the foreground until SIGINT, SIGTERM or a KILL request.
pub fn run_epmd(args: EpmdArgs) -> ExitCode {
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
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
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
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        tokio::select! {
            _ = daemon.run() => info!("stopped by a KILL request"),
            signal = stop_signal() => info!("{signal}: stopping"),
        }
        ExitCode::SUCCESS
    })
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
