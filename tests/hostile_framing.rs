//! Hostile peers after a real handshake: bad frames, packets and control
//! messages (fault matrix rows F1, F2, F4–F10, F14). A fake node completes
//! the handshake with the right cookie, then sends crafted bytes. Each case
//! checks that the node closes that connection (with the log line naming the
//! problem), that what was sent before the bad packet was delivered and
//! nothing after it, and that the node still serves a well-behaved peer.
//!
//! F3 (paused peer) is in tests/dist_faults.rs, F11 (firewall) in
//! tests/firewall.rs; F12/F13 (large messages, back-pressure) are not
//! attacks on the decoder and live with the messaging tests.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use beamlink::node::{Limits, NodeEvent, SendError};
use beamlink::proto::control::{Control, op_name};
use beamlink::term::{Atom, Pid, Term};
use common::hostile::{FakePeer, PROMPT, Target, events_until, log, marker, send_marker};

/// The fragment header packet: `131, 69, Seq, FragId, 0` and data.
fn first_fragment(seq: u64, frag: u64, data: &[u8]) -> Vec<u8> {
    [&[131u8, 69][..], &seq.to_be_bytes(), &frag.to_be_bytes(), &[0], data].concat()
}

/// A fragment continuation packet: `131, 70, Seq, FragId` and data.
fn continuation(seq: u64, frag: u64, data: &[u8]) -> Vec<u8> {
    [&[131u8, 70][..], &seq.to_be_bytes(), &frag.to_be_bytes(), data].concat()
}

/// A SEND of `message` to `to` as a header-mode body (bare control and payload).
fn send_body(peer: &FakePeer, to: &Pid, message: &Term) -> Vec<u8> {
    let control = Term::tuple(vec![Term::from(2), Term::atom(""), Term::Pid(to.clone())]);
    [peer.term_bytes(&control), peer.term_bytes(message)].concat()
}

#[test]
fn f1_a_huge_frame_length_closes_before_any_body_arrives() {
    let target = Target::start("f1", Limits::default());
    for announced in [0xffff_ffffu32, 0xffff_fff0, (128 << 20) + 1] {
        let options = target.peer_options("huge");
        target.expect_refused(
            &options,
            &format!("frame of {announced} bytes exceeds the limit of 134217728 bytes"),
            |p| {
                p.raw.send(&announced.to_be_bytes()).unwrap();
            },
        );
    }
    // The log line names the setting that was crossed.
    log().expect(&["the peer crossed a limit", "max_frame_size"]);
    target.assert_serves_honest_peer();
}

#[test]
fn f2_empty_frames_are_ticks_and_are_answered() {
    let target = Target::start("f2", Limits::default());
    let mut peer = target.fake_peer(&target.peer_options("ticker"));
    peer.raw.send(&[0u8; 4 * 1000]).unwrap();
    send_marker(&mut peer, &target, 7);
    assert_eq!(target.receive(1, Duration::from_millis(300)), vec![marker(7)]);
    assert!(peer.count_ticks(Duration::from_millis(500)) >= 1, "the node answers ticks");
    assert!(peer.ping(PROMPT), "the connection is still up after 1000 ticks");
}

#[test]
fn f4_a_truncated_frame_then_eof_delivers_nothing_of_it() {
    let target = Target::start("f4", Limits::default());
    let options = target.peer_options("trunc");
    let mut events = target.events();
    let mut peer = target.fake_peer(&options);
    send_marker(&mut peer, &target, 1);
    let body = send_body(&peer, &target.collector, &marker(2));
    let packet = [&[131u8, 68, 0][..], &body].concat();
    let mut bytes = (packet.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&packet[..packet.len() / 2]);
    peer.raw.send(&bytes).unwrap();
    drop(peer);
    let seen = events_until(&mut events, &options.name, PROMPT * 2, |e| matches!(e, NodeEvent::Down { .. }));
    assert!(seen.iter().any(|e| matches!(e, NodeEvent::Down { .. })), "a node-down: {seen:?}");
    assert_eq!(target.receive(1, Duration::from_millis(200)), vec![marker(1)]);
    target.assert_serves_honest_peer();
}

