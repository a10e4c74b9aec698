//! The initiating side of the handshake, fed by a hostile acceptor: any
//! sequence of messages (raw bytes, or well-formed messages with fuzzed
//! fields, including correct and wrong digests computed from what the
//! initiator actually sent). It must never panic, and it may only report the
//! connection established when the acceptor proved it knows the cookie: the
//! ack it accepted is the digest of the challenge it issued, and it answered
//! a challenge that came from the dialled name with the right digest itself.
//!
//! Input: a sequence of operations, each a tag byte and its fields (see `Op`).
#![no_main]

#[path = "shared/input.rs"]
mod input;

use std::sync::Arc;

use beamlink::proto::handshake::digest;
use beamlink::proto::handshake::messages::{Challenge, ChallengeAck, ChallengeReply, SendName, Status};
use beamlink::proto::handshake::{
    AcceptDecision, Acceptor, AcceptorEvent, HandshakeConfig, HandshakeError, Initiator, InitiatorEvent,
};
use beamlink::proto::{DistFlags, NodeName};
use input::Input;
use libfuzzer_sys::fuzz_target;

const COOKIE: &[u8] = b"fuzz-cookie";
const PEER: &str = "peer@host";

/// Flags for a fuzzed challenge: mostly valid sets, sometimes raw bits.
fn flags(input: &mut Input) -> DistFlags {
    match input.u8() % 4 {
        0 => DistFlags::DEFAULT,
        1 => DistFlags::MANDATORY_25_DIGEST | DistFlags::V4_NC | DistFlags::UNLINK_ID,
        2 => DistFlags::from_bits(DistFlags::DEFAULT.bits() ^ (1 << (input.u8() % 64))),
        _ => DistFlags::from_bits(input.u64()),
    }
}

fn status(input: &mut Input) -> Vec<u8> {
    match input.u8() % 8 {
        0 => Status::Ok.encode(),
        1 => Status::OkSimultaneous.encode(),
        2 => Status::Nok.encode(),
        3 => Status::NotAllowed.encode(),
        4 => Status::Alive.encode(),
        5 => Status::Named { name: input.short_chunk().to_vec(), creation: input.u32() }.encode(),
        _ => {
            let mut m = vec![b's'];
            m.extend_from_slice(input.short_chunk());
            m
        }
    }
}

#[derive(Default)]
struct Seen {
    /// The challenge the acceptor issued in the last well-formed challenge handled.
    peer_challenge: Option<u32>,
    /// The challenge the initiator sent in its challenge_reply.
    our_challenge: Option<u32>,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let config = Arc::new(HandshakeConfig::new(NodeName::new("fuzz@host").unwrap(), 7, COOKIE.to_vec()));
    let dialled = NodeName::new(PEER).unwrap();
    let mut hs = Initiator::new(config.clone(), dialled.clone());
    // An acceptor of the same node, so a challenge it has outstanding can be reflected.
    let mut sibling = Acceptor::new(config.clone());
    let mut sibling_issued: Option<u32> = None;
    let mut seen = Seen::default();
    let mut established = false;

    // The initiator's first message is its name.
    let first = hs.poll_transmit().expect("send_name is ready at once");
    let sent = SendName::decode(&first).expect("our send_name decodes");
    assert_eq!(sent.name, b"fuzz@host");
    assert!(hs.poll_transmit().is_none());

