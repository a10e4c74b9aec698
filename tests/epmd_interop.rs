//! EPMD against the real thing: our daemon serving real `erl` nodes and real
//! `epmd -names`, our client against OTP's real `epmd`, and `beamlink names`
//! against `epmd -names`. Every EPMD runs on a private port; every process is
//! stopped by pid.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use beamlink::epmd::codec::{KillResponse, NodeInfo, NodeType, StopResponse};
use beamlink::epmd::{DaemonConfig, DaemonHandle, EpmdClient, EpmdDaemon, EpmdError};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use tokio::runtime::Runtime;

const COOKIE: &str = "beamlink_epmd_test";

/// A runtime for our daemon and client calls; the test thread itself stays
/// outside it, free to block on `erl`.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn our_epmd(rt: &Runtime) -> DaemonHandle {
    let config = DaemonConfig {
        port: common::free_port(),
        packet_timeout: Duration::from_millis(500),
        ..DaemonConfig::default()
    };
    rt.block_on(async { EpmdDaemon::bind(config).await.expect("bind our epmd").spawn() })
}

fn client(port: u16) -> EpmdClient {
    EpmdClient::new("127.0.0.1", port).with_timeout(Duration::from_secs(5))
}

/// An `erl` node on `epmd_port` that will not start an OTP epmd of its own.
fn erl_node(name: &str, epmd_port: u16) -> ErlNode {
    ErlNode::start(ErlOptions {
        name: ErlName::Short(name.to_string()),
        cookie: COOKIE.to_string(),
        epmd_port,
        extra_args: vec!["-start_epmd".into(), "false".into()],
    })
}

/// Runs a command to completion within `limit`, killing it (by pid) if it overruns.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("wait for the command"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    }
}

/// What `epmd -port P -names` prints.
fn epmd_names(port: u16) -> String {
    let out = run_bounded(Command::new("epmd").args(["-port", &port.to_string(), "-names"]), Duration::from_secs(10));
    assert!(out.status.success(), "epmd -names failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 from epmd -names")
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

fn creation_of(node: &mut ErlNode) -> u64 {
    node.eval("erlang:system_info(creation)").parse().expect("creation is an integer")
}

fn wait_unregistered(rt: &Runtime, port: u16, name: &str) {
    common::wait_for(&format!("{name} to be unregistered"), Duration::from_secs(10), || {
        rt.block_on(client(port).port_please(name)).expect("lookup").is_none().then_some(())
    });
}

// ---------------------------------------------------------------- our daemon, real erl

#[test]
fn erl_registers_with_our_daemon_and_epmd_names_lists_it() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let d = our_epmd(&rt);
    let name = common::unique_name("reg");
    let mut node = erl_node(&name, d.port());

    let found = rt.block_on(client(d.port()).port_please(&name)).expect("lookup").expect("erl registered");
    assert_eq!(found.name, name);
    assert_eq!(found.node_type, NodeType::Normal);
    // OTP 25 registers High 6, Low 5.
    assert_eq!((found.highest_version, found.lowest_version), (6, 5));

    let listing = epmd_names(d.port());
    assert_eq!(
        listing,
        format!("epmd: up and running on port {} with data:\nname {name} at port {}\n", d.port(), found.port)
    );

    // The node's own view agrees, and its creation comes from the clock as OTP's epmd assigns it.
    assert_eq!(node.eval("erl_epmd:names()"), format!("{{ok,[{{\"{name}\",{}}}]}}", found.port));
    let creation = creation_of(&mut node);
    assert!(creation.abs_diff(unix_now() + 1) <= 120, "creation {creation} is not the clock");

    node.kill();
    wait_unregistered(&rt, d.port(), &name);
}

#[test]
fn two_erl_nodes_ping_each_other_through_our_daemon() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let d = our_epmd(&rt);
    let a = common::unique_name("ping_a");
    let b = common::unique_name("ping_b");
    let mut node_a = erl_node(&a, d.port());
    let mut node_b = erl_node(&b, d.port());
    assert_eq!(node_a.eval(&format!("net_adm:ping('{b}@localhost')")), "pong");
    assert_eq!(node_b.eval("nodes()"), format!("[{a}@localhost]"));
    let names = rt.block_on(client(d.port()).names()).expect("NAMES");
    let mut listed: Vec<_> = names.nodes.iter().map(|(n, _)| n.clone()).collect();
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn a_restarted_erl_node_gets_a_new_creation() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let d = our_epmd(&rt);
    let name = common::unique_name("restart");
    let mut first = erl_node(&name, d.port());
    let c1 = creation_of(&mut first);
    first.kill();
    wait_unregistered(&rt, d.port(), &name);
    let mut second = erl_node(&name, d.port());
    let c2 = creation_of(&mut second);
    assert_eq!(c2, c1 + 1, "the same name registered again must get the next creation");
}

