//! Turns the raw results of `bench/run` into `BENCHMARKS.md` (tables of
//! medians with min–max, beamlink/OTP and TLS/TCP ratios from the same run,
//! the issue's targets checked) and `bench/results.svg` (the plot the README
//! shows).
//!
//! ```text
//! cargo run --release --example bench_report -- \
//!     [--results bench/results.txt] [--markdown BENCHMARKS.md] [--svg bench/results.svg]
//! ```
//!
//! The input has one line per record, `KIND key=value ...`:
//! `meta NAME TEXT` (machine, versions, settings), `run pair=P transport=T
//! rep=R kind=K ...` (one measurement: the last line of a load generator plus
//! its CPU seconds), `tls pair=P transport=T ... version=V suite=S` (what a
//! connection negotiated), and `fail ...` (a run that produced no result).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use plotters::prelude::*;

/// Sender→receiver pairs, in column order.
const PAIRS: [(&str, &str); 4] = [
    ("erl_erl", "OTP→OTP"),
    ("rust_rust", "beamlink→beamlink"),
    ("rust_erl", "beamlink→OTP"),
    ("erl_rust", "OTP→beamlink"),
];
const TRANSPORTS: [&str; 2] = ["tcp", "tls"];
const SIZES: [(u64, &str); 4] = [(16, "16 B"), (1024, "1 KiB"), (65536, "64 KiB"), (1_048_576, "1 MiB")];

/// One `run` line.
#[derive(Debug, Clone)]
struct Run(BTreeMap<String, String>);

impl Run {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok()
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }
}

/// Everything in a results file.
#[derive(Default)]
struct Results {
    meta: Vec<(String, String)>,
    runs: Vec<Run>,
    tls: Vec<Run>,
    failures: Vec<String>,
}

fn fields(text: &str) -> Run {
    Run(text
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn parse(text: &str) -> Results {
    let mut results = Results::default();
    for line in text.lines() {
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        match head {
            "meta" => {
                let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                results.meta.push((name.to_string(), value.to_string()));
            }
            "run" => results.runs.push(fields(rest)),
            "tls" => results.tls.push(fields(rest)),
            "fail" => results.failures.push(rest.to_string()),
            _ => {}
        }
    }
    results
}

/// How one table row gets its value from a run.
struct Metric {
    label: &'static str,
    kind: &'static str,
    size: Option<u64>,
    value: fn(&Run) -> Option<f64>,
    /// The better direction, for the reader: "higher" or "lower".
    better: &'static str,
}

fn cpu_both(r: &Run) -> Option<f64> {
    Some(r.num("client_s")? + r.num("server_s")?)
}

fn metrics() -> Vec<Metric> {
    let mut rows = vec![
        Metric {
            label: "16 B: k msgs/s",
            kind: "throughput",
            size: Some(16),
            value: |r| Some(r.num("msgs_per_s")? / 1e3),
            better: "higher",
        },
        Metric {
            label: "16 B: CPU µs per msg (both ends)",
            kind: "throughput",
            size: Some(16),
            value: |r| Some(cpu_both(r)? / r.num("count")? * 1e6),
            better: "lower",
        },
        Metric {
            label: "1 KiB: k msgs/s",
            kind: "throughput",
            size: Some(1024),
            value: |r| Some(r.num("msgs_per_s")? / 1e3),
            better: "higher",
        },
    ];
    for (size, label) in [(1024, "1 KiB: MB/s"), (65536, "64 KiB: MB/s"), (1_048_576, "1 MiB: MB/s")] {
        rows.push(Metric {
            label,
            kind: "throughput",
            size: Some(size),
            value: |r| r.num("mb_per_s"),
            better: "higher",
        });
    }
    rows.push(Metric {
        label: "64 KiB: CPU s per GB (both ends)",
        kind: "throughput",
        size: Some(65536),
        value: |r| Some(cpu_both(r)? / (r.num("count")? * r.num("size")? / 1e9)),
        better: "lower",
    });
    rows.extend([
        Metric {
            label: "round trip p50 µs",
            kind: "roundtrip",
            size: None,
            value: |r| r.num("p50_us"),
            better: "lower",
        },
        Metric {
            label: "round trip p99 µs",
            kind: "roundtrip",
            size: None,
            value: |r| r.num("p99_us"),
            better: "lower",
        },
        Metric { label: "set-up p50 ms", kind: "setup", size: None, value: |r| r.num("p50_ms"), better: "lower" },
        Metric { label: "set-up p99 ms", kind: "setup", size: None, value: |r| r.num("p99_ms"), better: "lower" },
    ]);
    rows
}

/// Median, min and max of the runs' values.
#[derive(Debug, Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stat(mut values: Vec<f64>) -> Option<Stat> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    Some(Stat { median, min: values[0], max: values[n - 1], n })
}

impl Results {
    fn values(
        &self,
        pair: &str,
        transport: &str,
        kind: &str,
        size: Option<u64>,
        value: fn(&Run) -> Option<f64>,
    ) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|r| r.is("pair", pair) && r.is("transport", transport) && r.is("kind", kind))
            .filter(|r| size.is_none_or(|s| r.num("size") == Some(s as f64)))
            .filter_map(value)
            .collect()
    }

    fn metric(&self, m: &Metric, pair: &str, transport: &str) -> Option<Stat> {
        stat(self.values(pair, transport, m.kind, m.size, m.value))
    }

    fn meta(&self, name: &str) -> &str {
        self.meta.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("unknown")
    }
}

