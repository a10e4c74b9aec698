//! Revocation at the TLS layer (fault matrix rows S5 and C5): a node given
//! its CA's CRL refuses a revoked peer in either role and says which CRL
//! lists it, lets unrevoked peers in, refuses a peer whose CA has no CRL
//! given unless told to allow unknown status, and after a revocation and a
//! reload refuses new connections from the revoked node while established
//! ones keep running. A stock `erl` with the optfile `certs erlang-config`
//! writes enforces the same CRL.

mod common;
mod tls_fixtures;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use beamlink::certs::{CaOptions, IssueOptions, RevokeOptions, init_ca, issue, revoke};
use beamlink::node::NodeEvent;
use beamlink::proto::NodeName;
use beamlink::term::Term;
use beamlink::transport::tls::{TlsConfig, TlsTransport, load_crls};
use beamlink::transport::{SetupTimeouts, Transport};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::TestNode;
use tls_fixtures::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(20);
const HANDSHAKE: Duration = Duration::from_secs(3);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A transport for `node` from `pki`, checking peers against `crl`.
fn with_crl(pki: &Pki, node: &str, crl: &Path) -> TlsTransport {
    TlsTransport::new(pki.config(node).crl_file(crl)).expect("TLS transport with a CRL")
}

/// `{self(), Msg}` to `echo` on `to`; the reply.
fn echo(from: &TestNode, to: &str, msg: Term) -> Term {
    let node = from.node.clone();
    let to = to.to_string();
    from.run(T, async move {
        let mut p = node.process();
        let me = Term::Pid(p.pid().clone());
        p.send_named("echo", &to, Term::Tuple(vec![me, msg])).await.expect("send");
        p.recv_timeout(T).await.expect("alive").expect("an echo within the limit")
    })
}

/// A new TLS connection from `tls` to `node` at `port`: `Err` with the
/// reason if either side refuses it. Under TLS 1.3 a client finishes its
/// handshake before the server has judged the client's certificate, so the
/// client sends a malformed distribution handshake message and reads: a
/// server that refused the certificate answers with its TLS alert, one that
/// accepted it closes the connection cleanly over the bad message.
fn tls_connect(tls: &TlsTransport, port: u16, node: &str) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let peer = NodeName::new(node).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut established =
            tls.connect(addr, &peer, SetupTimeouts::new(HANDSHAKE, HANDSHAKE)).await.map_err(|e| e.to_string())?;
        let _ = established.stream.write_all(&[0, 0, 0, 1, b'?']).await;
        let _ = established.stream.flush().await;
        let mut byte = [0u8; 64];
        match tokio::time::timeout(T, established.stream.read(&mut byte)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(n)) => Err(format!("the server answered the bad message with {n} bytes")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer".into()),
        }
    })
}

#[test]
fn a_server_with_the_crl_refuses_a_revoked_client_and_names_the_crl() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, bad) = (short("crlsrv"), short("revcli"));
    pki.issue(&srv);
    let bad_serial = pki.issue(&bad).info.serial;
    let crl = pki.revoke(&bad);
    let _server = tls_node(&srv, epmd.port, &with_crl(&pki, &srv, &crl), |b| b);

    // The revoked node has no CRL itself: it is the server that refuses it.
    let client = tls_client(&bad, epmd.port, &pki.transport(&bad));
    let err = client.run(T, client.node.ping_detailed(&srv)).expect_err("a revoked client is refused").to_string();
    assert!(err.contains("the peer says our certificate") && err.contains("is revoked"), "the client is told: {err}");
    let line = wait_log(
        &[
            &format!("refused the client's certificate: certificate \"CN={bad}\" (serial {bad_serial},"),
            "is revoked: listed in the CRL",
            s(&crl),
        ],
        T,
    );
    assert!(line.contains("number 1,") && line.contains(" since "), "{line}");
    assert!(line.contains("beamlink certs issue --force"), "{line}");

    // Unrevoked nodes of the same CA get in.
    good_peer_reaches(&pki, &srv, epmd.port);
}

