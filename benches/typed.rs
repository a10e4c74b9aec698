//! Rust types to terms and back (`term::to_term` / `term::from_term`, feature
//! `serde`) against building and reading the same terms by hand, and against
//! edp-rs's `erltf_serde` on the same data: a 10-field struct, and a `Vec`
//! of 100 of them.
//!
//! Also a gen_server call round trip between two nodes over loopback: a
//! `GenServer` with typed request and reply against the hand-written
//! `GenCall` loop, the same work on the same connection. On a 2-core
//! machine whichever of the two runs second reads about 8% slower (swap them
//! and the penalty moves with the order); compare each measured first.
//!
//! Run with `cargo bench --bench typed` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use beamlink::node::{CallOutcome, GenCall, GenServer, GenServerRef, Node, Process, ReplyTo};
use beamlink::term::{self, Term};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Status {
    Open,
    Shipped,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    id: u64,
    customer: String,
    sku: String,
    quantity: u32,
    price: f64,
    paid: bool,
    note: Option<String>,
    tags: Vec<u32>,
    region: i32,
    status: Status,
}

fn order(i: u64) -> Order {
    Order {
        id: i,
        customer: format!("customer-{i}"),
        sku: "SKU-12345".into(),
        quantity: 3,
        price: 19.95,
        paid: i.is_multiple_of(2),
        note: None,
        tags: vec![1, 2, 3],
        region: -4,
        status: if i.is_multiple_of(3) { Status::Shipped } else { Status::Open },
    }
}

/// The term `to_term` gives, built the way code without serde builds it.
fn by_hand(o: &Order) -> Term {
    Term::map([
        (Term::atom("id"), Term::from(o.id)),
        (Term::atom("customer"), Term::binary(o.customer.clone().into_bytes())),
        (Term::atom("sku"), Term::binary(o.sku.clone().into_bytes())),
        (Term::atom("quantity"), Term::from(o.quantity)),
        (Term::atom("price"), Term::Float(o.price)),
        (Term::atom("paid"), Term::from(o.paid)),
        (
            Term::atom("note"),
            match &o.note {
                Some(n) => Term::binary(n.clone().into_bytes()),
                None => Term::atom("undefined"),
            },
        ),
        (Term::atom("tags"), Term::List(o.tags.iter().map(|&t| Term::from(t)).collect())),
        (Term::atom("region"), Term::from(o.region)),
        (
            Term::atom("status"),
            Term::atom(match o.status {
                Status::Open => "open",
                Status::Shipped => "shipped",
            }),
        ),
    ])
}

/// Reads the term back by hand, checking every field as `from_term` does.
fn read_by_hand(t: &Term) -> Option<Order> {
    let m = t.as_map()?;
    let text = |k: &str| m.get_atom(k).and_then(|v| v.as_binary()).and_then(|b| String::from_utf8(b.to_vec()).ok());
    Some(Order {
        id: m.get_atom("id")?.as_u64()?,
        customer: text("customer")?,
        sku: text("sku")?,
        quantity: u32::try_from(m.get_atom("quantity")?.as_i64()?).ok()?,
        price: m.get_atom("price")?.as_f64()?,
        paid: match m.get_atom("paid")? {
            t if t.is_atom("true") => true,
            t if t.is_atom("false") => false,
            _ => return None,
        },
        note: match m.get_atom("note")? {
            t if t.is_atom("undefined") => None,
            _ => Some(text("note")?),
        },
        tags: m
            .get_atom("tags")?
            .as_list()?
            .iter()
            .map(|t| t.as_i64().and_then(|i| u32::try_from(i).ok()))
            .collect::<Option<_>>()?,
        region: i32::try_from(m.get_atom("region")?.as_i64()?).ok()?,
        status: match m.get_atom("status")? {
            t if t.is_atom("open") => Status::Open,
            t if t.is_atom("shipped") => Status::Shipped,
            _ => return None,
        },
    })
}