#[test]
fn a_duplicate_erl_name_is_refused() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let d = our_epmd(&rt);
    let name = common::unique_name("dup");
    let _first = erl_node(&name, d.port());
    let out = run_bounded(
        Command::new("erl")
            .args(["-start_epmd", "false", "-sname", &format!("{name}@localhost"), "-noshell"])
            .args(["-setcookie", COOKIE, "-eval", "halt()."])
            .env("ERL_EPMD_PORT", d.port().to_string()),
        Duration::from_secs(30),
    );
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a second {name} started: {text}");
    assert!(text.contains("seems to be in use"), "unexpected output: {text}");
    // The first registration is intact.
    assert!(rt.block_on(client(d.port()).port_please(&name)).expect("lookup").is_some());
}

// ---------------------------------------------------------------- our client, OTP's epmd

#[test]
fn our_client_registers_and_looks_up_with_otp_epmd() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rt = runtime();
    let c = client(epmd.port);
    let name = common::unique_name("client");
    let mut info = NodeInfo::new(name.clone(), 40_123).with_versions(6, 5);
    info.node_type = NodeType::Hidden;
    info.extra = b"beamlink".to_vec();

    let registration = rt.block_on(c.register(&info)).expect("register with OTP epmd");
    assert!(u64::from(registration.creation()).abs_diff(unix_now() + 1) <= 120);
    assert_eq!(rt.block_on(c.port_please(&name)).expect("lookup"), Some(info.clone()));
    assert_eq!(rt.block_on(c.port_please("nobody_here")).expect("lookup"), None);
    assert_eq!(rt.block_on(c.names()).expect("NAMES").nodes, [(name.clone(), 40_123)]);
    assert_eq!(rt.block_on(c.names()).expect("NAMES").epmd_port, u32::from(epmd.port));
    assert!(epmd_names(epmd.port).contains(&format!("name {name} at port 40123\n")));
    let dump = rt.block_on(c.dump()).expect("DUMP");
    assert!(dump.entries.iter().any(|e| e.starts_with(&format!("active name     <{name}> at port 40123, fd = "))));

    let duplicate = rt.block_on(c.register(&info)).expect_err("duplicate accepted");
    assert!(matches!(duplicate, EpmdError::RegistrationRefused { result: 1, .. }), "{duplicate}");

    drop(registration);
    wait_unregistered(&rt, epmd.port, &name);
}

#[test]
fn version_5_registrations_get_small_creations_from_otp_epmd() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rt = runtime();
    let c = client(epmd.port);
    let info = NodeInfo::new(common::unique_name("v5"), 40_124).with_versions(5, 5);
    let first = rt.block_on(c.register(&info)).expect("register v5");
    let c1 = first.creation();
    assert!((1..=3).contains(&c1), "v5 creation {c1}");
    drop(first);
    wait_unregistered(&rt, epmd.port, &info.name);
    let second = rt.block_on(c.register(&info)).expect("register v5 again");
    assert!((1..=3).contains(&second.creation()));
    assert_ne!(second.creation(), c1);
}

#[test]
fn kill_is_refused_while_nodes_are_registered() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rt = runtime();
    let c = client(epmd.port);
    let info = NodeInfo::new(common::unique_name("kill"), 40_125);
    let registration = rt.block_on(c.register(&info)).expect("register");
    assert_eq!(rt.block_on(c.kill()).expect("KILL"), KillResponse::No);
    drop(registration);
    wait_unregistered(&rt, epmd.port, &info.name);
    assert_eq!(rt.block_on(c.kill()).expect("KILL"), KillResponse::Ok);
    common::wait_for("OTP epmd to exit", Duration::from_secs(10), || {
        rt.block_on(c.names()).err().filter(EpmdError::is_unreachable).map(|_| ())
    });
}

