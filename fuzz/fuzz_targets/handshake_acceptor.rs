//! The accepting side of the handshake, fed by a hostile initiator: any
//! sequence of messages (raw bytes, or well-formed messages with fuzzed
//! fields, including correct and wrong digests computed from the challenge
//! the acceptor actually issued) and node decisions. It must never panic, and
//! it may only report the connection established when the initiator proved
//! it knows the cookie, did not reflect the acceptor's own challenge, has the
//! required flags and a non-zero creation; the ack it then queues must be the
//! digest of the initiator's challenge.
//!
//! Input: a sequence of operations, each a tag byte and its fields.
#![no_main]

#[path = "shared/input.rs"]
mod input;

use std::sync::Arc;

use beamlink::proto::handshake::digest;
use beamlink::proto::handshake::messages::{
    Challenge, ChallengeAck, ChallengeReply, Complement, SendName, SendNameV5, Status,
};
use beamlink::proto::handshake::{AcceptDecision, Acceptor, AcceptorEvent, HandshakeConfig, HandshakeError};
use beamlink::proto::{DistFlags, NodeName};
use input::Input;
use libfuzzer_sys::fuzz_target;

const COOKIE: &[u8] = b"fuzz-cookie";

fn flags(input: &mut Input) -> DistFlags {
    match input.u8() % 4 {
        0 => DistFlags::DEFAULT,
        1 => DistFlags::MANDATORY_25_DIGEST | DistFlags::V4_NC | DistFlags::UNLINK_ID,
        2 => DistFlags::from_bits(DistFlags::DEFAULT.bits() ^ (1 << (input.u8() % 64))),
        _ => DistFlags::from_bits(input.u64()),
    }
}

fn name(input: &mut Input) -> Vec<u8> {
    match input.u8() % 4 {
        0 | 1 => b"peer@host".to_vec(),
        2 => b"fuzz@host".to_vec(),
        _ => input.short_chunk().to_vec(),
    }
}

fn decision(input: &mut Input) -> AcceptDecision {
    match input.u8() % 5 {
        0 => AcceptDecision::Accept,
        1 => AcceptDecision::AcceptSimultaneous,
        2 => AcceptDecision::Reject,
        3 => AcceptDecision::NotAllowed,
        _ => AcceptDecision::Alive,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let config = Arc::new(HandshakeConfig::new(NodeName::new("fuzz@host").unwrap(), 7, COOKIE.to_vec()));
    let mut hs = Acceptor::new(config.clone());
    // The challenge the acceptor issued, read from what it sent.
    let mut issued: Option<u32> = None;
    // The decision the node gave.
    let mut decided: Option<AcceptDecision> = None;
    let mut established = false;

    for _ in 0..32 {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % 10;
        let msg: Vec<u8> = match op {
            0 => input.chunk().to_vec(),
            1 | 2 => SendName { flags: flags(&mut input), creation: input.u32(), name: name(&mut input) }.encode(),
            3 => {
                let low = DistFlags::from_bits(flags(&mut input).bits() & 0xffff_ffff);
                SendNameV5 { flags: low, name: name(&mut input) }.encode()
            }
            4 => {
                let high = DistFlags::from_bits(flags(&mut input).bits() & !0xffff_ffff);
                Complement { flags_high: high, creation: input.u32() }.encode()
            }
            5 => {
                let d = decision(&mut input);
                match hs.decide(d) {
                    Err(HandshakeError::OutOfTurn(_)) => {}
                    _ => decided = Some(d),
                }
                drain(&mut hs, &mut issued, None);
                continue;
            }
            6 => match input.u8() % 3 {
                0 => b"strue".to_vec(),
                1 => b"sfalse".to_vec(),
                _ => {
                    let mut m = vec![b's'];
                    m.extend_from_slice(input.short_chunk());
                    m
                }
            },
            7 => {
                // A correct answer to the issued challenge, with a fuzzed challenge of its own.
                let d = digest::digest(issued.unwrap_or(0), COOKIE);
                ChallengeReply { challenge: input.u32(), digest: d }.encode()
            }
            8 => {
                // The acceptor's own challenge reflected, answered correctly.
                let own = issued.unwrap_or(0);
                ChallengeReply { challenge: own, digest: digest::digest(own, COOKIE) }.encode()
            }
            _ => {
                let mut d = [0u8; 16];
                let got = input.bytes(16);
                d[..got.len()].copy_from_slice(got);
                ChallengeReply { challenge: input.u32(), digest: d }.encode()
            }
        };

        let result = hs.handle(&msg);
        let reply = ChallengeReply::decode(&msg).ok();
        drain(&mut hs, &mut issued, reply.as_ref().filter(|_| matches!(result, Ok(AcceptorEvent::Established(_)))));
        match result {
            Ok(AcceptorEvent::Established(est)) => {
                assert!(!established, "established twice");
                established = true;
                let reply = reply.expect("established on a message that is not a challenge_reply");
                let issued = issued.expect("established without issuing a challenge");
                assert_eq!(reply.digest, digest::digest(issued, COOKIE), "established with a wrong digest");
                assert_ne!(reply.challenge, issued, "established on a reflected challenge");
                assert!(
                    matches!(
                        decided,
                        Some(AcceptDecision::Accept | AcceptDecision::AcceptSimultaneous | AcceptDecision::Alive)
                    ),
                    "established after deciding {decided:?}"
                );
                assert_ne!(est.peer_creation, 0);
                assert!(est.peer_flags.contains(config.required), "peer lacks required flags");
                assert_eq!(est.flags, config.flags & est.peer_flags);
            }
            Ok(AcceptorEvent::Decide(hello)) => {
                assert!(hello.flags.contains(DistFlags::from_bits(config.required.bits() & 0xffff_ffff)));
                let _ = hello.name.host();
            }
            Ok(AcceptorEvent::Continue) => {}
            Err(e) => {
                let _ = e.to_string();
                if let HandshakeError::BadCookie { .. } = e {
                    let reply = reply.expect("a cookie error comes from a challenge_reply");
                    assert_ne!(
                        Some(reply.digest),
                        issued.map(|c| digest::digest(c, COOKIE)),
                        "a correct digest was refused"
                    );
                }
            }
        }
    }
});

/// Drains the acceptor's outbox, checking each message. `established_on` is
/// the reply that completed the handshake, whose ack must be queued.
fn drain(hs: &mut Acceptor, issued: &mut Option<u32>, established_on: Option<&ChallengeReply>) {
    let mut acked = false;
    while let Some(out) = hs.poll_transmit() {
        match out.first() {
            Some(b's') => {
                Status::decode(&out).expect("our status decodes");
            }
            Some(b'N') => {
                let c = Challenge::decode(&out).expect("our challenge decodes");
                assert_eq!(c.name, b"fuzz@host");
                assert!(issued.is_none(), "a second challenge was issued");
                *issued = Some(c.challenge);
            }
            Some(b'a') => {
                let ack = ChallengeAck::decode(&out).expect("our ack decodes");
                let reply = established_on.expect("an ack went out without the handshake completing");
                assert_eq!(ack.digest, digest::digest(reply.challenge, COOKIE), "our ack is the cookie digest");
                acked = true;
            }
            _ => panic!("unexpected message {out:?}"),
        }
    }
    assert_eq!(acked, established_on.is_some(), "the handshake completed without an ack");
}