/// A number with about three significant digits.
fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Stat>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 => num(s.median),
        Some(s) => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
    }
}

fn ratio(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median != 0.0 => format!("{:.2}×", a.median / b.median),
        _ => "–".into(),
    }
}

fn messaging_table(out: &mut String, results: &Results, transport: &str) {
    let tls = transport == "tls";
    let _ = write!(out, "| workload ({}) |", transport.to_uppercase());
    for (_, name) in PAIRS {
        let _ = write!(out, " {name} |");
    }
    out.push_str(" beamlink / OTP |");
    if tls {
        out.push_str(" TLS / TCP, OTP | TLS / TCP, beamlink |");
    }
    out.push_str("\n|---|");
    let columns = PAIRS.len() + 1 + if tls { 2 } else { 0 };
    out.push_str(&"---:|".repeat(columns));
    out.push('\n');
    for m in metrics() {
        let _ = write!(out, "| {} ({} is better) |", m.label, m.better);
        for (pair, _) in PAIRS {
            let _ = write!(out, " {} |", cell(results.metric(&m, pair, transport)));
        }
        let ours = results.metric(&m, "rust_rust", transport);
        let otp = results.metric(&m, "erl_erl", transport);
        let _ = write!(out, " {} |", ratio(ours, otp));
        if tls {
            let otp_tcp = results.metric(&m, "erl_erl", "tcp");
            let ours_tcp = results.metric(&m, "rust_rust", "tcp");
            let _ = write!(out, " {} | {} |", ratio(otp, otp_tcp), ratio(ours, ours_tcp));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// One of the issue's targets, checked against this run.
struct Check {
    target: &'static str,
    measured: String,
    met: Option<bool>,
}

fn targets(results: &Results) -> Vec<Check> {
    let tp = |pair: &str, transport: &str, size: u64, field: &'static str| -> Option<f64> {
        let value: fn(&Run) -> Option<f64> =
            if field == "msgs_per_s" { |r| r.num("msgs_per_s") } else { |r| r.num("mb_per_s") };
        stat(results.values(pair, transport, "throughput", Some(size), value)).map(|s| s.median)
    };
    let lat = |pair: &str, transport: &str, kind: &str, field: &'static str| -> Option<f64> {
        let value: fn(&Run) -> Option<f64> = match field {
            "p50_us" => |r| r.num("p50_us"),
            _ => |r| r.num("p50_ms"),
        };
        stat(results.values(pair, transport, kind, None, value)).map(|s| s.median)
    };
    let ratio_check = |target, a: Option<f64>, b: Option<f64>, at_least: f64| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Check {
            target,
            measured: format!("{:.2}× ({} vs {})", a / b, num(a), num(b)),
            met: Some(a / b >= at_least),
        },
        _ => Check { target, measured: "not measured".into(), met: None },
    };
    let raw = lat("raw", "tcp", "raw_roundtrip", "p50_us");
    let within = |target, transport: &str, slack: f64| match (lat("rust_rust", transport, "roundtrip", "p50_us"), raw) {
        (Some(rt), Some(raw)) => Check {
            target,
            measured: format!(
                "{} µs vs raw {} µs ({}{} µs)",
                num(rt),
                num(raw),
                if rt >= raw { "+" } else { "−" },
                num((rt - raw).abs())
            ),
            met: Some(rt - raw <= slack),
        },
        _ => Check { target, measured: "not measured".into(), met: None },
    };
    let setup = lat("rust_rust", "tls", "setup", "p50_ms");
    vec![
        ratio_check(
            "16 B over TCP: ≥ 2× OTP's msgs/s",
            tp("rust_rust", "tcp", 16, "msgs_per_s"),
            tp("erl_erl", "tcp", 16, "msgs_per_s"),
            2.0,
        ),
        ratio_check(
            "64 KiB over TCP: ≥ OTP's MB/s",
            tp("rust_rust", "tcp", 65536, "mb_per_s"),
            tp("erl_erl", "tcp", 65536, "mb_per_s"),
            1.0,
        ),
        ratio_check(
            "1 MiB over TCP: ≥ OTP's MB/s",
            tp("rust_rust", "tcp", 1_048_576, "mb_per_s"),
            tp("erl_erl", "tcp", 1_048_576, "mb_per_s"),
            1.0,
        ),
        ratio_check(
            "64 KiB over TLS: ≥ 15× OTP's median",
            tp("rust_rust", "tls", 65536, "mb_per_s"),
            tp("erl_erl", "tls", 65536, "mb_per_s"),
            15.0,
        ),
        ratio_check(
            "64 KiB over TLS: ≥ ½ of our own TCP figure",
            tp("rust_rust", "tls", 65536, "mb_per_s"),
            tp("rust_rust", "tcp", 65536, "mb_per_s"),
            0.5,
        ),
        within("round trip over TCP: within 10 µs of a raw TCP ping-pong", "tcp", 10.0),
        within("round trip over TLS: within 20 µs of a raw TCP ping-pong", "tls", 20.0),
        match setup {
            Some(ms) => Check {
                target: "TLS set-up (TCP + TLS + handshake + first reply): < 1.5 ms",
                measured: format!("{} ms", num(ms)),
                met: Some(ms < 1.5),
            },
            None => Check {
                target: "TLS set-up (TCP + TLS + handshake + first reply): < 1.5 ms",
                measured: "not measured".into(),
                met: None,
            },
        },
    ]
}