#[test]
fn f5_bad_packet_starts_close_the_connection() {
    let target = Target::start("f5", Limits::default());
    // Header mode: a wrong header tag, a pass-through packet, a bad version byte.
    for packet in [&[131u8, 67, 0, 104, 0][..], &[112, 131, 104, 0], &[130, 68, 0, 104, 0]] {
        let options = target.peer_options("hdr");
        target.expect_refused(&options, "bad packet start", |p| p.send_packet(packet).unwrap());
    }
    // Pass-through mode: anything but 112 first, including a header.
    for packet in [&[113u8, 131, 104, 0][..], &[131, 68, 0, 104, 0]] {
        let options = target.peer_options("pt").pass_through();
        target.expect_refused(&options, "bad packet start", |p| p.send_packet(packet).unwrap());
    }
    target.assert_serves_honest_peer();
}

#[test]
fn f6_atom_cache_references_are_refused() {
    let target = Target::start("f6", Limits::default());
    // In the distribution header (header mode), and in a fragment header.
    let options = target.peer_options("cache");
    target.expect_refused(&options, "packet uses 1 atom-cache references", |p| {
        let mut packet = vec![131, 68, 1, 0x08, 0, 1, b'x'];
        packet.extend_from_slice(&p.term_bytes(&Term::tuple(vec![Term::from(2), Term::atom("")])));
        p.send_packet(&packet).unwrap();
    });
    let options = target.peer_options("fragcache");
    target.expect_refused(&options, "packet uses 2 atom-cache references", |p| {
        let mut packet = first_fragment(1, 2, &[]);
        packet[18] = 2;
        p.send_packet(&packet).unwrap();
    });
    // An ATOM_CACHE_REF term in the control message and in the payload.
    let options = target.peer_options("ctlref").pass_through();
    target.expect_refused(&options, "atom cache reference not allowed", |p| {
        let pid = p.term_bytes(&Term::Pid(target.collector.clone()));
        let body = [&[131u8, 104, 3, 97, 2, 82, 0][..], &pid[1..]].concat();
        p.send_body(&body).unwrap();
    });
    let options = target.peer_options("payref");
    target.expect_refused(&options, "atom cache reference not allowed", |p| {
        p.send_raw_payload(&target.collector.clone(), &[82, 0]).unwrap();
    });
    target.assert_serves_honest_peer();
}