#[test]
fn a_client_with_the_crl_refuses_a_revoked_server() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (bad_srv, good_srv, cli) = (short("revsrv"), short("oksrv"), short("crlcli"));
    let bad_serial = pki.issue(&bad_srv).info.serial;
    pki.issue(&good_srv);
    pki.issue(&cli);
    let crl = pki.revoke(&bad_srv);
    let _bad = tls_node(&bad_srv, epmd.port, &pki.transport(&bad_srv), |b| b);
    let _good = tls_node(&good_srv, epmd.port, &pki.transport(&good_srv), |b| b);

    let client = tls_client(&cli, epmd.port, &with_crl(&pki, &cli, &crl));
    let err = client.run(T, client.node.ping_detailed(&bad_srv)).expect_err("a revoked server is refused").to_string();
    for needle in [
        &format!("refused the server's certificate: certificate \"CN={bad_srv}\" (serial {bad_serial},"),
        "is revoked: listed in the CRL",
        s(&crl),
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    // The revoked server hears why.
    wait_log(&[&format!("the peer says our certificate \"CN={bad_srv}\""), "is revoked"], T);
    assert!(client.run(T, client.node.ping(&good_srv)), "an unrevoked server is reached");
}

#[test]
fn an_issuer_without_a_crl_is_refused_unless_unknown_status_is_allowed() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let (ours, theirs) = (Pki::new(), Pki::new());
    let (strict, lenient, stranger) = (short("strict"), short("lenient"), short("stranger"));
    ours.issue(&strict);
    ours.issue(&lenient);
    theirs.issue(&stranger);
    let crl = ours.empty_crl();
    // Everyone trusts both CAs; only our CA publishes a CRL.
    let bundle = ours.dir().join("both.pem");
    std::fs::write(&bundle, [std::fs::read(ours.ca()).unwrap(), std::fs::read(theirs.ca()).unwrap()].concat()).unwrap();
    let config = |pki: &Pki, node: &str| {
        let (cert, key) = pki.files(node);
        TlsConfig::from_files(&bundle, cert, key)
    };
    let _strict =
        tls_node(&strict, epmd.port, &TlsTransport::new(config(&ours, &strict).crl_file(&crl)).unwrap(), |b| b);
    let lenient_tls = config(&ours, &lenient).crl_file(&crl).allow_unknown_revocation_status(true);
    let _lenient = tls_node(&lenient, epmd.port, &TlsTransport::new(lenient_tls).unwrap(), |b| b);

    let client = tls_client(&stranger, epmd.port, &TlsTransport::new(config(&theirs, &stranger)).unwrap());
    let err = client.run(T, client.node.ping_detailed(&strict)).expect_err("unknown status is refused").to_string();
    assert!(err.contains("if it checks CRLs, it has no current CRL from that CA"), "the client is told: {err}");
    let line =
        wait_log(&[&format!("refused the client's certificate \"CN={stranger}\""), "revocation status is unknown"], T);
    assert!(line.contains(&format!("no CRL from its issuer \"{}\"", ca_subject(&theirs))), "{line}");
    assert!(line.contains(s(&crl)) && line.contains("allow_unknown_revocation_status"), "{line}");

    assert!(client.run(T, client.node.ping(&lenient)), "allowed when unknown status is allowed");
    good_peer_reaches(&ours, &strict, epmd.port);
}

/// The subject of a PKI's CA certificate.
fn ca_subject(pki: &Pki) -> String {
    beamlink::pki::CertInfo::from_file(&pki.ca()).unwrap().subject
}

