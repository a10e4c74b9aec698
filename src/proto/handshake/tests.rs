//! State-machine tests on an in-memory pair: no sockets.

use std::sync::Arc;

use super::messages::*;
use super::*;

fn config(name: &str, cookie: &str) -> Arc<HandshakeConfig> {
    Arc::new(HandshakeConfig::new(NodeName::new(name).unwrap(), 42, cookie.as_bytes().to_vec()))
}

fn name(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

/// Runs a handshake between the two configs, the acceptor answering `decision`.
fn run(
    a: Arc<HandshakeConfig>,
    b: Arc<HandshakeConfig>,
    decision: AcceptDecision,
) -> (Option<Result<Established, HandshakeError>>, Result<Established, HandshakeError>) {
    let mut init = Initiator::new(a, b.name.clone());
    let mut acc = Acceptor::new(b);
    let mut a_result = None;
    let mut b_result = None;
    for _ in 0..10 {
        while let Some(msg) = init.poll_transmit() {
            if b_result.is_some() {
                break;
            }
            match acc.handle(&msg) {
                Ok(AcceptorEvent::Decide(_)) => {
                    if let Err(e) = acc.decide(decision) {
                        b_result = Some(Err(e));
                    }
                }
                Ok(AcceptorEvent::Established(e)) => b_result = Some(Ok(e)),
                Ok(AcceptorEvent::Continue) => {}
                Err(e) => b_result = Some(Err(e)),
            }
        }
        while let Some(msg) = acc.poll_transmit() {
            if a_result.is_some() {
                break;
            }
            match init.handle(&msg) {
                Ok(InitiatorEvent::Established(e)) => a_result = Some(Ok(e)),
                Ok(InitiatorEvent::AliveQuestion) => {
                    if let Err(e) = init.answer_alive(true) {
                        a_result = Some(Err(e));
                    }
                }
                Ok(InitiatorEvent::Continue) => {}
                Err(e) => a_result = Some(Err(e)),
            }
        }
        if a_result.is_some() && b_result.is_some() {
            break;
        }
    }
    (a_result, b_result.expect("acceptor finished"))
}

#[test]
fn successful_handshake_both_sides() {
    let (a, b) = run(config("a@h", "c"), config("b@h", "c"), AcceptDecision::Accept);
    let (a, b) = (a.unwrap().unwrap(), b.unwrap());
    assert_eq!(a.peer, name("b@h"));
    assert_eq!(b.peer, name("a@h"));
    assert_eq!(a.peer_creation, 42);
    assert_eq!(a.flags, b.flags);
    assert!(a.flags.contains(DistFlags::MANDATORY | DistFlags::SPAWN | DistFlags::FRAGMENTS));
    assert!(a.peer_hidden());
}

#[test]
fn wrong_cookie_fails_on_the_acceptor_and_the_initiator_gets_nothing() {
    let (a, b) = run(config("a@h", "one"), config("b@h", "two"), AcceptDecision::Accept);
    assert_eq!(b.unwrap_err(), HandshakeError::BadCookie { peer: "a@h".into() });
    // The acceptor stops before sending its ack: the initiator is left waiting
    // (its driver's setup timeout ends it, as in OTP).
    assert!(a.is_none());
}

#[test]
fn wrong_ack_digest_fails_on_the_initiator() {
    let b = config("b@h", "c");
    let mut init = Initiator::new(config("a@h", "c"), b.name.clone());
    init.poll_transmit().unwrap();
    init.handle(&Status::Ok.encode()).unwrap();
    let ch = Challenge { flags: DistFlags::DEFAULT, challenge: 5, creation: 1, name: b"b@h".to_vec() };
    init.handle(&ch.encode()).unwrap();
    init.poll_transmit().unwrap();
    let err = init.handle(&ChallengeAck { digest: [0; 16] }.encode()).unwrap_err();
    assert_eq!(err, HandshakeError::BadCookie { peer: "b@h".into() });
}

#[test]
fn missing_flags_are_named_and_refused_with_not_allowed() {
    let mut old = HandshakeConfig::new(name("old@h"), 1, b"c".to_vec());
    old.flags = DistFlags::MANDATORY_25; // an OTP 25-era peer without V4_NC/UNLINK_ID
    let mut acc = Acceptor::new(config("b@h", "c"));
    let msg = SendName { flags: old.flags, creation: 1, name: b"old@h".to_vec() }.encode();
    let err = acc.handle(&msg).unwrap_err();
    assert_eq!(err.to_string(), "peer old@h lacks required distribution capabilities: UNLINK_ID, V4_NC");
    assert_eq!(acc.poll_transmit().unwrap(), b"snot_allowed");

    // The initiator checks the acceptor's flags too.
    let mut init = Initiator::new(config("a@h", "c"), name("old@h"));
    init.poll_transmit();
    init.handle(b"sok").unwrap();
    let ch = Challenge { flags: DistFlags::MANDATORY_25, challenge: 1, creation: 1, name: b"old@h".to_vec() };
    assert!(matches!(init.handle(&ch.encode()), Err(HandshakeError::MissingFlags { .. })));
}

#[test]
fn the_digest_flag_stands_for_the_25_set() {
    let mut acc = Acceptor::new(config("b@h", "c"));
    let flags = DistFlags::MANDATORY_25_DIGEST | DistFlags::V4_NC | DistFlags::UNLINK_ID;
    let msg = SendName { flags, creation: 1, name: b"a@h".to_vec() }.encode();
    assert!(matches!(acc.handle(&msg), Ok(AcceptorEvent::Decide(_))));
}

#[test]
fn challenge_name_must_be_the_dialled_name() {
    let mut init = Initiator::new(config("a@h", "c"), name("b@h"));
    init.poll_transmit();
    init.handle(b"sok").unwrap();
    let ch = Challenge { flags: DistFlags::DEFAULT, challenge: 1, creation: 1, name: b"B@h".to_vec() };
    assert!(matches!(init.handle(&ch.encode()), Err(HandshakeError::NameMismatch { .. })));
}

#[test]
fn simultaneous_connect_follows_name_order() {
    assert_eq!(AcceptDecision::for_simultaneous(&name("b@h"), &name("a@h")), AcceptDecision::Reject);
    assert_eq!(AcceptDecision::for_simultaneous(&name("a@h"), &name("b@h")), AcceptDecision::AcceptSimultaneous);

    let (a, b) = run(config("a@h", "c"), config("b@h", "c"), AcceptDecision::AcceptSimultaneous);
    assert!(a.unwrap().is_ok() && b.is_ok());
    let (a, b) = run(config("a@h", "c"), config("b@h", "c"), AcceptDecision::Reject);
    assert_eq!(a.unwrap().unwrap_err(), HandshakeError::Nok { peer: name("b@h") });
    assert_eq!(b.unwrap_err(), HandshakeError::Nok { peer: name("a@h") });
}

#[test]
fn alive_then_true_completes_and_false_ends() {
    let (a, b) = run(config("a@h", "c"), config("b@h", "c"), AcceptDecision::Alive);
    assert!(a.unwrap().is_ok() && b.is_ok());

    let mut init = Initiator::new(config("a@h", "c"), name("b@h"));
    init.poll_transmit();
    assert_eq!(init.handle(b"salive").unwrap(), InitiatorEvent::AliveQuestion);
    assert!(init.answer_alive(false).is_err());
    assert_eq!(init.poll_transmit().unwrap(), b"sfalse");

    let mut acc = Acceptor::new(config("b@h", "c"));
    acc.handle(&SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@h".to_vec() }.encode()).unwrap();
    acc.decide(AcceptDecision::Alive).unwrap();
    assert_eq!(acc.poll_transmit().unwrap(), b"salive");
    assert_eq!(acc.handle(b"sfalse").unwrap_err(), HandshakeError::PeerKeepsOld { peer: name("a@h") });
}

#[test]
fn not_allowed_status_ends_the_initiator() {
    let mut init = Initiator::new(config("a@h", "c"), name("b@h"));
    init.poll_transmit();
    assert_eq!(init.handle(b"snot_allowed").unwrap_err(), HandshakeError::NotAllowed { peer: name("b@h") });
}

#[test]
fn out_of_order_messages_are_refused() {
    // H7: a challenge_reply before send_name, an ack twice, anything after the end.
    let mut acc = Acceptor::new(config("b@h", "c"));
    assert!(matches!(
        acc.handle(&ChallengeReply { challenge: 1, digest: [0; 16] }.encode()),
        Err(HandshakeError::Unexpected { .. })
    ));
    let mut acc = Acceptor::new(config("b@h", "c"));
    acc.handle(&SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@h".to_vec() }.encode()).unwrap();
    assert!(matches!(acc.handle(b"sok"), Err(HandshakeError::OutOfTurn(_))));

    let mut init = Initiator::new(config("a@h", "c"), name("b@h"));
    assert!(matches!(init.handle(&ChallengeAck { digest: [0; 16] }.encode()), Err(HandshakeError::Unexpected { .. })));
    assert!(matches!(init.handle(b"sok"), Err(HandshakeError::OutOfTurn(_))));
}

#[test]
fn invalid_names_are_refused() {
    for bad in [&b"noat"[..], b"a@b@c", b"@h", b"a@", b"\xff@h", b"a b@h"] {
        let mut acc = Acceptor::new(config("b@h", "c"));
        let msg = SendName { flags: DistFlags::DEFAULT, creation: 1, name: bad.to_vec() }.encode();
        assert!(acc.handle(&msg).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    let mut acc = Acceptor::new(config("b@h", "c"));
    let msg = SendName { flags: DistFlags::DEFAULT, creation: 1, name: vec![b'a'; 300] }.encode();
    assert!(acc.handle(&msg).is_err());
}

#[test]
fn reflected_challenges_are_refused() {
    // H12: the acceptor refuses a reply that carries its own challenge back.
    let b = config("b@h", "c");
    let mut acc = Acceptor::new(b.clone());
    acc.handle(&SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@h".to_vec() }.encode()).unwrap();
    acc.decide(AcceptDecision::Accept).unwrap();
    acc.poll_transmit().unwrap();
    let ch = Challenge::decode(&acc.poll_transmit().unwrap()).unwrap();
    let reply = ChallengeReply { challenge: ch.challenge, digest: digest::digest(ch.challenge, b"c") };
    assert_eq!(acc.handle(&reply.encode()).unwrap_err(), HandshakeError::ReflectedChallenge { peer: "a@h".into() });

    // An initiator of the same node refuses to answer a challenge its acceptor has outstanding.
    let mut acc = Acceptor::new(b.clone());
    acc.handle(&SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@h".to_vec() }.encode()).unwrap();
    acc.decide(AcceptDecision::Accept).unwrap();
    acc.poll_transmit().unwrap();
    let issued = Challenge::decode(&acc.poll_transmit().unwrap()).unwrap().challenge;
    let mut init = Initiator::new(b.clone(), name("evil@h"));
    init.poll_transmit();
    init.handle(b"sok").unwrap();
    let evil = Challenge { flags: DistFlags::DEFAULT, challenge: issued, creation: 1, name: b"evil@h".to_vec() };
    assert!(matches!(init.handle(&evil.encode()), Err(HandshakeError::ReflectedChallenge { .. })));
    drop(acc);
    assert!(!b.outstanding.contains(issued), "a finished acceptor forgets its challenge");
}

#[test]
fn legacy_v5_name_with_complement_is_accepted() {
    let mut acc = Acceptor::new(config("b@h", "c"));
    let low = DistFlags::from_bits(DistFlags::DEFAULT.bits() & 0xffff_ffff);
    acc.handle(&SendNameV5 { flags: low, name: b"a@h".to_vec() }.encode()).unwrap();
    acc.decide(AcceptDecision::Accept).unwrap();
    assert_eq!(acc.poll_transmit().unwrap(), b"sok");
    let ch = Challenge::decode(&acc.poll_transmit().unwrap()).unwrap();
    let high = DistFlags::from_bits(DistFlags::DEFAULT.bits() & !0xffff_ffff);
    acc.handle(&Complement { flags_high: high, creation: 9 }.encode()).unwrap();
    let reply = ChallengeReply { challenge: 77, digest: digest::digest(ch.challenge, b"c") };
    let AcceptorEvent::Established(est) = acc.handle(&reply.encode()).unwrap() else { panic!("not established") };
    assert_eq!(est.peer_creation, 9);
    assert!(est.flags.contains(DistFlags::V4_NC));
}

#[test]
fn zero_creation_is_refused() {
    let mut acc = Acceptor::new(config("b@h", "c"));
    let msg = SendName { flags: DistFlags::DEFAULT, creation: 0, name: b"a@h".to_vec() }.encode();
    assert!(matches!(acc.handle(&msg), Err(HandshakeError::ZeroCreation { .. })));
}

#[test]
fn challenges_on_the_wire_do_not_repeat() {
    // H3: the challenges the state machines actually send, not the random
    // source alone. 10,000 draws from 2^32 collide with probability ~1%;
    // two collisions (probability ~0.005%) would mean a weak source.
    const ROUNDS: usize = 10_000;
    let acceptor_config = config("b@h", "c");
    let mut issued = std::collections::HashSet::new();
    for _ in 0..ROUNDS {
        let mut acc = Acceptor::new(acceptor_config.clone());
        acc.handle(&SendName { flags: DistFlags::DEFAULT, creation: 1, name: b"a@h".to_vec() }.encode()).unwrap();
        acc.decide(AcceptDecision::Accept).unwrap();
        assert_eq!(acc.poll_transmit().unwrap(), b"sok");
        issued.insert(Challenge::decode(&acc.poll_transmit().unwrap()).unwrap().challenge);
    }
    assert!(issued.len() >= ROUNDS - 1, "the acceptor sent only {} distinct challenges in {ROUNDS}", issued.len());

    let initiator_config = config("a@h", "c");
    let theirs = Challenge { flags: DistFlags::DEFAULT, challenge: 5, creation: 1, name: b"b@h".to_vec() }.encode();
    let mut sent = std::collections::HashSet::new();
    for _ in 0..ROUNDS {
        let mut init = Initiator::new(initiator_config.clone(), name("b@h"));
        init.poll_transmit().unwrap();
        init.handle(b"sok").unwrap();
        init.handle(&theirs).unwrap();
        sent.insert(ChallengeReply::decode(&init.poll_transmit().unwrap()).unwrap().challenge);
    }
    assert!(sent.len() >= ROUNDS - 1, "the initiator sent only {} distinct challenges in {ROUNDS}", sent.len());
}

#[test]
fn debug_output_never_shows_the_cookie() {
    let config = HandshakeConfig::new("a@h".parse().unwrap(), 1, b"sup3r-secret".to_vec());
    let shown = format!("{config:?}");
    assert!(!shown.contains("sup3r-secret") && shown.contains("<redacted>"), "{shown}");
}
