//! The `beamlink` command-line tool: a thin shell over the library.

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
    /// Print a term given in Erlang syntax, and its External Term Format bytes.
    Term {
        /// A term in Erlang syntax, e.g. '{ok, [1,2,3], <<"bin">>}'.
        text: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Term { text } => match beamlink::term::parse(&text) {
            Ok(term) => {
                println!("{term}");
                match beamlink::term::encode(&term) {
                    Ok(bytes) => {
                        let hex: Vec<String> = bytes.iter().map(|b| b.to_string()).collect();
                        println!("<<{}>>", hex.join(","));
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default: warnings and errors).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
