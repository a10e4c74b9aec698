//! The `metrics` feature: the Prometheus example prints the counters of a
//! connection that carried ten messages.

mod common;

use std::process::Command;
use std::time::Duration;

use common::erl::OtpEpmd;

#[test]
fn the_prometheus_example_exports_the_connection_counters() {
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().unwrap().parent().unwrap().join("examples").join("prometheus");
    if !example.exists() {
        common::skip("", "the prometheus example is built only with the `metrics` feature");
        return;
    }
    let epmd = OtpEpmd::start();
    let out = common::output_within(
        "the prometheus example",
        Command::new(&example).env("ERL_EPMD_PORT", epmd.port.to_string()),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let value = |series: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{series}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(value("beamlink_connections"), 1);
    let received = value("beamlink_connection_messages_received_total");
    assert!((10..=20).contains(&received), "ten messages and a ping, counted as {received}");
    assert!(value("beamlink_connection_bytes_received_total") > 10 * 20);
    assert!(text.contains(r#"peer="metrics_b_"#), "{text}");
}
