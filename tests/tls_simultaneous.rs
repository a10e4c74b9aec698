//! Two TLS nodes that dial each other at the same moment end up with
//! exactly one connection between them, as over plain TCP (fault matrix
//! H10, TLS half; the TCP loop is in tests/cluster.rs).

mod common;
mod tls_fixtures;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::erl::OtpEpmd;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(30);

/// Rounds of the loop (about 10 ms each on a debug build).
const ROUNDS: usize = 100;

#[test]
fn simultaneous_tls_connects_leave_exactly_one_connection() {
    // The node logs at debug level when two attempts cross; count those lines
    // to know the loop did race.
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buffer.clone());
    tracing_subscriber::fmt()
        .with_env_filter("beamlink=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber in this test binary");

    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    for round in 0..ROUNDS {
        let (a_name, b_name) = (short(&format!("tsim{round}a")), short(&format!("tsim{round}b")));
        pki.issue(&a_name);
        pki.issue(&b_name);
        let a = tls_node(&a_name, epmd.port, &pki.transport(&a_name), |b| b);
        let b = tls_node(&b_name, epmd.port, &pki.transport(&b_name), |b| b);
        let (an, bn) = (a.node.clone(), b.node.clone());
        let (to_b, to_a) = (b_name.clone(), a_name.clone());
        let (r1, r2) = a.run(T, async move { tokio::join!(an.connect(&to_b), bn.connect(&to_a)) });
        assert!(r1.is_ok() && r2.is_ok(), "round {round}: {r1:?} {r2:?}");
        assert!(a.run(T, a.node.ping(&b_name)), "round {round}: ping");
        assert_eq!(a.node.connected_nodes().len(), 1, "round {round}: A's connections");
        assert_eq!(b.node.connected_nodes().len(), 1, "round {round}: B's connections");
    }
    let text = String::from_utf8_lossy(&buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let crossed = text.lines().filter(|l| l.contains("simultaneous connect: our own attempt wins")).count();
    eprintln!("{crossed} of {ROUNDS} rounds crossed");
    assert!(crossed > 0, "no round had the two attempts cross; the test does not exercise H10");
}
