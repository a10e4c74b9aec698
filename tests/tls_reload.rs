//! Rotation without restart (fault matrix row S15): a reload, asked for or
//! noticed by the file poll, makes new connections present the new
//! certificate (the serial a peer sees changes) while established
//! connections keep running; a failed reload keeps the old material; and a
//! CA bundle holding the old and the new CA lets both kinds of nodes in
//! while the cluster CA itself is rotated.

mod common;
mod tls_fixtures;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use beamlink::node::NodeEvent;
use beamlink::pki::CertInfo;
use beamlink::proto::NodeName;
use beamlink::term::Term;
use beamlink::transport::tls::{TlsConfig, TlsTransport};
use beamlink::transport::{PeerIdentity, SetupTimeouts, Transport};
use common::erl::OtpEpmd;
use common::rust::TestNode;
use tls_fixtures::*;

const T: Duration = Duration::from_secs(20);

/// The serial of the certificate the node at `port` presents to a new connection.
fn presented_serial(probe: &TlsTransport, port: u16, node: &str) -> String {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let peer = NodeName::new(node).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let established = rt.block_on(probe.connect(addr, &peer, SetupTimeouts::new(T, T))).expect("probe connection");
    match established.identity {
        PeerIdentity::Certificate(chain) => CertInfo::from_der(&chain[0]).unwrap().serial,
        PeerIdentity::Unverified => panic!("no certificate"),
    }
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

/// Asserts that no Down event for `peer` is queued.
fn no_down(events: &mut tokio::sync::broadcast::Receiver<NodeEvent>, peer: &str) {
    while let Ok(event) = events.try_recv() {
        if let NodeEvent::Down { node, reason, .. } = event {
            assert_ne!(node.as_str(), peer, "the established connection went down: {reason}");
        }
    }
}

/// Replaces `to` with a copy of `from` by an atomic rename, as deployment tools do.
fn replace_file(from: &Path, to: &Path) {
    let temp = to.with_extension("incoming");
    std::fs::copy(from, &temp).unwrap();
    std::fs::rename(&temp, to).unwrap();
}

#[test]
fn reload_switches_new_connections_to_the_new_certificate_and_keeps_established_ones() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, cli, probe) = (short("rsrv"), short("rcli"), short("probe"));
    let first = pki.issue(&srv).info.serial;
    pki.issue(&cli);
    pki.issue(&probe);
    let tls = pki.transport(&srv);
    let server = tls_node(&srv, epmd.port, &tls, |b| b);
    beamlink::node::services::echo::start(&server.node, "echo").unwrap();
    let port = server.node.listen_addr().unwrap().port();
    let probe = pki.transport(&probe);
    let client = tls_client(&cli, epmd.port, &pki.transport(&cli));
    let mut events = client.node.events();
    assert_eq!(echo(&client, &srv, Term::atom("before")), Term::atom("before"));
    assert_eq!(presented_serial(&probe, port, &srv), first);
    assert_eq!(tls.generation(), 1);

    // New files on disk change nothing until the reload.
    let second = pki.issue(&srv).info.serial;
    assert_ne!(first, second);
    assert_eq!(presented_serial(&probe, port, &srv), first);
    let reloaded = tls.reload().unwrap();
    assert_eq!(reloaded.serial, second);
    assert_eq!(tls.generation(), 2);
    assert_eq!(tls.certificate().serial, second);
    assert_eq!(presented_serial(&probe, port, &srv), second, "a new connection sees the new certificate");

    // The connection made before the reload carries on.
    let big = Term::binary(vec![3u8; 200_000]);
    assert_eq!(echo(&client, &srv, big.clone()), big);
    no_down(&mut events, &srv);
    assert!(client.node.connected_nodes().iter().any(|n| n.as_str() == srv));
    wait_log(&["TLS material reloaded", &format!("serial={second}"), &format!("previous_serial={first}")], T);
    good_peer_reaches(&pki, &srv, epmd.port);
}

