//! A wrong cookie fails on both sides with a clear log line, and the node
//! keeps serving the next peer that has the right cookie.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::erl::{ErlNode, OtpEpmd};
use common::rust::TestNode;

/// Everything the library logs in this test binary.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter("beamlink=debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_contains(log: &Arc<Mutex<Vec<u8>>>, needle: &str) -> bool {
    String::from_utf8_lossy(&log.lock().unwrap()).contains(needle)
}

#[test]
fn wrong_cookie_is_refused_both_ways_and_the_node_stays_healthy() {
    if !common::erlang_or_skip() {
        return;
    }
    let log = captured();
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("rust", "right", epmd.port);
    let mut wrong = ErlNode::start_short(&common::unique_name("wrong"), "wrong", epmd.port);

    // erl dials us with the wrong cookie: pang there, a log line here naming it.
    assert_eq!(wrong.eval(&format!("net_adm:ping('{}')", rust.name())), "pang");
    let expected = format!("{} answered the cookie challenge wrongly: the cookies differ", wrong.node);
    common::wait_for("the acceptor's log line", Duration::from_secs(10), || {
        log_contains(&log, &expected).then_some(())
    });

    // We dial erl with the wrong cookie: the error says why, and so does the log.
    let err = rust.run(Duration::from_secs(30), rust.node.ping_detailed(&wrong.node)).unwrap_err();
    assert!(err.to_string().contains("the cookies most likely differ"), "{err}");
    assert!(log_contains(&log, "the cookies most likely differ"));
    assert!(rust.node.connected_nodes().is_empty(), "no connection was set up");

    // The node still serves a peer with the right cookie, both ways.
    let mut right = ErlNode::start_short(&common::unique_name("right"), "right", epmd.port);
    assert_eq!(right.eval(&format!("net_adm:ping('{}')", rust.name())), "pong");
    assert!(rust.run(Duration::from_secs(30), rust.node.ping(&right.node)));
}