fn memory_table(out: &mut String, results: &Results) {
    let row = |out: &mut String, label: &str, kind: &str, transport: &str, value: fn(&Run) -> Option<f64>| {
        let ours = stat(results.values("rust", transport, kind, None, value));
        let otp = stat(results.values("erl", transport, kind, None, value));
        let _ = writeln!(out, "| {label} | {} | {} | {} |", cell(ours), cell(otp), ratio(ours, otp));
    };
    out.push_str("| memory (resident set) | beamlink | OTP | beamlink / OTP |\n|---|---:|---:|---:|\n");
    row(out, "idle node, TCP (MiB)", "idle_rss", "tcp", |r| Some(r.num("kib")? / 1024.0));
    row(out, "idle node, TLS (MiB)", "idle_rss", "tls", |r| Some(r.num("kib")? / 1024.0));
    row(out, "per idle connection, TCP (KiB)", "idle_conns", "tcp", |r| Some(r.num("bytes_per_conn")? / 1024.0));
    row(out, "per idle connection, TLS (KiB)", "idle_conns", "tls", |r| Some(r.num("bytes_per_conn")? / 1024.0));
    row(out, "per 100,000 idle processes (MiB)", "spawn_idle", "none", |r| {
        Some(r.num("bytes_per_process")? * 1e5 / 1_048_576.0)
    });
    out.push('\n');
}

