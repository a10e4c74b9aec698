//! Exports a node's connection counters to Prometheus through the `metrics`
//! facade (`cargo run --example prometheus --features metrics`).
//!
//! Two nodes on this machine talk; node `a` publishes its status every
//! second (`Node::publish_metrics`) to a Prometheus recorder, and the
//! example prints the exposition text a scrape would get. A real program
//! installs the exporter with its HTTP listener
//! (`PrometheusBuilder::new().with_http_listener(...)`, feature
//! `http-listener` of `metrics-exporter-prometheus`) instead of printing.

use std::time::Duration;

use beamlink::node::Node;
use beamlink::term::Term;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scrape = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let pid = std::process::id();
    let a = Node::builder(&format!("metrics_a_{pid}@localhost")).cookie("metrics").start().await?;
    let b = Node::builder(&format!("metrics_b_{pid}@localhost")).cookie("metrics").start().await?;
    let inbox = a.spawn_registered("inbox", |mut p| async move { while p.recv().await.is_ok() {} })?;
    let _ = inbox;
    let sender = b.process();
    for i in 0..10 {
        sender.send_named("inbox", a.name().as_str(), Term::Tuple(vec![Term::atom("hello"), Term::from(i)])).await?;
    }
    // A round trip makes sure all ten have arrived before the scrape.
    assert!(b.ping(a.name().as_str()).await);
    let publishing = a.publish_metrics(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    print!("{}", scrape.render());
    publishing.abort();
    b.shutdown().await;
    a.shutdown().await;
    Ok(())
}
