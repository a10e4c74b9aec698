//! Rust-to-Rust messaging over loopback: throughput of small and large
//! messages, and round-trip latency, between two nodes in one process.
//!
//! `cargo bench --bench messaging`. The cross-stack comparison with Erlang/OTP
//! (both directions, TCP and TLS) is `bench/run`, which drives
//! `beamlink bench` and the Erlang load generator.

use std::time::{Duration, Instant};

use beamlink::node::Node;
use beamlink::term::Term;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

struct Pair {
    rt: tokio::runtime::Runtime,
    a: Node,
    b: Node,
}

fn pair() -> Pair {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (a, b) = rt.block_on(async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let start = |name: String| {
            Node::builder(&name).cookie("bench").epmd_port(port).listen("127.0.0.1:0".parse().unwrap()).start()
        };
        let id = std::process::id();
        let a = start(format!("bench_a_{id}@localhost")).await.unwrap();
        let b = start(format!("bench_b_{id}@localhost")).await.unwrap();
        beamlink::node::services::echo::start(&b, "echo").unwrap();
        assert!(a.ping(b.name().as_str()).await);
        (a, b)
    });
    Pair { rt, a, b }
}

/// Sends `count` messages of `size` bytes from A to a counting process on B;
/// the clock stops when B has received the last one.
fn throughput(pair: &Pair, size: usize, count: u64) -> Duration {
    pair.rt.block_on(async {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let counter = pair.b.spawn(move |mut p| async move {
            for _ in 0..count {
                if p.recv().await.is_err() {
                    return;
                }
            }
            let _ = done_tx.send(());
        });
        let sender = pair.a.process();
        let payload = Term::binary(vec![0x5a; size]);
        let started = Instant::now();
        for _ in 0..count {
            sender.send(&counter, payload.clone()).await.unwrap();
        }
        done_rx.await.unwrap();
        started.elapsed()
    })
}

fn roundtrips(pair: &Pair, iters: u64) -> Duration {
    pair.rt.block_on(async {
        let mut p = pair.a.process();
        let me = Term::Pid(p.pid().clone());
        let b = pair.b.name().to_string();
        let started = Instant::now();
        for i in 0..iters {
            p.send_named("echo", &b, Term::Tuple(vec![me.clone(), Term::from(i)])).await.unwrap();
            p.recv().await.unwrap();
        }
        started.elapsed()
    })
}

fn messaging(c: &mut Criterion) {
    let pair = pair();
    let mut group = c.benchmark_group("tcp");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for (size, count) in [(16usize, 20_000u64), (1024, 20_000), (64 * 1024, 500), (1 << 20, 40)] {
        group.throughput(Throughput::Bytes(size as u64 * count));
        group.bench_function(format!("throughput_{size}B_x{count}"), |bench| {
            bench.iter_custom(|iters| (0..iters).map(|_| throughput(&pair, size, count)).sum())
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("roundtrip", |bench| bench.iter_custom(|iters| roundtrips(&pair, iters)));
    group.finish();
    pair.rt.block_on(async {
        pair.a.shutdown().await;
        pair.b.shutdown().await;
    });
}

criterion_group!(benches, messaging);
criterion_main!(benches);
