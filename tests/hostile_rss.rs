//! Resident memory under attack: `beamlink serve` runs as a child process and
//! hostile peers try to make it hold memory (fault matrix rows F1, H8, H9,
//! T1/T2 with a "bounded" outcome). After each wave the child's resident set
//! (VmRSS) must stay within a few MiB of its size before the attack, and the
//! node must still serve a well-behaved peer.

mod common;

use std::time::Duration;

use beamlink::proto::control::Control;
use beamlink::term::Term;
use common::hostile::{Closed, FakePeer, PROMPT, ServeTarget};

/// How much the resident set may grow during a wave.
const BOUND_KIB: u64 = 8 * 1024;
/// Connections per wave.
const WAVE: usize = 16;

/// Waits (bounded) until the node is done with a wave: it holds exactly
/// `held` connections, accepted and with everything sent on them read (and
/// nothing of ours unacknowledged), and has let go of every peer that left.
/// Only then does its resident set show what the wave made it keep. The
/// fixed pauses before the calls stay, so no wave is measured sooner than
/// it used to be.
fn settled(target: &ServeTarget, held: usize, wave: &str) {
    let port = target.addr.port();
    let done = |sockets: &[common::TcpSocket]| {
        let ends: Vec<_> = sockets.iter().filter(|s| s.local_port == port).collect();
        let live = ends.iter().filter(|s| s.state == common::TCP_ESTABLISHED).count();
        let ready = ends.iter().all(|s| match s.state {
            common::TCP_ESTABLISHED => s.inode != 0 && s.rx_queue == 0,
            common::TCP_CLOSE_WAIT => false,
            _ => true,
        });
        let sent = sockets.iter().filter(|s| s.remote_port == port).all(|s| s.tx_queue == 0);
        live == held && ready && sent
    };
    let deadline = std::time::Instant::now() + PROMPT * 3;
    loop {
        let sockets = common::tcp_sockets();
        if done(&sockets) {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let related: Vec<_> = sockets.iter().filter(|s| s.local_port == port || s.remote_port == port).collect();
            panic!("{wave}: the node did not settle with {held} connections within {:?}: {related:#?}", PROMPT * 3);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the child's RSS against the baseline; returns the growth in KiB.
fn check_rss(target: &ServeTarget, baseline: u64, wave: &str) -> u64 {
    let now = target.rss_kib();
    let growth = now.saturating_sub(baseline);
    eprintln!("{wave}: VmRSS {now} KiB ({growth} KiB over the baseline of {baseline} KiB)");
    assert!(growth <= BOUND_KIB, "{wave}: resident memory grew by {growth} KiB (bound {BOUND_KIB} KiB)");
    growth
}

#[test]
fn hostile_peers_cannot_make_the_node_hold_memory() {
    let target = ServeTarget::start("rss", &[]);
    // Warm up: a real peer and a fake one, so lazily built state exists before the baseline.
    target.assert_serves_honest_peer();
    let mut warm = target.fake_peer("warm");
    assert!(warm.ping(PROMPT));
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    settled(&target, 0, "warm-up");
    let baseline = target.rss_kib();

    // F1: frames announced far over the limit, then a trickle. Closed at once.
    for _ in 0..WAVE {
        let mut peer = target.fake_peer("huge");
        peer.raw.send(&0xffff_fff0u32.to_be_bytes()).unwrap();
        let _ = peer.raw.send(&[0u8; 4096]);
        peer.raw.expect_closed(PROMPT, "a 0xFFFFFFF0-byte frame");
    }
    settled(&target, 0, "F1 frames over the limit");
    check_rss(&target, baseline, "F1 frames over the limit");

    // F1 under the limit: 100 MiB announced (the default limit is 128 MiB),
    // 64 KiB trickled, connections kept open. The node holds what arrived,
    // not what was announced.
    let mut open: Vec<FakePeer> = Vec::new();
    for _ in 0..WAVE {
        let mut peer = target.fake_peer("trickle");
        peer.raw.send(&(100u32 << 20).to_be_bytes()).unwrap();
        open.push(peer);
    }
    for _ in 0..16 {
        for peer in &mut open {
            peer.raw.send(&[0u8; 4096]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    settled(&target, WAVE, "F1 100 MiB frames announced and trickled");
    check_rss(&target, baseline, "F1 100 MiB frames announced and trickled");
    for peer in &mut open {
        assert_eq!(
            peer.raw.wait_closed(Duration::from_millis(10)),
            Closed::StillOpen,
            "a frame under the limit is not an error"
        );
    }
    drop(open);

    // H8: a handshake frame announced at 65535 bytes. H9: connections that
    // never finish the handshake (fewer than the pending cap of 64), from six
    // addresses, since one address may hold only 8 of them.
    for _ in 0..WAVE {
        let mut raw = common::hostile::Carrier::tcp().connect(target.addr);
        raw.send(&[0xff, 0xff, b'N', 0, 0]).unwrap();
        raw.expect_closed(PROMPT, "a 65535-byte handshake frame");
    }
    let per_address = beamlink::node::Limits::default().max_pending_handshakes_per_address;
    let silent: Vec<_> = (0..48)
        .map(|i| {
            let source = std::net::IpAddr::from([127, 0, 0, 11 + (i / per_address) as u8]);
            common::hostile::Carrier::tcp_from(source).connect(target.addr)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    settled(&target, silent.len(), "H8/H9 bad and silent handshakes");
    check_rss(&target, baseline, "H8/H9 bad and silent handshakes");
    drop(silent);

    // T1/T2: counts and lengths of 4 GiB with tiny bodies, inside SEND payloads.
    let payloads: [&[u8]; 4] = [
        &[108, 0xff, 0xff, 0xff, 0xff, 106],
        &[105, 0xff, 0xff, 0xff, 0xff, 97, 1],
        &[109, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3],
        &[116, 0xff, 0xff, 0xff, 0xff],
    ];
    for i in 0..WAVE {
        let mut peer = target.fake_peer("terms");
        let to = peer.new_pid();
        peer.send_raw_payload(&to, payloads[i % payloads.len()]).unwrap();
        peer.raw.expect_closed(PROMPT, "a payload with a 4 GiB count");
    }
    settled(&target, 0, "T1/T2 huge counts");
    check_rss(&target, baseline, "T1/T2 huge counts");

    // Atoms: a connection fills part of its atom budget, then leaves; the
    // atoms go with it.
    let mut peer = target.fake_peer("atoms");
    let to = peer.new_pid();
    for batch in 0..20 {
        let atoms: Vec<Term> = (0..1000).map(|i| Term::atom(&format!("flood_{batch}_{i}"))).collect();
        peer.send_control(&Control::Send { from: None, to: to.clone(), message: Term::list(atoms) }).unwrap();
    }
    assert!(peer.ping(PROMPT), "20,000 atoms are within the default budget");
    drop(peer);
    std::thread::sleep(Duration::from_millis(300));
    settled(&target, 0, "20,000 atoms from a departed peer");
    check_rss(&target, baseline, "20,000 atoms from a departed peer");

    target.assert_serves_honest_peer();
}
