//! A Rust node and real `erl` nodes over plain TCP: ping both ways.

mod common;

use std::time::Duration;

use beamlink::node::Node;
use common::erl::{ErlNode, OtpEpmd};

async fn rust_node(epmd: &OtpEpmd, cookie: &str) -> Node {
    let name = format!("{}@localhost", common::unique_name("rust"));
    Node::builder(&name).cookie(cookie).epmd_port(epmd.port).auto_start_epmd(false).start().await.expect("start node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_pings_rust_and_rust_pings_erl() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let node = rust_node(&epmd, "c1").await;
    let erl_name = common::unique_name("erl");
    let mut erl = tokio::task::block_in_place(|| ErlNode::start_short(&erl_name, "c1", epmd.port));
    let rust = node.name().to_string();
    let answer = tokio::task::block_in_place(|| erl.eval(&format!("net_adm:ping('{rust}')")));
    assert_eq!(answer, "pong");
    assert!(node.ping(&erl.node).await, "rust → erl ping");
    drop(erl);
    node.shutdown().await;
    let _ = Duration::from_secs(1);
}