fn markdown(results: &Results, svg_link: &str) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks: beamlink and Erlang/OTP side by side\n\n");
    out.push_str(
        "Written by `bench/run` (raw results: `bench/results.txt`). Every pair runs on this one machine over \
         loopback, each figure the median of its repetitions with min–max in brackets; ratios compare medians \
         from the same run. Absolute figures drift between runs and machines: compare the ratios.\n\n",
    );
    let _ = writeln!(out, "![throughput, round trip and set-up]({svg_link})\n");
    out.push_str("## Machine and versions\n\n| | |\n|---|---|\n");
    for (name, label) in [
        ("date", "date (UTC)"),
        ("run", "run"),
        ("cpu_model", "CPU"),
        ("cores", "cores"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("otp", "Erlang/OTP"),
        ("ssl", "OTP ssl application"),
        ("rustc", "rustc"),
        ("commit", "beamlink commit"),
        ("tls_pinning", "TLS settings (both stacks)"),
        ("settings", "workload"),
        ("load_before", "load average before"),
        ("load_after", "load average after"),
        ("duration_s", "duration (s)"),
    ] {
        let _ = writeln!(out, "| {label} | {} |", results.meta(name).replace('|', "/"));
    }
    // What each messaging pair's generator saw negotiated, grouped by outcome.
    let mut negotiated: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for t in &results.tls {
        let (Some(version), Some(suite), Some(pair)) = (t.get("version"), t.get("suite"), t.get("pair")) else {
            continue;
        };
        let Some((_, name)) = PAIRS.iter().find(|(p, _)| *p == pair) else { continue };
        let names = negotiated.entry(format!("{version} with {suite}")).or_default();
        if !names.contains(name) {
            names.push(name);
        }
    }
    let negotiated: Vec<String> =
        negotiated.iter().map(|(what, names)| format!("{what} ({})", names.join(", "))).collect();
    let negotiated = if negotiated.is_empty() { "–".to_string() } else { negotiated.join("; ") };
    let _ = writeln!(out, "| TLS negotiated | {negotiated} |");
    out.push('\n');

    out.push_str("## Messaging over plain TCP\n\n");
    messaging_table(&mut out, results, "tcp");
    out.push_str("## Messaging over mutual TLS 1.3\n\n");
    messaging_table(&mut out, results, "tls");

    let raw = stat(results.values("raw", "tcp", "raw_roundtrip", None, |r| r.num("p50_us")));
    let raw99 = stat(results.values("raw", "tcp", "raw_roundtrip", None, |r| r.num("p99_us")));
    let _ = writeln!(
        out,
        "Baseline in the same run: a raw TCP ping-pong (two threads, blocking sockets, `TCP_NODELAY`, 64 B) \
         takes {} µs at p50 and {} µs at p99.\n",
        cell(raw),
        cell(raw99)
    );
    out.push_str(
        "First connections (certificates read, code loaded) are left out of the set-up figures; \
         `setup_first` lines in the raw results have them.\n\n",
    );

    out.push_str("## Targets of the benchmark issue\n\n| target | measured (medians) | met |\n|---|---|---|\n");
    for check in targets(results) {
        let met = match check.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", check.target, check.measured);
    }
    out.push('\n');

    out.push_str("## Memory\n\n");
    memory_table(&mut out, results);
    out.push_str(
        "Idle node: the receiving node's resident set 2 s after start. Per connection: idle hidden beamlink \
         nodes connect to it; its growth divided by their number. Per process: processes that wait in \
         receive, spawned in a fresh node of each stack.\n\n",
    );

    out.push_str("## Method\n\n");
    out.push_str(
        "- Pairs are sender→receiver. The receiver runs `beamlink serve` or `erl -s beamlink_bench start`; the \
         sender is `beamlink bench` or `erl -run beamlink_bench run`, a hidden node, started afresh for every run. \
         Both generators measure the same way and print the same lines.\n\
         - Throughput: each run warms up for 0.3 s or 256 MiB, whichever comes first (then a `done` round resets \
         the sink), picks its count from the warm-up's rate so the timed part lasts about the configured time, \
         sends every message to `{sink, Node}` \
         as fast as the distribution's back-pressure allows, and stops the clock when the sink's `{count, N}` \
         answer arrives (N must equal the count sent). MB/s is payload bytes, 10^6 per MB.\n\
         - Round trip: `{self(), I}` to `{echo, Node}` and back, one at a time, after 1000 rounds of warm-up.\n\
         - Set-up: fresh TCP connection + TLS + distribution handshake + a `net_adm:ping` reply, disconnecting \
         between rounds; TLS session resumption is off on both stacks (the beamlink generator fails if any \
         handshake resumed).\n\
         - CPU: user + system seconds of both processes over the timed part, from `/proc/PID/stat`.\n\
         - Repetitions are interleaved (OTP TCP, beamlink TCP, OTP TLS, beamlink TLS, cross pairs, then the \
         reverse order), each node at its defaults (OTP: one scheduler per core; beamlink: its default Tokio \
         runtime), nothing pinned.\n\n",
    );
    if !results.failures.is_empty() {
        out.push_str("## Runs that failed\n\n");
        for f in &results.failures {
            let _ = writeln!(out, "- `{f}`");
        }
        out.push('\n');
    }
    out
}