fn bench(c: &mut Criterion) {
    let one = order(7);
    let many: Vec<Order> = (0..100).map(order).collect();
    assert_eq!(term::to_term(&one).unwrap(), by_hand(&one));
    let one_term = term::to_term(&one).unwrap();
    let many_term = term::to_term(&many).unwrap();
    assert_eq!(read_by_hand(&one_term).unwrap(), one);
    let one_erltf = erltf_serde::to_term(&one).unwrap();
    let many_erltf = erltf_serde::to_term(&many).unwrap();
    assert_eq!(erltf_serde::from_term::<Order>(&one_erltf).unwrap(), one);

    let mut g = c.benchmark_group("to_term");
    g.bench_function("struct10/by_hand", |b| b.iter(|| by_hand(black_box(&one))));
    g.bench_function("struct10/beamlink", |b| b.iter(|| term::to_term(black_box(&one)).unwrap()));
    g.bench_function("struct10/erltf_serde", |b| b.iter(|| erltf_serde::to_term(black_box(&one)).unwrap()));
    g.bench_function("vec100/by_hand", |b| b.iter(|| Term::List(black_box(&many).iter().map(by_hand).collect())));
    g.bench_function("vec100/beamlink", |b| b.iter(|| term::to_term(black_box(&many)).unwrap()));
    g.bench_function("vec100/erltf_serde", |b| b.iter(|| erltf_serde::to_term(black_box(&many)).unwrap()));
    g.finish();

    let mut g = c.benchmark_group("from_term");
    g.bench_function("struct10/by_hand", |b| b.iter(|| read_by_hand(black_box(&one_term)).unwrap()));
    g.bench_function("struct10/beamlink", |b| b.iter(|| term::from_term::<Order>(black_box(&one_term)).unwrap()));
    g.bench_function("struct10/erltf_serde", |b| {
        b.iter(|| erltf_serde::from_term::<Order>(black_box(&one_erltf)).unwrap())
    });
    g.bench_function("vec100/by_hand", |b| {
        b.iter(|| black_box(&many_term).as_list().unwrap().iter().map(|t| read_by_hand(t).unwrap()).collect::<Vec<_>>())
    });
    g.bench_function("vec100/beamlink", |b| b.iter(|| term::from_term::<Vec<Order>>(black_box(&many_term)).unwrap()));
    g.bench_function("vec100/erltf_serde", |b| {
        b.iter(|| erltf_serde::from_term::<Vec<Order>>(black_box(&many_erltf)).unwrap())
    });
    g.finish();
}

/// The typed server: adds one.
struct AddOne;

impl GenServer for AddOne {
    type Call = i64;
    type Reply = i64;
    type Cast = ();

    async fn handle_call(&mut self, n: i64, _from: &ReplyTo, _me: &mut Process) -> CallOutcome<i64> {
        CallOutcome::Reply(n + 1)
    }
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (a, b) = rt.block_on(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = |name: String| {
            Node::builder(&name).cookie("bench").epmd_port(port).listen("127.0.0.1:0".parse().unwrap()).start()
        };
        let id = std::process::id();
        let a = start(format!("typed_a_{id}@localhost")).await.unwrap();
        let b = start(format!("typed_b_{id}@localhost")).await.unwrap();
        // The hand-written loop: parse the call, read the integer, reply.
        b.spawn_registered("by_hand", |mut p| async move {
            while let Ok(msg) = p.recv().await {
                if let Some(call) = GenCall::parse(&msg)
                    && let Some(n) = call.request.as_i64()
                {
                    let _ = p.reply(&call.from, Term::from(n + 1)).await;
                }
            }
        })
        .unwrap();
        b.start_gen_server(AddOne, Some("typed")).await.unwrap();
        assert!(a.ping(b.name().as_str()).await);
        (a, b)
    });
    let peer = b.name().to_string();
    let mut g = c.benchmark_group("gen_server_call");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("by_hand", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let mut p = a.process();
                let started = Instant::now();
                for i in 0..iters as i64 {
                    let reply = p.call_named("by_hand", &peer, Term::from(i), Duration::from_secs(5)).await.unwrap();
                    assert_eq!(reply.as_i64(), Some(i + 1));
                }
                started.elapsed()
            })
        })
    });
    g.bench_function("gen_server", |bench| {
        let server = GenServerRef::named("typed", &peer);
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let mut p = a.process();
                let started = Instant::now();
                for i in 0..iters as i64 {
                    let reply: i64 = server.call(&mut p, &i, Duration::from_secs(5)).await.unwrap();
                    assert_eq!(reply, i + 1);
                }
                started.elapsed()
            })
        })
    });
    g.finish();
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

criterion_group!(benches, bench, calls);
criterion_main!(benches);
