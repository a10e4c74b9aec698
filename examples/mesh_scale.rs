//! How long a full mesh of N beamlink nodes takes to form on this machine,
//! and what it costs in memory, for N = 2, 4, 8, 16, 32, over TCP and TLS.
//!
//! ```text
//! cargo run --release --example mesh_scale            # TCP and TLS
//! cargo run --release --example mesh_scale -- tcp 64  # one transport, up to N
//! ```
//!
//! All nodes run in this one process (one tokio runtime), each with its own
//! listener, registered with one EPMD on a private port. Every node is told
//! to connect to node 0 only; the mesh protocol does the rest. The clock
//! stops when every node lists every other in `nodes()`. Memory is the whole
//! process's resident set once the mesh has formed (all N nodes, both ends of
//! all N(N-1)/2 connections); small per-item differences are not measured
//! here because the allocator reuses freed memory between rounds (see
//! BENCHMARKS.md for per-connection figures measured in separate processes).

use std::time::{Duration, Instant};

use beamlink::node::Node;
use beamlink::transport::tls::{TlsConfig, TlsTransport};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

struct Row {
    transport: &'static str,
    n: usize,
    formed: Duration,
    rss_mib: f64,
}

async fn measure(tls: Option<&std::path::Path>, n: usize, round: usize) -> Result<Row, String> {
    let epmd_port = free_port();
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("mesh{round}_{i}@localhost");
        let mut b = Node::builder(&name)
            .cookie("mesh")
            .epmd_port(epmd_port)
            .listen("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?);
        if let Some(dir) = tls {
            let config = TlsConfig::from_files(
                dir.join("ca.pem"),
                dir.join("mesh@localhost.pem"),
                dir.join("mesh@localhost.key"),
            )
            .verify_name(beamlink::pki::VerifyName::None);
            b = b.transport(TlsTransport::new(config).map_err(|e| e.to_string())?);
        }
        nodes.push(b.start().await.map_err(|e| e.to_string())?);
    }
    let started = Instant::now();
    let first = nodes[0].name().to_string();
    for node in &nodes[1..] {
        let node = node.clone();
        let first = first.clone();
        tokio::spawn(async move { node.connect(&first).await });
    }
    loop {
        if nodes.iter().all(|node| node.nodes().len() == n - 1) {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("{n} nodes did not form a mesh within 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let formed = started.elapsed();
    let rss_mib = rss_kib() as f64 / 1024.0;
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(Row { transport: if tls.is_some() { "tls" } else { "tcp" }, n, formed, rss_mib })
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let transports: Vec<&str> = match args.first().map(String::as_str) {
        Some("tcp") => vec!["tcp"],
        Some("tls") => vec!["tls"],
        _ => vec!["tcp", "tls"],
    };
    let max: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let dir = std::env::temp_dir().join(format!("mesh_scale_{}", std::process::id()));
    if transports.contains(&"tls") {
        use beamlink::certs::{CaOptions, IssueOptions, init_ca, issue};
        init_ca(&CaOptions::new(&dir).days(2)).map_err(|e| e.to_string())?;
        issue(&IssueOptions::new(&dir, "mesh@localhost").days(1)).map_err(|e| e.to_string())?;
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    println!("| transport | nodes | connections | mesh formed in | process RSS with the mesh up |");
    println!("|---|---:|---:|---:|---:|");
    let mut round = 0;
    for t in &transports {
        let mut n = 2;
        while n <= max {
            round += 1;
            let tls = (*t == "tls").then_some(dir.as_path());
            let row = rt.block_on(measure(tls, n, round))?;
            println!(
                "| {} | {} | {} | {:.1} ms | {:.1} MiB |",
                row.transport,
                row.n,
                row.n * (row.n - 1) / 2,
                row.formed.as_secs_f64() * 1000.0,
                row.rss_mib
            );
            n *= 2;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