#[test]
fn f7_malformed_control_tuples_close_and_deliver_nothing() {
    let target = Target::start("f7", Limits::default());
    let c = target.collector.clone();
    let pid = |n: u32| Term::Pid(Pid::new(Atom::new("x@h"), n, 0, 1));
    let to = Term::Pid(c.clone());
    let reference = Term::Ref(Box::new(target.test.node.make_ref()));
    let int = Term::from;
    let atom = Term::atom;
    let t = Term::tuple;
    let msg = Some(marker(3));
    let token = atom("trace_token");
    // (control, payload, what the log says)
    let cases: Vec<(Term, Option<Term>, &str)> = vec![
        (atom("hello"), msg.clone(), "control message is not a tuple"),
        (t(vec![]), None, "first element is not an integer"),
        (t(vec![atom("send"), atom(""), to.clone()]), msg.clone(), "first element is not an integer"),
        (t(vec![int(1), pid(1)]), None, "malformed LINK control message: missing to"),
        (t(vec![int(1), pid(1), atom("x")]), None, "malformed LINK control message: to is a"),
        (t(vec![int(1), pid(1), to.clone()]), msg.clone(), "LINK: unexpected payload term"),
        (t(vec![int(2), atom(""), atom("notapid")]), msg.clone(), "malformed SEND control message"),
        (t(vec![int(2), atom(""), to.clone()]), None, "SEND: the payload term is missing"),
        (t(vec![int(3), pid(1), to.clone()]), None, "malformed EXIT control message: missing reason"),
        (t(vec![int(6), pid(1), atom(""), int(123)]), msg.clone(), "malformed REG_SEND control message"),
        (t(vec![int(7), pid(1)]), None, "malformed GROUP_LEADER control message"),
        (
            t(vec![int(8), pid(1), to.clone(), atom("r"), atom("extra")]),
            None,
            "malformed EXIT2 control message: too many",
        ),
        (t(vec![int(19), pid(1), to.clone(), atom("notref")]), None, "malformed MONITOR_P control message"),
        (t(vec![int(20), pid(1), int(5), reference.clone()]), None, "malformed DEMONITOR_P control message"),
        (t(vec![int(21), pid(1), to.clone(), reference.clone()]), None, "malformed MONITOR_P_EXIT control message"),
        (t(vec![int(22), pid(1), atom("x")]), msg.clone(), "malformed SEND_SENDER control message"),
        (t(vec![int(24), pid(1), to.clone()]), None, "PAYLOAD_EXIT: the payload term is missing"),
        (
            t(vec![int(29), reference.clone(), pid(1), pid(2), atom("mfa"), Term::nil()]),
            Some(Term::nil()),
            "malformed SPAWN_REQUEST control message",
        ),
        (
            t(vec![int(29), reference.clone(), pid(1), pid(2), t(vec![atom("m"), atom("f"), int(300)]), Term::nil()]),
            Some(Term::nil()),
            "{M, F, A} has the wrong types",
        ),
        (
            t(vec![int(31), reference.clone(), to.clone(), int(-1), atom("x")]),
            None,
            "malformed SPAWN_REPLY control message",
        ),
        (t(vec![int(33), pid(1)]), msg.clone(), "malformed ALIAS_SEND control message: missing alias"),
        (t(vec![int(35), int(0), pid(1), to.clone()]), None, "malformed UNLINK_ID control message: id 0"),
        (t(vec![int(36), int(-5), pid(1), to.clone()]), None, "malformed UNLINK_ID_ACK control message"),
        (t(vec![int(5), atom("extra")]), None, "malformed NODE_LINK control message: too many"),
        (t(vec![int(4), pid(1), atom("x")]), None, "malformed UNLINK control message: to is a"),
        (t(vec![int(4), pid(1), to.clone()]), msg.clone(), "UNLINK: unexpected payload term"),
        // The trace-token variants: a token missing where one belongs, one where
        // none does, a wrong element or payload around it.
        (
            t(vec![int(2), atom(""), to.clone(), token.clone()]),
            msg.clone(),
            "malformed SEND control message: too many elements",
        ),
        (t(vec![int(12), atom(""), to.clone()]), msg.clone(), "malformed SEND_TT control message: missing trace token"),
        (
            t(vec![int(13), pid(1), to.clone(), token.clone()]),
            None,
            "malformed EXIT_TT control message: missing reason",
        ),
        (
            t(vec![int(16), pid(1), atom(""), atom("collector"), token.clone(), atom("extra")]),
            msg.clone(),
            "malformed REG_SEND_TT control message: too many elements",
        ),
        (
            t(vec![int(16), pid(1), atom(""), atom("collector")]),
            msg.clone(),
            "malformed REG_SEND_TT control message: missing trace token",
        ),
        (
            t(vec![int(18), pid(1), to.clone(), token.clone(), atom("r")]),
            msg.clone(),
            "EXIT2_TT: unexpected payload term",
        ),
        (
            t(vec![int(23), pid(1), to.clone()]),
            msg.clone(),
            "malformed SEND_SENDER_TT control message: missing trace token",
        ),
        (t(vec![int(25), pid(1), to.clone(), token.clone()]), None, "PAYLOAD_EXIT_TT: the payload term is missing"),
        (t(vec![int(26), pid(1), atom("x")]), Some(atom("r")), "malformed PAYLOAD_EXIT2 control message: to is a"),
        (
            t(vec![int(27), pid(1), to.clone(), token.clone(), atom("extra")]),
            Some(atom("r")),
            "malformed PAYLOAD_EXIT2_TT control message: too many elements",
        ),
        (
            t(vec![int(28), pid(1), to.clone(), reference.clone()]),
            None,
            "PAYLOAD_MONITOR_P_EXIT: the payload term is missing",
        ),
        (
            t(vec![int(28), int(5), to.clone(), reference.clone()]),
            Some(atom("r")),
            "malformed PAYLOAD_MONITOR_P_EXIT control message: target is a",
        ),
        (
            t(vec![int(30), reference.clone(), pid(1), pid(2), t(vec![atom("m"), atom("f"), int(0)]), Term::nil()]),
            Some(Term::nil()),
            "malformed SPAWN_REQUEST_TT control message: missing trace token",
        ),
        (
            t(vec![int(32), reference.clone(), to.clone(), int(0), pid(1)]),
            None,
            "malformed SPAWN_REPLY_TT control message: missing trace token",
        ),
        (
            t(vec![int(34), pid(1), reference.clone()]),
            msg.clone(),
            "malformed ALIAS_SEND_TT control message: missing trace token",
        ),
    ];
    // Every operation the decoder knows has at least one malformed case here.
    let covered: BTreeSet<i64> = cases
        .iter()
        .filter_map(|(control, _, _)| match control {
            Term::Tuple(items) => match items.first() {
                Some(Term::Int(op)) => Some(*op),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let known: BTreeSet<i64> = (-1..256).filter(|code| op_name(*code).is_some()).collect();
    let missing: Vec<_> = known.difference(&covered).collect();
    assert!(missing.is_empty(), "operations without a malformed case: {missing:?}");
    for (i, (control, payload, why)) in cases.into_iter().enumerate() {
        let options = if i % 2 == 0 { target.peer_options("ctl") } else { target.peer_options("ctl").pass_through() };
        target.expect_refused(&options, why, |p| p.send_terms(&control, payload.as_ref()).unwrap());
    }
    target.assert_serves_honest_peer();
}

#[test]
fn f8_a_malformed_payload_after_good_messages() {
    let target = Target::start("f8", Limits::default());
    let c = target.collector.clone();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A tuple of 2 with one element, a binary shorter than its length, an unknown tag.
        (vec![104, 2, 97, 1], "input ends early"),
        (vec![109, 0, 0, 0, 9, 1, 2], "length field says 9"),
        (vec![200], "unknown tag 200"),
        // A good payload followed by junk.
        (vec![97, 1, 97, 2], "bytes after the payload term"),
    ];
    for (i, (payload, why)) in cases.into_iter().enumerate() {
        let options = if i % 2 == 0 { target.peer_options("pay") } else { target.peer_options("pay").pass_through() };
        target.expect_refused(&options, why, |p| {
            let bytes = if p.format == beamlink::proto::packet::PacketFormat::PassThrough {
                [&[131u8][..], &payload].concat()
            } else {
                payload.clone()
            };
            p.send_raw_payload(&c, &bytes).unwrap();
        });
    }
    target.assert_serves_honest_peer();
}

#[test]
fn f9_fragment_protocol_violations() {
    let target =
        Target::start("f9", Limits { max_fragment_sequences: 4, max_reassembly_bytes: 64 * 1024, ..Limits::default() });
    let c = target.collector.clone();
    let opts = || target.peer_options("frag");
    let body = |p: &FakePeer| send_body(p, &c, &marker(9));
    target.expect_refused(&opts(), "continuation of unknown sequence 5", |p| {
        let b = body(p);
        p.send_packet(&continuation(5, 1, &b)).unwrap();
    });
    target.expect_refused(&opts(), "sequence 5 started twice", |p| {
        let b = body(p);
        p.send_packet(&first_fragment(5, 3, &b[..4])).unwrap();
        p.send_packet(&first_fragment(5, 3, &b[..4])).unwrap();
    });
    target.expect_refused(&opts(), "sequence 5: fragment 1 arrived, 2 expected", |p| {
        let b = body(p);
        p.send_packet(&first_fragment(5, 3, &b[..4])).unwrap();
        p.send_packet(&continuation(5, 1, &b[4..])).unwrap();
    });
    target.expect_refused(&opts(), "sequence 5 starts with fragment id 0", |p| {
        let b = body(p);
        p.send_packet(&first_fragment(5, 0, &b)).unwrap();
    });
    target.expect_refused(&opts(), "truncated fragment header", |p| p.send_packet(&[131, 69, 0, 0, 0]).unwrap());
    target.expect_refused(&opts(), "more than 4 fragment sequences open at once", |p| {
        let b = body(p);
        for seq in 1..=5 {
            p.send_packet(&first_fragment(seq, 2, &b[..4])).unwrap();
        }
    });
    target.expect_refused(&opts(), "more than 65536 bytes held in fragment reassembly", |p| {
        let chunk = vec![0u8; 40 * 1024];
        p.send_packet(&first_fragment(1, 3, &chunk)).unwrap();
        p.send_packet(&first_fragment(2, 3, &chunk)).unwrap();
    });

    // Closing in the middle of a sequence delivers nothing of it.
    let options = opts();
    let mut events = target.events();
    let mut peer = target.fake_peer(&options);
    let b = body(&peer);
    peer.send_packet(&first_fragment(8, 2, &b[..5])).unwrap();
    drop(peer);
    assert!(
        events_until(&mut events, &options.name, PROMPT * 2, |e| matches!(e, NodeEvent::Down { .. }))
            .iter()
            .any(|e| matches!(e, NodeEvent::Down { .. }))
    );
    assert!(target.drain_received(Duration::from_millis(200)).is_empty());

    // Interleaved sequences, and a sequence id used again once complete
    // (OTP reuses the sender's pid word), are fine.
    let mut peer = target.fake_peer(&opts());
    let (a, b) = (send_body(&peer, &c, &marker(10)), send_body(&peer, &c, &marker(11)));
    peer.send_packet(&first_fragment(3, 2, &a[..6])).unwrap();
    peer.send_packet(&first_fragment(4, 2, &b[..6])).unwrap();
    peer.send_packet(&continuation(4, 1, &b[6..])).unwrap();
    peer.send_packet(&continuation(3, 1, &a[6..])).unwrap();
    peer.send_packet(&first_fragment(3, 2, &b[..3])).unwrap();
    peer.send_packet(&continuation(3, 1, &b[3..])).unwrap();
    assert_eq!(target.receive(3, Duration::from_millis(300)), vec![marker(11), marker(10), marker(11)]);
    assert!(peer.ping(PROMPT));
    target.assert_serves_honest_peer();
}

#[test]
fn f10_unknown_operations_close_the_connection() {
    let target = Target::start("f10", Limits::default());
    for (op, why) in [
        (99i64, "unknown control operation 99"),
        (-1, "unknown control operation -1"),
        (9, "unknown control operation 9"),
    ] {
        let options = target.peer_options("op");
        target.expect_refused(&options, why, |p| {
            let from = Term::Pid(p.new_pid());
            p.send_terms(&Term::tuple(vec![Term::from(op), from, Term::Pid(target.collector.clone())]), None).unwrap();
        });
    }
    target.assert_serves_honest_peer();
}

#[test]
fn f14_sending_a_term_over_the_size_limit_fails_locally() {
    let target = Target::start_with("f14", |b| b.max_message_size(1 << 20));
    let mut peer = target.fake_peer(&target.peer_options("small"));
    let remote = peer.new_pid();
    let node = target.test.node.clone();
    let big = Term::binary(vec![7u8; 2 << 20]);
    let to = remote.clone();
    let result = target.test.run(PROMPT, async move { node.process().send(&to, big).await });
    assert!(matches!(result, Err(SendError::TooLarge { limit, .. }) if limit == 1 << 20), "{result:?}");
    // The connection stays up and carries the next message.
    let node = target.test.node.clone();
    let to = remote.clone();
    target.test.run(PROMPT, async move { node.process().send(&to, Term::atom("small")).await }).expect("send");
    // (The node may greet a new peer first, e.g. with a mesh hello.)
    let deadline = std::time::Instant::now() + PROMPT;
    loop {
        match peer.recv_control(deadline.saturating_duration_since(std::time::Instant::now())) {
            Some(Control::Send { to, message, .. }) if to == remote => {
                assert_eq!(message, Term::atom("small"));
                break;
            }
            Some(_) => {}
            None => panic!("the small message did not arrive"),
        }
    }
    assert!(peer.ping(PROMPT));
}