    for _ in 0..32 {
        if input.is_empty() {
            break;
        }
        let msg: Vec<u8> = match input.u8() % 9 {
            0 => input.chunk().to_vec(),
            1 => status(&mut input),
            2 | 3 => {
                let (flags, challenge, creation) = (flags(&mut input), input.u32(), input.u32());
                let name = match input.u8() % 4 {
                    0 | 1 => PEER.as_bytes().to_vec(),
                    2 => b"Peer@host".to_vec(),
                    _ => input.short_chunk().to_vec(),
                };
                Challenge { flags, challenge, creation, name }.encode()
            }
            4 => {
                // The correct answer to the initiator's challenge, if it sent one.
                let challenge = seen.our_challenge.unwrap_or(0);
                ChallengeAck { digest: digest::digest(challenge, COOKIE) }.encode()
            }
            5 => {
                let mut d = [0u8; 16];
                let got = input.bytes(16);
                d[..got.len()].copy_from_slice(got);
                ChallengeAck { digest: d }.encode()
            }
            6 => {
                // Reflection: a challenge our own acceptor has outstanding.
                if sibling_issued.is_none() {
                    let hello = SendName { flags: DistFlags::DEFAULT, creation: 3, name: b"other@host".to_vec() };
                    if let Ok(AcceptorEvent::Decide(_)) = sibling.handle(&hello.encode()) {
                        let _ = sibling.decide(AcceptDecision::Accept);
                    }
                    while let Some(m) = sibling.poll_transmit() {
                        if let Ok(c) = Challenge::decode(&m) {
                            sibling_issued = Some(c.challenge);
                        }
                    }
                }
                let Some(issued) = sibling_issued else { continue };
                let c = Challenge {
                    flags: DistFlags::DEFAULT,
                    challenge: issued,
                    creation: 5,
                    name: PEER.as_bytes().to_vec(),
                };
                let result = hs.handle(&c.encode());
                assert!(result.is_err(), "a reflected challenge was accepted: {result:?}");
                assert!(hs.poll_transmit().is_none(), "a reply went out to a reflected challenge");
                continue;
            }
            7 => {
                let proceed = input.u8() & 1 == 1;
                let _ = hs.answer_alive(proceed);
                while let Some(m) = hs.poll_transmit() {
                    assert!(m == b"strue" || m == b"sfalse", "unexpected message {m:?}");
                }
                continue;
            }
            _ => {
                let reply = ChallengeReply { challenge: input.u32(), digest: [0; 16] };
                reply.encode()
            }
        };

        let challenge_in = Challenge::decode(&msg).ok();
        let result = hs.handle(&msg);
        if let (Ok(_), Some(c)) = (&result, &challenge_in) {
            seen.peer_challenge = Some(c.challenge);
        }
        while let Some(out) = hs.poll_transmit() {
            if out.first() == Some(&b'r') {
                let reply = ChallengeReply::decode(&out).expect("our challenge_reply decodes");
                let answered = seen.peer_challenge.expect("a reply answers a challenge that was accepted");
                assert_eq!(reply.digest, digest::digest(answered, COOKIE), "our answer is the cookie digest");
                seen.our_challenge = Some(reply.challenge);
            } else {
                assert!(out == b"strue" || out == b"sfalse", "unexpected message {out:?}");
            }
        }
        match result {
            Ok(InitiatorEvent::Established(est)) => {
                assert!(!established, "established twice");
                established = true;
                let ours = seen.our_challenge.expect("established without sending a challenge");
                let ack = ChallengeAck::decode(&msg).expect("established on a message that is not an ack");
                assert_eq!(ack.digest, digest::digest(ours, COOKIE), "established with a wrong digest");
                assert_eq!(est.peer, dialled);
                assert_ne!(est.peer_creation, 0);
                assert!(est.peer_flags.contains(config.required), "peer lacks required flags");
                assert_eq!(est.flags, config.flags & est.peer_flags);
            }
            Ok(InitiatorEvent::AliveQuestion) | Ok(InitiatorEvent::Continue) => {}
            Err(e) => {
                let _ = e.to_string();
                if matches!(e, HandshakeError::BadCookie { .. }) {
                    let ack = ChallengeAck::decode(&msg).expect("a cookie error comes from an ack");
                    let ours = seen.our_challenge.expect("a cookie error after our challenge");
                    assert_ne!(ack.digest, digest::digest(ours, COOKIE), "a correct digest was refused");
                }
            }
        }
    }
});