const COLORS: [RGBColor; 4] =
    [RGBColor(0xa2, 0x3b, 0x72), RGBColor(0xde, 0x6a, 0x10), RGBColor(0xf0, 0xb0, 0x7a), RGBColor(0xc8, 0x8e, 0xb0)];

type Group = (String, Vec<Option<f64>>);

/// A grouped bar chart: one group per entry, one bar per pair; log scale when `log`.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    groups: &[Group],
    log: bool,
    line: Option<(f64, &str)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let values: Vec<f64> = groups.iter().flat_map(|(_, v)| v.iter().flatten().copied()).filter(|v| *v > 0.0).collect();
    let max = values.iter().copied().fold(f64::MIN, f64::max).max(line.map(|l| l.0).unwrap_or(0.0));
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let (max, min) = if values.is_empty() { (1.0, 0.1) } else { (max, min) };
    let n = groups.len().max(1) as f64;
    let width = 0.8 / PAIRS.len() as f64;
    let labels: Vec<String> = groups.iter().map(|(l, _)| l.clone()).collect();
    let label_of = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut builder = ChartBuilder::on(area);
    builder.caption(title, ("sans-serif", 18)).margin(12).x_label_area_size(36).y_label_area_size(64);
    macro_rules! draw {
        ($chart:expr, $floor:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(groups.len() + 1)
                .x_label_formatter(&label_of)
                .y_desc(unit)
                .y_label_formatter(&|y| num(*y))
                .label_style(("sans-serif", 12))
                .draw()?;
            for (p, (_, name)) in PAIRS.iter().enumerate() {
                let color = COLORS[p];
                let offset = -0.4 + width * p as f64;
                let rects = groups.iter().enumerate().filter_map(move |(g, (_, v))| {
                    let v = (*v.get(p)?)?;
                    let x0 = g as f64 + offset;
                    Some(Rectangle::new([(x0, $floor), (x0 + width * 0.9, v)], color.filled()))
                });
                chart
                    .draw_series(rects)?
                    .label(*name)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
            }
            if let Some((value, label)) = line {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(-0.5, value), (n - 0.5, value)],
                        BLACK.stroke_width(1),
                    )))?
                    .label(label)
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()?;
        }};
    }
    if log {
        let floor = 10f64.powf((min / 2.0).log10().floor());
        let top = 10f64.powf((max * 2.0).log10().ceil());
        draw!(builder.build_cartesian_2d(-0.5..n - 0.5, (floor..top).log_scale())?, floor);
    } else {
        draw!(builder.build_cartesian_2d(-0.5..n - 0.5, 0.0..max * 1.6)?, 0.0);
    }
    Ok(())
}

