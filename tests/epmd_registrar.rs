//! Auto-start and take-over: nodes publishing themselves with
//! `register_and_keep` on a private EPMD port, with no EPMD running at first.
//! "A process exits" is played by shutting down its `PublishedNode`, which
//! closes its registration and the daemon it hosts exactly as process exit does.

mod common;

use std::time::{Duration, Instant};

use beamlink::epmd::{
    DaemonConfig, EpmdClient, EpmdDaemon, EpmdError, PublishedNode, RegistrarConfig, register_and_keep,
};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use tokio::runtime::Runtime;

const RETRY: Duration = Duration::from_millis(200);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn config(name: &str, epmd_port: u16, dist_port: u16) -> RegistrarConfig {
    RegistrarConfig { epmd_port, retry_interval: RETRY, ..RegistrarConfig::new(name, dist_port) }
}

fn publish(rt: &Runtime, name: &str, epmd_port: u16, dist_port: u16) -> PublishedNode {
    rt.block_on(register_and_keep(config(name, epmd_port, dist_port))).expect("publish")
}

fn client(port: u16) -> EpmdClient {
    EpmdClient::new("127.0.0.1", port).with_timeout(Duration::from_secs(5))
}

fn names(rt: &Runtime, port: u16) -> Vec<String> {
    let mut names: Vec<String> =
        rt.block_on(client(port).names()).expect("NAMES").nodes.into_iter().map(|(n, _)| n).collect();
    names.sort();
    names
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn two_nodes_starting_at_once_on_a_fresh_machine_both_register() {
    let rt = runtime();
    for round in 0..5 {
        let port = common::free_port();
        let a = common::unique_name("both_a");
        let b = common::unique_name("both_b");
        let (pa, pb) = rt.block_on(async {
            tokio::join!(register_and_keep(config(&a, port, 5001)), register_and_keep(config(&b, port, 5002)))
        });
        let (pa, pb) = (pa.expect("first node"), pb.expect("second node"));
        assert!(pa.is_registered() && pb.is_registered());
        assert!(pa.hosts_daemon() ^ pb.hosts_daemon(), "round {round}: exactly one process must host epmd");
        assert_eq!(names(&rt, port), sorted(vec![a, b]));
        rt.block_on(async {
            pa.shutdown().await;
            pb.shutdown().await;
        });
    }
}

#[test]
fn nodes_starting_one_after_the_other_share_the_first_ones_daemon() {
    let rt = runtime();
    let port = common::free_port();
    let first = publish(&rt, &common::unique_name("seq_a"), port, 5001);
    let second = publish(&rt, &common::unique_name("seq_b"), port, 5002);
    assert!(first.hosts_daemon());
    assert!(!second.hosts_daemon());
    assert_eq!(names(&rt, port).len(), 2);
}

#[test]
fn killing_the_host_makes_the_survivor_take_over_within_a_retry() {
    let rt = runtime();
    let port = common::free_port();
    let a = common::unique_name("host");
    let b = common::unique_name("survivor");
    let host = publish(&rt, &a, port, 5001);
    let survivor = publish(&rt, &b, port, 5002);
    let creation = survivor.creation();
    assert!(host.hosts_daemon() && !survivor.hosts_daemon());

    let stopped = Instant::now();
    rt.block_on(host.shutdown());
    common::wait_for("the survivor to host epmd and re-register", Duration::from_secs(10), || {
        (survivor.is_registered() && survivor.hosts_daemon()).then_some(())
    });
    // One retry interval plus scheduling slack; generous so a loaded machine does not fail it.
    assert!(stopped.elapsed() < RETRY + Duration::from_secs(3), "take-over took {:?}", stopped.elapsed());

    let found = rt.block_on(client(port).port_please(&b)).expect("lookup").expect("survivor reachable");
    assert_eq!(found.port, 5002);
    assert_eq!(names(&rt, port), [b]);
    assert_eq!(survivor.creation(), creation, "the creation must survive the move");

    // A node starting now uses the survivor's daemon.
    let late = publish(&rt, &common::unique_name("late"), port, 5003);
    assert!(!late.hosts_daemon());
}

#[test]
fn several_survivors_settle_on_one_host() {
    let rt = runtime();
    let port = common::free_port();
    let host = publish(&rt, &common::unique_name("host"), port, 5000);
    let survivors: Vec<PublishedNode> =
        (1..=4u16).map(|i| publish(&rt, &common::unique_name("many"), port, 5000 + i)).collect();
    rt.block_on(host.shutdown());
    // Right after the shutdown the survivors may not have noticed yet, so wait for a new host.
    common::wait_for("a survivor to host epmd and all to re-register", Duration::from_secs(15), || {
        (survivors.iter().any(PublishedNode::hosts_daemon) && survivors.iter().all(PublishedNode::is_registered))
            .then_some(())
    });
    let hosts: Vec<bool> = survivors.iter().map(PublishedNode::hosts_daemon).collect();
    assert_eq!(hosts.iter().filter(|h| **h).count(), 1, "hosts: {hosts:?}");
    let expected = sorted(survivors.iter().map(|s| s.name().to_string()).collect());
    common::wait_for("all survivors to be listed", Duration::from_secs(5), || {
        (names(&rt, port) == expected).then_some(())
    });
}

#[test]
fn an_erl_node_re_registers_after_a_take_over() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let port = common::free_port();
    let host = publish(&rt, &common::unique_name("host"), port, 5001);
    let erl_name = common::unique_name("erl");
    let mut erl = ErlNode::start(ErlOptions {
        name: ErlName::Short(erl_name.clone()),
        cookie: "beamlink_epmd_test".into(),
        epmd_port: port,
        extra_args: vec!["-start_epmd".into(), "false".into()],
    });
    let creation = erl.eval("erlang:system_info(creation)");
    let survivor = publish(&rt, &common::unique_name("survivor"), port, 5002);
    assert!(rt.block_on(client(port).port_please(&erl_name)).expect("lookup").is_some());

    rt.block_on(host.shutdown());
    common::wait_for("the survivor to take over", Duration::from_secs(10), || {
        (survivor.is_registered() && survivor.hosts_daemon()).then_some(())
    });
    // OTP's erl_epmd retries every 2 s.
    common::wait_for("the erl node to re-register", Duration::from_secs(15), || {
        rt.block_on(client(port).port_please(&erl_name)).expect("lookup").map(|_| ())
    });
    assert_eq!(erl.eval("erlang:system_info(creation)"), creation, "erl keeps its creation");
}

