//! The `beamlink` command-line tool: a thin shell over the library.

mod bench;
#[cfg(feature = "certs")]
mod certs_cmd;
#[cfg(unix)]
mod detach;
mod epmd_cmd;
mod eval;
mod group_leader;
mod node_args;
mod oneshot;
mod outcome;
#[cfg(unix)]
mod remsh;
mod serve;
mod status;
#[cfg(unix)]
mod syslog;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse instead of returning large blocks
/// to the kernel at once, which spares a node that receives large messages a
/// page fault per 4 KiB of every buffer: 1 MiB messages arrive 3 to 5 times
/// faster here. The price in resident memory is small: against the system
/// allocator, about 0.5 MiB more for an idle node and 0.3 KiB more per idle
/// connection. Programs using the library choose their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Join and operate Erlang/OTP clusters from the command line.
#[derive(Parser, Debug)]
#[command(
    name = "beamlink",
    version,
    about,
    long_about = None,
    after_help = "Logs go to stderr: errors only for one-shot commands, more for serve and epmd. -v and -q \
                  move that level; RUST_LOG (e.g. RUST_LOG=debug, RUST_LOG=beamlink::node=debug) sets it outright. \
                  Colour only on a terminal, never with NO_COLOR set."
)]
struct Cli {
    /// Log more: once for info (debug for serve and epmd), twice for everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    verbose: u8,
    /// Log errors only.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node until SIGINT/SIGTERM, serving `echo`, `sink` and `rex`.
    Serve(serve::ServeArgs),
    /// Ping a node: prints `pong` (exit 0), or `pang` and the reason.
    #[command(after_help = outcome::EXIT_CODES)]
    Ping(oneshot::PingArgs),
    /// Call MODULE:FUNCTION(ARGS...) on a node and print the result.
    #[command(after_help = outcome::EXIT_CODES)]
    Rpc(oneshot::RpcArgs),
    /// Send a term to a registered name on a node.
    #[command(after_help = outcome::EXIT_CODES)]
    Send(oneshot::SendArgs),
    /// Evaluate an Erlang expression on an erl node, as `erl_call -e` does: prints what
    /// it wrote to its group leader, then its value.
    #[command(after_help = outcome::EXIT_CODES)]
    Eval(oneshot::EvalArgs),
    /// A node's connections: peer, identity, transport, TLS session, since when, bytes,
    /// messages and ticks each way, queue depth, failed set-ups (an erl node: nodes_info).
    #[command(after_help = outcome::EXIT_CODES)]
    Status(oneshot::StatusArgs),
    /// An interactive Erlang shell on an erl node, in this terminal, over TCP or TLS (as
    /// `erl -remsh`). Ctrl-C interrupts an evaluation, Ctrl-D leaves; neither stops the node.
    #[cfg(unix)]
    #[command(after_help = outcome::EXIT_CODES)]
    Remsh(oneshot::RemshArgs),
    /// Run an EPMD (Erlang Port Mapper Daemon) in the foreground.
    Epmd(epmd_cmd::EpmdArgs),
    /// List the names registered with an EPMD, as `epmd -names` does.
    Names(epmd_cmd::NamesArgs),
    /// Drive the `sink` and `echo` services of a node: throughput, round trips, set-up, memory.
    Bench(bench::BenchArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    #[cfg(feature = "certs")]
    /// Make and inspect certificates for TLS distribution (cluster CA, node certificates, erl optfiles).
    Certs {
        #[command(subcommand)]
        command: certs_cmd::CertsCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running commands report connections as they come and go; one-shot
    // commands print their own outcome and log only errors, and the warnings
    // about their TLS configuration (an optfile option ignored on request).
    let long_running = matches!(cli.command, Command::Serve(_) | Command::Epmd(_));
    // `bench` sets up its own logging (it also tallies TLS handshakes).
    let logs_on_its_own = match &cli.command {
        Command::Bench(_) => true,
        Command::Epmd(args) => args.logs_on_its_own(),
        _ => false,
    };
    if !logs_on_its_own {
        let level = match (cli.quiet, cli.verbose, long_running) {
            (true, _, _) => "error",
            (false, 0, true) => "info",
            (false, 0, false) => "error,beamlink::transport::tls::config=warn",
            (false, 1, true) => "debug",
            (false, 1, false) => "info",
            (false, _, _) => "trace",
        };
        init_logging(level);
    }
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Ping(args) => oneshot::ping(args),
        Command::Rpc(args) => oneshot::rpc(args),
        Command::Send(args) => oneshot::send(args),
        Command::Eval(args) => oneshot::eval(args),
        Command::Status(args) => oneshot::status(args),
        #[cfg(unix)]
        Command::Remsh(args) => oneshot::remsh(args),
        Command::Epmd(args) => epmd_cmd::run_epmd(args),
        Command::Names(args) => epmd_cmd::run_names(args),
        Command::Bench(args) => bench::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "beamlink",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        #[cfg(feature = "certs")]
        Command::Certs { command } => certs_cmd::run(command),
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default: `default_level`); in
/// colour only when stderr is a terminal and `NO_COLOR` is unset or empty.
fn init_logging(default_level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr).try_init();
}

/// Log to `writer` (a file, syslog), without colour, filtered as [`init_logging`].
fn init_logging_to<W>(default_level: &str, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(writer).try_init();
}
