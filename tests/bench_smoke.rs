//! `beamlink bench` against a `beamlink serve` child, over plain TCP and
//! mutual TLS: every mode runs for a tiny count, and its last line parses
//! with counts that match and numbers that make sense. (The full benchmark
//! is `bench/run`, not part of the test suite.)

mod common;
mod tls_fixtures;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, beamlink};
use tls_fixtures::{COOKIE, Pki, short};

const T: Duration = Duration::from_secs(120);

/// The first word of the last line, and its `key=value` fields as numbers.
fn last_line(out: &str) -> (String, BTreeMap<String, f64>) {
    let line = out.lines().last().unwrap_or_else(|| panic!("no output: {out:?}"));
    let mut words = line.split_whitespace();
    let kind = words.next().unwrap_or_default().to_string();
    let fields = words
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("not key=value: {kv:?} in {line:?}"));
            (k.to_string(), v.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {kv:?} in {line:?}")))
        })
        .collect();
    (kind, fields)
}

/// Runs `beamlink bench ARGS...`; asserts success and the kind of the last line.
fn bench(args: &[&str], epmd_port: u16, kind: &str) -> (BTreeMap<String, f64>, String) {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    let (code, out, err) = beamlink(&all, epmd_port, T);
    assert_eq!(code, 0, "beamlink {all:?} failed\nstdout: {out}\nstderr: {err}");
    let (got, fields) = last_line(&out);
    assert_eq!(got, kind, "beamlink {all:?}: last line of {out:?}");
    (fields, out)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The three modes that drive a node, with `extra` options (cookie, TLS).
fn drive_every_mode(node: &str, epmd_port: u16, extra: &[&str]) -> String {
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = vec![node.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend(extra.iter().map(|a| a.to_string()));
        all
    };
    let run = |args: &[&str], kind: &str| {
        let owned = with(args);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        bench(&refs, epmd_port, kind)
    };

    let (f, _) = run(&["--mode", "throughput", "--size", "10000", "--count", "50"], "throughput");
    assert_eq!((f["size"], f["count"]), (10000.0, 50.0));
    assert!(f["msgs_per_s"] > 0.0 && f["mb_per_s"] > 0.0, "{f:?}");
    // MB/s is payload bytes over time: consistent with messages/s.
    let expected_mb = f["msgs_per_s"] * 10000.0 / 1e6;
    assert!((f["mb_per_s"] - expected_mb).abs() <= expected_mb * 0.01 + 0.1, "{f:?}");

    // With --seconds the count comes from the warm-up's rate, at most --count.
    let (f, _) = run(&["--mode", "throughput", "--size", "16", "--seconds", "0.05", "--count", "300"], "throughput");
    assert!(f["count"] >= 1.0 && f["count"] <= 300.0, "{f:?}");

    let (f, _) = run(&["--mode", "roundtrip", "--count", "20"], "roundtrip");
    assert_eq!(f["count"], 20.0);
    assert!(f["p50_us"] > 0.0 && f["p99_us"] >= f["p50_us"], "{f:?}");

    let (f, out) = run(&["--mode", "setup", "--count", "3"], "setup");
    assert_eq!(f["count"], 3.0);
    assert!(f["p50_ms"] > 0.0 && f["p99_ms"] >= f["p50_ms"], "{f:?}");
    out
}

#[test]
fn every_mode_runs_against_a_plain_tcp_node() {
    let epmd = OtpEpmd::start();
    let name = short("benchsrv");
    let serve = BeamlinkProcess::start(&["serve", "--sname", &name, "--cookie", COOKIE], epmd.port);
    let out = drive_every_mode(&serve.node, epmd.port, &["--cookie", COOKIE]);
    assert!(!out.contains("tls "), "no TLS line over plain TCP: {out}");

    // Memory of the node under test, per idle connection.
    let pid = serve.pid().to_string();
    let args = [serve.node.as_str(), "--mode", "idle-conns", "--count", "3", "--server-pid", &pid, "--cookie", COOKIE];
    let (f, _) = bench(&args, epmd.port, "idle_conns");
    assert_eq!(f["count"], 3.0);
    assert!(f["rss_before_kib"] > 0.0 && f["rss_after_kib"] > 0.0, "{f:?}");
    drop(serve);
}

#[test]
fn every_mode_runs_against_a_tls_node_with_full_handshakes() {
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli) = (short("benchtls"), short("benchcli"));
    pki.issue(&srv);
    pki.issue(&cli);
    let ca = pki.ca();
    let (srv_cert, srv_key) = pki.files(&srv);
    let (cli_cert, cli_key) = pki.files(&cli);
    let serve = BeamlinkProcess::start(
        &["serve", "--sname", &srv, "--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&srv_cert), "--key", s(&srv_key)],
        epmd.port,
    );
    let tls = ["--cookie", COOKIE, "--ca", s(&ca), "--cert", s(&cli_cert), "--key", s(&cli_key)];
    let out = drive_every_mode(&serve.node, epmd.port, &tls);
    // The set-up run reports its handshakes: TLS 1.3, every one of the three timed ones full.
    let tls_line = out.lines().find(|l| l.starts_with("tls ")).unwrap_or_else(|| panic!("no tls line: {out}"));
    assert!(tls_line.contains("version=TLSv1_3"), "{tls_line}");
    assert!(tls_line.contains(" full=3 resumed=0"), "{tls_line}");
    drop(serve);
}

#[test]
fn the_baselines_run_without_a_node() {
    let (f, out) = bench(&["--mode", "raw-roundtrip", "--count", "200"], common::free_port(), "raw_roundtrip");
    assert_eq!(f["count"], 200.0);
    assert!(f["p50_us"] > 0.0 && f["p99_us"] >= f["p50_us"], "{f:?}");
    assert!(out.lines().any(|l| l.starts_with("cpu client_s=")), "{out}");

    let (f, _) = bench(&["--mode", "spawn-idle", "--count", "2000"], common::free_port(), "spawn_idle");
    assert_eq!(f["count"], 2000.0);
    assert!(f["rss_after_kib"] >= f["rss_before_kib"], "{f:?}");
    assert!(f["bytes_per_process"] > 0.0, "idle processes take some memory: {f:?}");
}

#[test]
fn a_missing_node_or_server_pid_is_explained() {
    let (code, _, err) = beamlink(&["bench", "--mode", "throughput"], common::free_port(), T);
    assert_ne!(code, 0);
    assert!(err.contains("give the NODE to drive"), "{err}");
    let (code, _, err) = beamlink(&["bench", "x@localhost", "--mode", "idle-conns"], common::free_port(), T);
    assert_ne!(code, 0);
    assert!(err.contains("--server-pid"), "{err}");
}
