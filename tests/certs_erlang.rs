//! Real OTP nodes over TLS distribution with certificates and optfiles made
//! by the `beamlink certs` commands: they ping and exchange messages, for
//! short names and for IP-literal long names, and a node whose certificate
//! comes from a second CA is refused. Also checks what OTP's own
//! `inet_tls_dist:cert_nodes/1` reads from our certificates.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use beamlink::pki::CertInfo;
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd, erl_script};

const COOKIE: &str = "beamlink_certs_cookie";

fn certs(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_beamlink")).arg("certs").args(args).output().expect("run beamlink");
    assert!(
        out.status.success(),
        "beamlink certs {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Issues a certificate for `node` in `dir` and writes its optfile with
/// `erlang-config --out`; returns the optfile's path.
fn provision(dir: &Path, node: &str) -> PathBuf {
    provision_with(dir, node, &[])
}

/// [`provision`] with more `issue` arguments.
fn provision_with(dir: &Path, node: &str, issue_args: &[&str]) -> PathBuf {
    let mut args = vec!["issue", "--dir", s(dir), node];
    args.extend_from_slice(issue_args);
    certs(&args);
    let optfile = dir.join(format!("{node}.conf"));
    certs(&["erlang-config", "--dir", s(dir), node, "--out", s(&optfile)]);
    optfile
}

fn tls_node(name: ErlName, epmd: &OtpEpmd, optfile: &Path) -> ErlNode {
    ErlNode::start(ErlOptions {
        name,
        cookie: COOKIE.to_string(),
        epmd_port: epmd.port,
        extra_args: vec!["-proto_dist".into(), "inet_tls".into(), "-ssl_dist_optfile".into(), s(optfile).into()],
    })
}

/// `a` pings `b`, then sends a message to a registered echo process on `b`
/// and gets the reply; the connection must be a TLS one.
fn assert_talk(a: &mut ErlNode, b: &mut ErlNode) {
    assert_eq!(a.eval(&format!("net_adm:ping('{}')", b.node)), "pong", "{} -> {} over TLS", a.node, b.node);
    let spawn_echo =
        "register(echo, spawn(fun Loop() -> receive {From, M} -> From ! {echo, node(), M}, Loop() end end))";
    assert_eq!(b.eval(spawn_echo), "true");
    let exchange = format!(
        "{{echo, '{}'}} ! {{self(), {{hello, [1,2,3], <<\"over tls\">>}}}}, \
         receive {{echo, N, M}} -> {{N =:= '{}', M}} after 10000 -> timeout end",
        b.node, b.node
    );
    assert_eq!(a.eval(&exchange), "{true,{hello,[1,2,3],<<\"over tls\">>}}", "the echo came from {}", b.node);
    let protocol =
        format!("{{ok, I}} = net_kernel:node_info('{}'), element(4, proplists:get_value(address, I))", b.node);
    assert_eq!(a.eval(&protocol), "tls", "the distribution connection runs over TLS");
}

#[test]
fn short_name_nodes_ping_and_exchange_messages() {
    if !common::erlang_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certs(&["init-ca", "--dir", s(dir)]);
    let (a, b) = (common::unique_name("tlsa"), common::unique_name("tlsb"));
    let conf_a = provision(dir, &format!("{a}@localhost"));
    let conf_b = provision(dir, &format!("{b}@localhost"));

    let epmd = OtpEpmd::start();
    let mut node_b = tls_node(ErlName::Short(b), &epmd, &conf_b);
    let mut node_a = tls_node(ErlName::Short(a), &epmd, &conf_a);
    assert_talk(&mut node_a, &mut node_b);
    // And the other direction, on the same connection.
    assert_talk(&mut node_b, &mut node_a);
}

#[test]
fn ip_literal_long_name_nodes_ping_and_exchange_messages() {
    if !common::erlang_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certs(&["init-ca", "--dir", s(dir)]);
    let (a, b) = (common::unique_name("tlsla"), common::unique_name("tlslb"));
    let conf_a = provision(dir, &format!("{a}@127.0.0.1"));
    // One RSA node beside an ECDSA one: OTP takes both.
    let conf_b = provision_with(dir, &format!("{b}@127.0.0.1"), &["--key", "rsa"]);

    let epmd = OtpEpmd::start();
    let mut node_b = tls_node(ErlName::Long(b), &epmd, &conf_b);
    let mut node_a = tls_node(ErlName::Long(a), &epmd, &conf_a);
    assert_talk(&mut node_a, &mut node_b);
}

#[test]
fn a_node_with_a_certificate_from_a_second_ca_is_refused() {
    if !common::erlang_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    certs(&["init-ca", "--dir", s(&ours)]);
    certs(&["init-ca", "--dir", s(&theirs)]);
    let (a, b, m) = (common::unique_name("tlsa"), common::unique_name("tlsb"), common::unique_name("tlsm"));
    let conf_a = provision(&ours, &format!("{a}@localhost"));
    let conf_b = provision(&ours, &format!("{b}@localhost"));
    let conf_m = provision(&theirs, &format!("{m}@localhost"));

    let epmd = OtpEpmd::start();
    let mut node_a = tls_node(ErlName::Short(a), &epmd, &conf_a);
    let mut node_m = tls_node(ErlName::Short(m), &epmd, &conf_m);
    let timeout = Duration::from_secs(30);
    assert_eq!(node_m.eval_timeout(&format!("net_adm:ping('{}')", node_a.node), timeout), "pang", "intruder dials");
    assert_eq!(node_a.eval_timeout(&format!("net_adm:ping('{}')", node_m.node), timeout), "pang", "we dial intruder");
    assert_eq!(node_a.eval("nodes()"), "[]");
    // The same node still reaches a node with a certificate from its own CA.
    let mut node_b = tls_node(ErlName::Short(b), &epmd, &conf_b);
    assert_eq!(node_a.eval(&format!("net_adm:ping('{}')", node_b.node)), "pong");
    assert_eq!(node_b.eval("length(nodes())"), "1");
}

/// OTP 25's `inet_tls_dist:cert_nodes/1`, run by a real `erl` on our
/// certificates, agrees with `CertInfo::otp_cert_nodes`.
#[test]
fn otp_reads_our_certificates_as_cert_info_says() {
    if !common::erlang_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certs(&["init-ca", "--dir", s(dir)]);
    certs(&["issue", "--dir", s(dir), "alice@localhost", "--host", "alice.example.com"]);
    certs(&["issue", "--dir", s(dir), "erl@127.0.0.1"]);
    let cn_only = beamlink::certs::IssueOptions::new(dir, "cn@localhost").without_subject_alt_names();
    beamlink::certs::issue(&cn_only).unwrap();

    for node in ["alice@localhost", "erl@127.0.0.1", "cn@localhost"] {
        let path = dir.join(format!("{node}.pem"));
        let expr = format!(
            "{{ok, Pem}} = file:read_file(\"{}\"), [{{_, Der, _}} | _] = public_key:pem_decode(Pem), \
             io:format(\"~p~n\", [inet_tls_dist:cert_nodes(public_key:pkix_decode_cert(Der, otp))])",
            path.display()
        );
        let otp = erl_script(&expr, Duration::from_secs(30));
        let ours = match CertInfo::from_file(&path).unwrap().otp_cert_nodes {
            None => "undefined".to_string(),
            Some(list) => format!("[{}]", list.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(",")),
        };
        assert_eq!(otp.trim(), ours, "{node}");
    }
}
