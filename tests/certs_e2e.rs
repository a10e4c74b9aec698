//! The three-command promise, end to end with the real commands: `beamlink
//! certs` makes a CA and two node certificates; a Rust TLS node (`beamlink
//! serve`) runs on one, a stock `erl` on the other with the `erlang-config`
//! output; they ping and exchange messages. A certificate from a second CA,
//! made by the same commands, is refused.

mod common;

use std::path::Path;
use std::time::Duration;

use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::{BeamlinkProcess, beamlink};

const T: Duration = Duration::from_secs(60);

fn certs(args: &[&str]) -> String {
    let (code, out, err) = beamlink(&[&["certs"], args].concat(), 1, T);
    assert_eq!(code, 0, "beamlink certs {args:?} failed: {err}");
    out
}

fn p(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

fn erl_tls(epmd: &OtpEpmd, alive: &str, optfile: &str) -> ErlNode {
    ErlNode::start(ErlOptions {
        name: ErlName::Short(alive.to_string()),
        cookie: "e2e".into(),
        epmd_port: epmd.port,
        extra_args: vec!["-proto_dist".into(), "inet_tls".into(), "-ssl_dist_optfile".into(), optfile.into()],
    })
}

#[test]
fn a_rust_tls_node_and_an_erl_node_provisioned_by_the_cli_talk() {
    if !common::erlang_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let rust = format!("{}@localhost", common::unique_name("rust"));
    let erl_alive = common::unique_name("erl");
    let erl = format!("{erl_alive}@localhost");
    certs(&["init-ca", "--dir", &d]);
    certs(&["issue", "--dir", &d, &rust]);
    certs(&["issue", "--dir", &d, &erl]);
    let optfile = certs(&["erlang-config", "--dir", &d, &erl]);
    let optfile_path = p(dir.path(), "erl.conf");
    std::fs::write(&optfile_path, optfile).unwrap();

    let epmd = OtpEpmd::start();
    let serve = BeamlinkProcess::start(
        &[
            "serve",
            "--sname",
            &rust,
            "--cookie",
            "e2e",
            "--ca",
            &p(dir.path(), "ca.pem"),
            "--cert",
            &p(dir.path(), &format!("{rust}.pem")),
            "--key",
            &p(dir.path(), &format!("{rust}.key")),
        ],
        epmd.port,
    );
    let mut e = erl_tls(&epmd, &erl_alive, &optfile_path);
    assert_eq!(e.eval(&format!("net_adm:ping('{rust}')")), "pong");
    assert_eq!(
        e.eval(&format!(
            "begin {{echo, '{rust}'}} ! {{self(), <<\"over tls\">>}}, receive M -> M after 5000 -> none end end"
        )),
        "<<\"over tls\">>"
    );
    assert_eq!(e.eval(&format!("rpc:call('{rust}', erlang, node, [])")), rust);
    let carrier =
        format!("begin {{ok, I}} = net_kernel:node_info('{rust}'), element(4, proplists:get_value(address, I)) end");
    assert_eq!(e.eval(&carrier), "tls", "the connection runs over inet_tls_dist");
    // And the Rust side dials the erl node, with a one-shot CLI node that takes its name from a certificate.
    let (code, out, err) = beamlink(
        &[
            "rpc",
            &erl,
            "erlang",
            "node",
            "--cookie",
            "e2e",
            "--ca",
            &p(dir.path(), "ca.pem"),
            "--cert",
            &p(dir.path(), &format!("{rust}.pem")),
            "--key",
            &p(dir.path(), &format!("{rust}.key")),
            "--sname",
            &rust.replace("rust_", "cli_"),
            "--verify-name",
            "none",
        ],
        epmd.port,
        T,
    );
    assert_eq!((code, out.trim()), (0, erl.as_str()), "{err}");

    // A node with a certificate from a second CA, made by the same commands, is refused.
    let other = tempfile::tempdir().unwrap();
    let o = other.path().display().to_string();
    let intruder_alive = common::unique_name("intruder");
    let intruder = format!("{intruder_alive}@localhost");
    certs(&["init-ca", "--dir", &o]);
    certs(&["issue", "--dir", &o, &intruder]);
    let intruder_conf = certs(&["erlang-config", "--dir", &o, &intruder]);
    let intruder_path = p(other.path(), "intruder.conf");
    std::fs::write(&intruder_path, intruder_conf).unwrap();
    let mut bad = erl_tls(&epmd, &intruder_alive, &intruder_path);
    assert_eq!(bad.eval(&format!("net_adm:ping('{rust}')")), "pang");
    assert_eq!(e.eval(&format!("net_adm:ping('{rust}')")), "pong", "the node still serves its cluster");
    drop(serve);
}
