//! `beamlink serve`: a long-running node with the `echo` and `sink` services.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use beamlink::node::{Node, PolicyFile, services};
use clap::Args;

#[cfg(feature = "tls")]
use crate::node_args::TlsArgs;
use crate::node_args::{CookieArgs, NameArgs, RELOAD_POLL, runtime};

/// Options of `beamlink serve`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("node-name").required(true).args(["sname", "name"])))]
pub struct ServeArgs {
    #[command(flatten)]
    name: NameArgs,
    #[command(flatten)]
    cookie: CookieArgs,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: TlsArgs,
    /// The distribution port to listen on [default: any free port].
    #[arg(long)]
    port: Option<u16>,
    /// The address the distribution listener binds [default: every interface, IPv4 and IPv6].
    #[arg(long, value_name = "IP")]
    address: Option<std::net::IpAddr>,
    /// When no EPMD answers, host one in this process (it goes when the node stops)
    /// instead of starting a detached `beamlink epmd --daemon` that outlives it.
    #[arg(long)]
    no_epmd_daemon: bool,
    /// Run hidden (as `erl -hidden`): no transitive connections, not in peers' nodes().
    #[arg(long)]
    hidden: bool,
    /// Connect to NODE at start-up and keep reconnecting when it drops (repeatable).
    #[arg(long = "connect", value_name = "NODE")]
    connect: Vec<String>,
    /// OTP's net_ticktime, in seconds: a silent peer is declared down after this long.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    ticktime: u64,
    /// Limit what peers may do with the distribution firewall policy in this TOML file
    /// (re-read when it changes and on SIGHUP; see SECURITY.md).
    #[arg(long, value_name = "FILE")]
    firewall: Option<std::path::PathBuf>,
}

/// Runs the node until SIGINT or SIGTERM (SIGHUP reloads the `--firewall` file).
pub fn run(args: ServeArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let name = args.name.node_name()?.ok_or("give --sname NAME or --name NAME@HOST")?;
    if args.ticktime == 0 {
        return Err("--ticktime must be at least 1 second".into());
    }
    // A bad policy file stops the node from starting; the node never runs without it.
    let policy = args.firewall.as_ref().map(PolicyFile::load).transpose().map_err(|e| e.to_string())?;
    let port = args.port.unwrap_or(0);
    let builder = match args.address {
        Some(ip) => Node::builder(name.as_str()).listen(std::net::SocketAddr::new(ip, port)),
        None => Node::builder(name.as_str()).listen_port(port),
    };
    let builder = builder.hidden(args.hidden).ticktime(Duration::from_secs(args.ticktime));
    let builder = match &policy {
        Some(policy) => builder.firewall(policy.firewall()),
        None => builder,
    };
    #[cfg(feature = "tls")]
    let builder = match args.tls.transport()? {
        Some(tls) => {
            crate::node_args::warn_unless_certified(&tls, &name);
            builder.transport(tls)
        }
        None => builder,
    };
    #[cfg(unix)]
    if !args.no_epmd_daemon {
        let _ = tokio::task::spawn_blocking(ensure_epmd).await;
    }
    let node = args.cookie.apply(builder).start().await.map_err(|e| e.to_string())?;
    if let Some(policy) = &policy {
        policy.apply_to(&node);
        policy.watch(RELOAD_POLL).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        policy.reload_on_sighup().map_err(|e| e.to_string())?;
    }
    services::echo::start(&node, "echo").map_err(|e| e.to_string())?;
    services::sink::start(&node, "sink").map_err(|e| e.to_string())?;
    for peer in &args.connect {
        if let Err(e) = node.connect(peer).await {
            tracing::warn!(%peer, error = %e, "could not connect at start-up; retrying in the background");
        }
        node.keep_connected(peer).map_err(|e| e.to_string())?;
    }
    match node.listen_addr() {
        Some(address) => tracing::info!(node = %node.name(), %address, "listening"),
        None => tracing::info!(node = %node.name(), "not listening"),
    }
    println!("ready {}", node.name());
    let _ = std::io::stdout().flush();
    wait_for_signal().await;
    node.shutdown().await;
    drop(policy);
    Ok(())
}

/// When no EPMD answers on this host, starts a detached one, as `erl` starts
/// `epmd -daemon`, so that every name registered with it (stock erl nodes
/// too) outlives this node. It listens where `ERL_EPMD_ADDRESS` says, else
/// on every interface, as OTP's does. Should that fail, the node hosts an
/// EPMD in its own process (the library's take-over), and says so.
#[cfg(unix)]
fn ensure_epmd() {
    let port = beamlink::epmd::default_port();
    let loopback = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    if std::net::TcpStream::connect_timeout(&loopback, Duration::from_secs(1)).is_ok() {
        return;
    }
    let mut args = vec!["--port".to_string(), port.to_string()];
    if std::env::var_os("ERL_EPMD_ADDRESS").is_none_or(|v| v.is_empty()) {
        args.extend(["--address".into(), "0.0.0.0".into()]);
        // IPv6 too, where the host has it.
        if std::net::TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).is_ok() {
            args.extend(["--address".into(), "::".into()]);
        }
    }
    match crate::detach::launch(&args) {
        Ok(mut child) => {
            tracing::info!(
                pid = child.id(),
                port,
                "no EPMD answered: started a detached one, which outlives this node"
            );
            // Reaped here if it stops before this node does.
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!(port, error = %e, "no EPMD answered and a detached one could not be started"),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