#[test]
fn after_revoking_and_reloading_new_connections_are_refused_and_established_ones_run_on() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, member, late) = (short("rlsrv"), short("member"), short("late"));
    pki.issue(&srv);
    pki.issue(&member);
    pki.issue(&late);
    let crl = pki.empty_crl();
    let tls = with_crl(&pki, &srv, &crl);
    let server = tls_node(&srv, epmd.port, &tls, |b| b);
    beamlink::node::services::echo::start(&server.node, "echo").unwrap();
    let port = server.node.listen_addr().unwrap().port();

    let member_tls = pki.transport(&member);
    let client = tls_client(&member, epmd.port, &member_tls);
    let mut events = client.node.events();
    assert_eq!(echo(&client, &srv, Term::atom("before")), Term::atom("before"));
    tls_connect(&member_tls, port, &srv).expect("a new connection before the revocation");

    // Revoked on disk: nothing changes until the reload.
    pki.revoke(&member);
    tls_connect(&member_tls, port, &srv).expect("the old CRL is still in force");
    tls.reload().expect("reload");
    assert_eq!(tls.generation(), 2);
    wait_log(&["TLS material reloaded", s(&crl)], T);
    let err = tls_connect(&member_tls, port, &srv).expect_err("a new connection after the reload");
    assert!(err.contains("the peer says our certificate") && err.contains("is revoked"), "{err}");
    wait_log(&[&format!("certificate \"CN={member}\""), "is revoked"], T);

    // The connection made before carries on.
    let big = Term::binary(vec![7u8; 100_000]);
    assert_eq!(echo(&client, &srv, big.clone()), big);
    while let Ok(event) = events.try_recv() {
        if let NodeEvent::Down { node, reason, .. } = event {
            assert_ne!(node.as_str(), srv, "the established connection went down: {reason}");
        }
    }

    // The file poll picks up the next revocation without being asked.
    let poll_name = short("pollsrv");
    pki.issue(&poll_name);
    let polled = pki.config(&poll_name).crl_file(&crl).reload_interval(Some(Duration::from_millis(50)));
    let poll_server = tls_node(&poll_name, epmd.port, &TlsTransport::new(polled).unwrap(), |b| b);
    let poll_port = poll_server.node.listen_addr().unwrap().port();
    let late_tls = pki.transport(&late);
    tls_connect(&late_tls, poll_port, &poll_name).expect("not revoked yet");
    pki.revoke(&late);
    let err =
        common::wait_for("the poll to load the new CRL", T, || tls_connect(&late_tls, poll_port, &poll_name).err());
    assert!(err.contains("the peer says our certificate") && err.contains("is revoked"), "{err}");
    good_peer_reaches(&pki, &poll_name, epmd.port);
}