fn plot(results: &Results, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let median = |pair: &str, transport: &str, kind: &str, size: Option<u64>, value: fn(&Run) -> Option<f64>| {
        stat(results.values(pair, transport, kind, size, value)).map(|s| s.median)
    };
    let root = SVGBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(500);
    let (left, right) = bottom.split_horizontally(600);
    let mut throughput: Vec<Group> = Vec::new();
    for (size, name) in SIZES {
        for transport in TRANSPORTS {
            let v = PAIRS
                .iter()
                .map(|(p, _)| median(p, transport, "throughput", Some(size), |r| r.num("mb_per_s")))
                .collect();
            throughput.push((format!("{name} {}", transport.to_uppercase()), v));
        }
    }
    bars(&top, "Throughput (payload MB/s, log scale; higher is better)", "MB/s", &throughput, true, None)?;
    let per = |kind: &str, value: fn(&Run) -> Option<f64>| -> Vec<Group> {
        TRANSPORTS
            .iter()
            .map(|t| (t.to_uppercase(), PAIRS.iter().map(|(p, _)| median(p, t, kind, None, value)).collect()))
            .collect()
    };
    let raw = median("raw", "tcp", "raw_roundtrip", None, |r| r.num("p50_us"));
    bars(
        &left,
        "Round trip p50 (µs; lower is better)",
        "µs",
        &per("roundtrip", |r| r.num("p50_us")),
        false,
        raw.map(|v| (v, "raw TCP ping-pong")),
    )?;
    bars(&right, "Connection set-up p50 (ms; lower is better)", "ms", &per("setup", |r| r.num("p50_ms")), false, None)?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut results_path = PathBuf::from("bench/results.txt");
    let mut markdown_path = PathBuf::from("BENCHMARKS.md");
    let mut svg_path = PathBuf::from("bench/results.svg");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--results" => results_path = value.into(),
            "--markdown" => markdown_path = value.into(),
            "--svg" => svg_path = value.into(),
            other => return Err(format!("unknown option {other}; see the header of examples/bench_report.rs").into()),
        }
    }
    let text = std::fs::read_to_string(&results_path).map_err(|e| format!("{}: {e}", results_path.display()))?;
    let results = parse(&text);
    if results.runs.is_empty() {
        return Err(format!("{}: no results", results_path.display()).into());
    }
    plot(&results, &svg_path)?;
    let link = relative_link(&markdown_path, &svg_path);
    std::fs::write(&markdown_path, markdown(&results, &link))
        .map_err(|e| format!("{}: {e}", markdown_path.display()))?;
    println!("wrote {} and {}", markdown_path.display(), svg_path.display());
    Ok(())
}

/// The SVG's path as seen from the Markdown file's folder (for the image link).
fn relative_link(markdown: &std::path::Path, svg: &std::path::Path) -> String {
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (md, svg) = (abs(markdown), abs(svg));
    match md.parent().and_then(|dir| svg.strip_prefix(dir).ok()) {
        Some(rel) => rel.display().to_string(),
        None => svg.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ratios_and_targets_come_from_the_run_lines() {
        let text = "meta cores 2\n\
            run pair=erl_erl transport=tcp rep=1 kind=throughput size=16 count=100 msgs_per_s=100 mb_per_s=1 \
            client_s=1 server_s=1\n\
            run pair=erl_erl transport=tcp rep=2 kind=throughput size=16 count=100 msgs_per_s=300 mb_per_s=1\n\
            run pair=erl_erl transport=tcp rep=3 kind=throughput size=16 count=100 msgs_per_s=200 mb_per_s=1\n\
            run pair=rust_rust transport=tcp rep=1 kind=throughput size=16 count=100 msgs_per_s=500 mb_per_s=1\n\
            fail pair=rust_erl transport=tcp rep=1 kind=setup\n";
        let results = parse(text);
        assert_eq!(results.meta("cores"), "2");
        assert_eq!(results.failures.len(), 1);
        let m = &metrics()[0];
        let otp = results.metric(m, "erl_erl", "tcp").unwrap();
        assert_eq!((otp.median, otp.min, otp.max, otp.n), (0.2, 0.1, 0.3, 3));
        assert_eq!(ratio(results.metric(m, "rust_rust", "tcp"), Some(otp)), "2.50×");
        let checks = targets(&results);
        assert_eq!(checks[0].met, Some(true));
        assert_eq!(checks[1].met, None);
        let md = markdown(&results, "bench/results.svg");
        assert!(md.contains("| 16 B: k msgs/s (higher is better) | 0.200 (0.100–0.300) | 0.500 |"), "{md}");
        assert!(md.contains("pair=rust_erl transport=tcp rep=1 kind=setup"));
    }
}