#[test]
fn stop_needs_the_relaxed_command_check() {
    if !common::erlang_or_skip() {
        return;
    }
    let rt = runtime();
    let strict = OtpEpmd::start();
    let info = NodeInfo::new(common::unique_name("stop"), 40_126);
    let _held = rt.block_on(client(strict.port).register(&info)).expect("register");
    let refused = rt.block_on(client(strict.port).stop(&info.name)).expect_err("STOP honoured without the flag");
    assert!(matches!(refused, EpmdError::NoAnswer { .. }), "{refused}");
    assert!(rt.block_on(client(strict.port).port_please(&info.name)).expect("lookup").is_some());

    let relaxed = OtpEpmd::start_with_args(&["-relaxed_command_check"]);
    let c = client(relaxed.port);
    let mut registration = rt.block_on(c.register(&info)).expect("register");
    assert_eq!(rt.block_on(c.stop("nobody_here")).expect("STOP"), StopResponse::NoExist);
    assert_eq!(rt.block_on(c.stop(&info.name)).expect("STOP"), StopResponse::Stopped);
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), registration.closed()).await })
        .expect("epmd closed the stopped registration");
    assert!(rt.block_on(c.port_please(&info.name)).expect("lookup").is_none());
}

#[test]
fn our_client_finds_an_erl_node_registered_with_otp_epmd() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rt = runtime();
    let name = common::unique_name("otp_node");
    let _node = erl_node(&name, epmd.port);
    let found = rt.block_on(client(epmd.port).port_please(&name)).expect("lookup").expect("registered");
    assert_eq!((found.highest_version, found.lowest_version, found.node_type), (6, 5, NodeType::Normal));
    assert!(epmd_names(epmd.port).contains(&format!("name {name} at port {}\n", found.port)));
}

// ---------------------------------------------------------------- the CLI

#[cfg(feature = "cli")]
mod cli {
    use super::*;

    const BEAMLINK: &str = env!("CARGO_BIN_EXE_beamlink");

    fn beamlink_names(port: u16) -> Output {
        run_bounded(Command::new(BEAMLINK).args(["names", "--port", &port.to_string()]), Duration::from_secs(20))
    }

    fn assert_same_listing(port: u16) {
        let ours = beamlink_names(port);
        assert!(ours.status.success(), "beamlink names failed: {}", String::from_utf8_lossy(&ours.stderr));
        assert_eq!(String::from_utf8_lossy(&ours.stdout), epmd_names(port));
    }

    #[test]
    fn beamlink_names_prints_what_epmd_names_prints() {
        if !common::erlang_or_skip() {
            return;
        }
        let rt = runtime();
        let otp = OtpEpmd::start();
        let ours = our_epmd(&rt);
        for port in [otp.port, ours.port()] {
            assert_same_listing(port);
            let held: Vec<_> = ["cli_a", "cli_b"]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let info = NodeInfo::new(common::unique_name(n), 41_000 + i as u16);
                    rt.block_on(client(port).register(&info)).expect("register")
                })
                .collect();
            assert_same_listing(port);
            assert_eq!(epmd_names(port).lines().count(), 3);
            drop(held);
        }
    }

    #[test]
    fn beamlink_names_fails_clearly_without_epmd() {
        let port = common::free_port();
        let out = beamlink_names(port);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("cannot connect to epmd at localhost:{port}")), "stderr: {err}");
    }

    /// `beamlink epmd` as a child process, stopped by pid.
    struct Daemon(std::process::Child);

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn beamlink_epmd_serves_erl_nodes_and_stops_on_sigterm() {
        if !common::erlang_or_skip() {
            return;
        }
        let port = common::free_port();
        let mut daemon = Daemon(
            Command::new(BEAMLINK)
                .args(["epmd", "--port", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start beamlink epmd"),
        );
        common::wait_for_port(port, Duration::from_secs(10));
        let a = common::unique_name("cli_a");
        let b = common::unique_name("cli_b");
        let mut node_a = erl_node(&a, port);
        let _node_b = erl_node(&b, port);
        assert_eq!(node_a.eval(&format!("net_adm:ping('{b}@localhost')")), "pong");
        let listing = epmd_names(port);
        assert!(listing.contains(&format!("name {a} at port ")) && listing.contains(&format!("name {b} at port ")));

        let pid = daemon.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM").success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = daemon.0.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "beamlink epmd ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "beamlink epmd exited with {status}");
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut daemon.0.stdout.take().expect("stdout"), &mut stdout).expect("read stdout");
        assert!(stdout.is_empty(), "beamlink epmd printed {stdout:?}");
    }

    #[test]
    fn beamlink_epmd_fails_clearly_when_the_port_is_taken() {
        if !common::erlang_or_skip() {
            return;
        }
        let otp = OtpEpmd::start();
        let out = run_bounded(
            Command::new(BEAMLINK).args(["epmd", "--port", &otp.port.to_string()]),
            Duration::from_secs(10),
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("already in use"), "stderr: {err}");
    }
}
