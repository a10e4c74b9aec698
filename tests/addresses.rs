//! Where listeners bind: `serve --address`, and `ERL_EPMD_ADDRESS` for
//! `beamlink epmd` and for the EPMD a node starts for itself. Every address
//! is on loopback (127.0.0.0/8 all reaches `lo` on Linux).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::erl::OtpEpmd;
use common::rust::{BeamlinkProcess, beamlink, beamlink_exe, beamlink_with_env};

const T: Duration = Duration::from_secs(30);

/// A child process, killed by pid on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn accepts(ip: &str, port: u16) -> bool {
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn wait_accepting(ip: &str, port: u16) {
    common::wait_for(&format!("{ip}:{port} to accept"), T, || accepts(ip, port).then_some(()));
}

#[test]
fn beamlink_epmd_listens_where_erl_epmd_address_says_and_on_loopback() {
    let port = common::free_port();
    let _epmd = Child(
        Command::new(beamlink_exe())
            .args(["epmd", "--port", &port.to_string()])
            .env("ERL_EPMD_ADDRESS", "127.0.0.2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start beamlink epmd"),
    );
    wait_accepting("127.0.0.2", port);
    wait_accepting("127.0.0.1", port);
    assert!(!accepts("127.0.0.3", port), "an address ERL_EPMD_ADDRESS does not name");

    // A value that is not a list of addresses stops it, naming the variable.
    let (code, _, err) = beamlink_with_env(
        &["epmd", "--port", &common::free_port().to_string()],
        &[("ERL_EPMD_ADDRESS", Path::new("127.0.0.2,eth0"))],
        port,
        T,
    );
    assert_ne!(code, 0);
    assert!(err.contains("ERL_EPMD_ADDRESS") && err.contains("\"eth0\" is not an IP address"), "{err}");
}

#[test]
fn serve_binds_the_address_it_is_given_and_logs_it() {
    let epmd = OtpEpmd::start();
    let port = common::free_port();
    let name = format!("{}@127.0.0.2", common::unique_name("bound"));
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new(beamlink_exe());
    command
        .args(["serve", "--name", &name, "--cookie", "k", "--address", "127.0.0.2", "--port", &port.to_string()])
        .env("ERL_EPMD_PORT", epmd.port.to_string())
        .env("RUST_LOG", "info");
    let srv = BeamlinkProcess::spawn_logging(command, log.reopen().unwrap());
    assert_eq!(srv.node, name);
    assert!(accepts("127.0.0.2", port));
    assert!(!accepts("127.0.0.1", port), "the listener is bound to 127.0.0.2 only");
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(logged.lines().any(|l| l.contains("listening") && l.contains(&format!("127.0.0.2:{port}"))), "{logged}");
    let (code, out, err) = beamlink(&["ping", &name, "--cookie", "k"], epmd.port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
}

#[test]
fn a_node_that_starts_its_own_epmd_binds_it_where_erl_epmd_address_says() {
    let epmd_port = common::free_port();
    let name = format!("{}@localhost", common::unique_name("ownepmd"));
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new(beamlink_exe());
    command
        .args(["serve", "--sname", &name, "--cookie", "k", "--no-epmd-daemon"])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.2")
        .env("RUST_LOG", "warn");
    let _srv = BeamlinkProcess::spawn_logging(command, log.reopen().unwrap());
    assert!(accepts("127.0.0.2", epmd_port));
    assert!(accepts("127.0.0.1", epmd_port), "loopback is always added");
    assert!(!accepts("127.0.0.3", epmd_port), "an address ERL_EPMD_ADDRESS does not name");
    let (code, out, err) = beamlink(&["ping", &name, "--cookie", "k"], epmd_port, T);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
    // Another node that registers with it is warned about: its registration goes with this process.
    if common::erlang_or_skip() {
        let alive = common::unique_name("guest");
        let _erl = common::erl::ErlNode::start_short(&alive, "k", epmd_port);
        let warned = common::wait_for("the warning", T, || {
            let text = std::fs::read_to_string(log.path()).unwrap_or_default();
            text.lines().find(|l| l.contains(&alive) && l.contains("goes when that process exits")).map(str::to_string)
        });
        assert!(warned.contains("beamlink epmd --daemon"), "{warned}");
    }

    // A bad value stops the node before it starts an EPMD somewhere else.
    let other = format!("{}@localhost", common::unique_name("badaddr"));
    let (code, out, err) = beamlink_with_env(
        &["serve", "--sname", &other, "--cookie", "k", "--no-epmd-daemon"],
        &[("ERL_EPMD_ADDRESS", Path::new("localhost"))],
        common::free_port(),
        T,
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("ERL_EPMD_ADDRESS"), "{err}");
}