#[test]
fn crl_files_are_checked_when_loaded_and_a_bad_one_keeps_the_previous() {
    capture_logs();
    let pki = Pki::new();
    let node = short("loader");
    pki.issue(&node);
    let dir = tempfile::tempdir().unwrap();
    let load = |crl: &Path| TlsTransport::new(pki.config(&node).crl_file(crl)).map(|_| ()).map_err(|e| e.to_string());

    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a CRL\n").unwrap();
    let err = load(&junk).unwrap_err();
    assert!(err.contains("junk.pem: cannot use it as a CRL: no X509 CRL block found"), "{err}");
    let err = load(&dir.path().join("none.pem")).unwrap_err();
    assert!(err.ends_with("none.pem: cannot use it as a CRL: no such file"), "{err}");
    let err = load(&pki.ca()).unwrap_err();
    assert!(err.contains("expected an X509 CRL block, found Certificate"), "{err}");

    // A CRL from another CA that has the same name as ours.
    let ca_name = beamlink::pki::CertInfo::from_file(&pki.ca()).unwrap().subject.replacen("CN=", "", 1);
    let namesake = dir.path().join("namesake");
    init_ca(&CaOptions::new(&namesake).name(&ca_name)).unwrap();
    issue(&IssueOptions::new(&namesake, "x@localhost")).unwrap();
    let forged = revoke(&RevokeOptions::new(&namesake, "x@localhost")).unwrap().path;
    let err = load(&forged).unwrap_err();
    assert!(err.contains("its signature does not verify against the trusted CA"), "{err}");

    // The same CRL in DER is fine, and the CRL of an unrelated CA only draws a warning.
    let crl = pki.empty_crl();
    let der = dir.path().join("crl.der");
    std::fs::write(&der, load_crls(&crl).unwrap()[0].as_ref()).unwrap();
    load(&der).expect("a DER CRL");
    let other = Pki::new();
    load(&other.empty_crl()).expect("an unrelated CRL");
    wait_log(&["which is not among the trust roots", s(&other.crl())], T);

    // A hash directory: every HASH.rN in it; an empty one would check nothing, so it is refused.
    let hashes = pki.dir().join("crl.d");
    let tls = TlsTransport::new(pki.config(&node).crl_hash_dir(&hashes)).expect("the hash directory");
    assert_eq!(tls.config().crl_hash_dirs(), std::slice::from_ref(&hashes));
    let empty = dir.path().join("empty.d");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("README"), "not a CRL").unwrap();
    let err = TlsTransport::new(pki.config(&node).crl_hash_dir(&empty)).unwrap_err().to_string();
    assert!(err.contains("no CRL in the hash directory") && err.contains("would be unknown"), "{err}");
    TlsTransport::new(pki.config(&node).crl_hash_dir(&empty).allow_unknown_revocation_status(true))
        .expect("nothing to check, and unknown status allowed");
    let err = TlsTransport::new(pki.config(&node).crl_hash_dir(dir.path().join("none.d"))).unwrap_err().to_string();
    assert!(err.contains("cannot list it as a CRL hash directory"), "{err}");

    // A reload that meets a broken CRL keeps the previous material.
    let live = dir.path().join("live.pem");
    std::fs::copy(&crl, &live).unwrap();
    let tls = TlsTransport::new(pki.config(&node).crl_file(&live)).unwrap();
    std::fs::write(&live, "broken\n").unwrap();
    let err = tls.reload().unwrap_err().to_string();
    assert!(err.contains("live.pem: cannot use it as a CRL"), "{err}");
    assert_eq!(tls.generation(), 1);
}

#[test]
fn erl_with_the_generated_optfile_enforces_the_crl_both_ways() {
    if !common::erlang_or_skip() {
        return;
    }
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let erl_alive = common::unique_name("erlcrl");
    let erl_full = format!("{erl_alive}@localhost");
    let (good, bad, late) = (short("egood"), short("ebad"), short("elate"));
    for node in [&erl_full, &good, &bad, &late] {
        pki.issue(node);
    }
    pki.revoke(&bad);
    let optfile = pki.optfile(&erl_full);
    assert!(std::fs::read_to_string(&optfile).unwrap().contains("{crl_check, peer}"));
    let mut erl = ErlNode::start(ErlOptions {
        name: ErlName::Short(erl_alive),
        cookie: COOKIE.into(),
        epmd_port: epmd.port,
        extra_args: vec!["-proto_dist".into(), "inet_tls".into(), "-ssl_dist_optfile".into(), s(&optfile).into()],
    });
    let nodes: Vec<TestNode> =
        [&good, &bad, &late].iter().map(|n| tls_node(n, epmd.port, &pki.transport(n), |b| b)).collect();

    // erl dials: a revoked server certificate is refused.
    assert_eq!(erl.eval(&format!("net_adm:ping('{good}')")), "pong");
    assert_eq!(erl.eval(&format!("net_adm:ping('{bad}')")), "pang");
    wait_log(&[&format!("the peer says our certificate \"CN={bad}\""), "is revoked"], T);
    // The revoked node dials erl: its client certificate is refused.
    let bad_node = &nodes[1];
    assert!(!bad_node.run(T, bad_node.node.ping(&erl_full)), "erl refuses a revoked client");
    // erl reads the hash directory at each handshake: a later revocation applies at once.
    pki.revoke(&late);
    assert_eq!(erl.eval(&format!("net_adm:ping('{late}')")), "pang");
    assert!(!nodes[2].run(T, nodes[2].node.ping(&erl_full)));
    assert!(nodes[0].run(T, nodes[0].node.ping(&erl_full)), "the unrevoked node still reaches erl");
}
