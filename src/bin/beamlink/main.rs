//! The `beamlink` command-line tool: a thin shell over the library.

#[cfg(feature = "certs")]
mod certs_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Join and operate Erlang/OTP clusters from the command line.
#[derive(Parser, Debug)]
#[command(name = "beamlink", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[cfg(feature = "certs")]
    /// Make and inspect certificates for TLS distribution (cluster CA, node certificates, erl optfiles).
    Certs {
        #[command(subcommand)]
        command: certs_cmd::CertsCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        #[cfg(feature = "certs")]
        Command::Certs { command } => certs_cmd::run(command),
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default: warnings and errors).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