#[test]
fn without_auto_start_an_unreachable_epmd_is_an_error() {
    let rt = runtime();
    let port = common::free_port();
    let cfg = RegistrarConfig { auto_start: None, ..config(&common::unique_name("manual"), port, 5001) };
    let err = rt.block_on(register_and_keep(cfg)).expect_err("registered without any epmd");
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn a_taken_name_is_refused() {
    let rt = runtime();
    let port = common::free_port();
    let name = common::unique_name("taken");
    let _first = publish(&rt, &name, port, 5001);
    let err = rt.block_on(register_and_keep(config(&name, port, 5002))).expect_err("duplicate published");
    assert!(matches!(err, EpmdError::RegistrationRefused { .. }), "{err}");
}

#[test]
fn a_running_otp_epmd_is_used_and_replaced_when_it_dies() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let otp = OtpEpmd::start();
    let port = otp.port;
    let name = common::unique_name("otp_then_ours");
    let node = publish(&rt, &name, port, 5001);
    assert!(!node.hosts_daemon());
    assert_eq!(names(&rt, port), std::slice::from_ref(&name));
    drop(otp); // kills OTP's epmd by pid
    common::wait_for("the node to host epmd itself", Duration::from_secs(10), || {
        (node.is_registered() && node.hosts_daemon()).then_some(())
    });
    assert_eq!(names(&rt, port), [name]);
}

#[test]
fn re_registration_after_an_epmd_restart_keeps_the_creation() {
    let rt = runtime();
    let port = common::free_port();
    let daemon_config = || DaemonConfig { port, ..DaemonConfig::default() };
    let first = rt.block_on(async { EpmdDaemon::bind(daemon_config()).await.expect("bind").spawn() });
    let cfg = RegistrarConfig { auto_start: None, ..config(&common::unique_name("keep"), port, 5001) };
    let node = rt.block_on(register_and_keep(cfg)).expect("publish");
    let creation = node.creation();
    rt.block_on(first.shutdown());
    common::wait_for("the registration to drop", Duration::from_secs(5), || (!node.is_registered()).then_some(()));
    // A few failed retries while nothing listens.
    std::thread::sleep(RETRY * 3);
    assert!(!node.is_registered());
    let _second = rt.block_on(async { EpmdDaemon::bind(daemon_config()).await.expect("bind again").spawn() });
    common::wait_for("re-registration", Duration::from_secs(5), || node.is_registered().then_some(()));
    assert!(!node.hosts_daemon());
    assert_eq!(node.creation(), creation);
    assert!(rt.block_on(client(port).port_please(node.name())).expect("lookup").is_some());
}

#[test]
fn dropping_a_published_node_unregisters_it_and_stops_its_daemon() {
    let rt = runtime();
    let port = common::free_port();
    let host = publish(&rt, &common::unique_name("dropped"), port, 5001);
    assert!(host.hosts_daemon());
    drop(host);
    common::wait_for("the hosted epmd to stop", Duration::from_secs(5), || {
        rt.block_on(client(port).names()).err().filter(EpmdError::is_unreachable).map(|_| ())
    });
}