#[test]
fn the_file_poll_reloads_on_change_and_keeps_the_old_material_when_the_new_is_broken() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let pki = Pki::new();
    let (srv, probe) = (short("psrv"), short("pprobe"));
    let first = pki.issue(&srv).info.serial;
    pki.issue(&probe);
    let tls = TlsTransport::new(pki.config(&srv).reload_interval(Some(Duration::from_millis(50)))).unwrap();
    let server = tls_node(&srv, epmd.port, &tls, |b| b);
    let port = server.node.listen_addr().unwrap().port();
    let probe = pki.transport(&probe);
    assert_eq!(presented_serial(&probe, port, &srv), first);

    let second = pki.issue(&srv).info.serial;
    common::wait_for("the poll to load the renewed certificate", T, || {
        (tls.certificate().serial == second).then_some(())
    });
    assert_eq!(presented_serial(&probe, port, &srv), second);
    let generation = tls.generation();

    // A broken key: the reload fails, is logged, and the node keeps serving the current certificate.
    let (_, key) = pki.files(&srv);
    std::fs::write(&key, "not a key\n").unwrap();
    wait_log(&["TLS reload failed", &key.display().to_string(), "no PEM block found"], T);
    assert_eq!(tls.generation(), generation);
    assert_eq!(presented_serial(&probe, port, &srv), second);
    good_peer_reaches(&pki, &srv, epmd.port);

    // Fixed files are picked up again.
    let third = pki.issue(&srv).info.serial;
    common::wait_for("the poll to load the fixed files", T, || (tls.certificate().serial == third).then_some(()));
    assert_eq!(presented_serial(&probe, port, &srv), third);
}

#[test]
fn a_bundle_with_the_old_and_the_new_ca_carries_a_cluster_through_ca_rotation() {
    capture_logs();
    let epmd = OtpEpmd::start();
    let (old, new) = (Pki::new(), Pki::new());
    let srv = short("casrv");
    // The server's live files: its certificate from the old CA, and a bundle of both CAs.
    let live = tempfile::tempdir().unwrap();
    let (live_ca, live_cert, live_key) =
        (live.path().join("ca.pem"), live.path().join("node.pem"), live.path().join("node.key"));
    let write_bundle = |cas: &[&Path]| {
        let bundle: Vec<u8> = cas.iter().flat_map(|ca| std::fs::read(ca).unwrap()).collect();
        std::fs::write(live.path().join("bundle.new"), bundle).unwrap();
        std::fs::rename(live.path().join("bundle.new"), &live_ca).unwrap();
    };
    old.issue(&srv);
    let (old_cert, old_key) = old.files(&srv);
    replace_file(&old_cert, &live_cert);
    replace_file(&old_key, &live_key);
    write_bundle(&[&old.ca(), &new.ca()]);
    let tls = TlsTransport::new(TlsConfig::from_files(&live_ca, &live_cert, &live_key)).unwrap();
    let server = tls_node(&srv, epmd.port, &tls, |b| b);
    beamlink::node::services::echo::start(&server.node, "echo").unwrap();

    // During the overlap, a node from each CA gets in (each trusts the server's CA too).
    let (a_old, b_new) = (short("oldca"), short("newca"));
    old.issue(&a_old);
    new.issue(&b_new);
    let client_old = tls_client(&a_old, epmd.port, &TlsTransport::new(old.config(&a_old)).unwrap());
    let (b_cert, b_key) = new.files(&b_new);
    let client_new =
        tls_client(&b_new, epmd.port, &TlsTransport::new(TlsConfig::from_files(&live_ca, b_cert, b_key)).unwrap());
    let mut events = client_old.node.events();
    assert!(client_old.run(T, client_old.node.ping(&srv)), "old-CA node during the overlap");
    assert!(client_new.run(T, client_new.node.ping(&srv)), "new-CA node during the overlap");

    // The rotation ends: the server takes a new-CA certificate and trusts only the new CA.
    new.issue(&srv);
    let (new_cert, new_key) = new.files(&srv);
    replace_file(&new_key, &live_key);
    replace_file(&new_cert, &live_cert);
    write_bundle(&[&new.ca()]);
    let reloaded = tls.reload().unwrap();
    assert!(reloaded.issuer.contains(&CertInfo::from_file(&new.ca()).unwrap().subject.replace("CN=", "")));

    // A new connection from a new-CA node works; one from an old-CA node is refused ...
    let fresh_new = short("freshnew");
    new.issue(&fresh_new);
    let node = tls_client(&fresh_new, epmd.port, &TlsTransport::new(new.config(&fresh_new)).unwrap());
    assert!(node.run(T, node.node.ping(&srv)), "new-CA node after the rotation");
    let fresh_old = short("freshold");
    old.issue(&fresh_old);
    let both_roots = TlsConfig::from_files(&live_ca, old.files(&fresh_old).0, old.files(&fresh_old).1);
    let node = tls_client(&fresh_old, epmd.port, &TlsTransport::new(both_roots).unwrap());
    assert!(!node.run(T, node.node.ping(&srv)), "old-CA node after the rotation");
    wait_log(&[&format!("refused the client's certificate \"CN={fresh_old}\""), "is not among the trust roots"], T);
    // ... while the old-CA node's established connection keeps running.
    assert_eq!(echo(&client_old, &srv, Term::atom("still here")), Term::atom("still here"));
    no_down(&mut events, &srv);
}
