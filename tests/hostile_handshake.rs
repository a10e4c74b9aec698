//! Hostile peers during the distribution handshake (fault matrix rows H1,
//! H2, H5–H9, H11). Each case checks the node's answer (a status, a close
//! within a bound, the log line naming the problem) and that the node still
//! serves a well-behaved peer. The tables for H5–H8 and H11 run twice: over
//! raw TCP sockets (2-byte handshake framing) and inside mutual TLS (4-byte
//! framing), each time against a node in this process.
//!
//! Covered elsewhere: H2 over TLS (certificate failures) in
//! tests/tls_hostile.rs, the cookie back-off lifting in tests/firewall.rs,
//! H3/H12 as unit tests of the handshake state machine, H4 in
//! tests/layering.rs, H9 over TLS in tests/tls_refusals.rs, H10
//! (simultaneous connect) in tests/cluster.rs and tests/tls_simultaneous.rs.

mod common;
mod tls_fixtures;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use beamlink::node::{Limits, NodeEvent};
use beamlink::pki::VerifyName;
use beamlink::proto::DistFlags;
use beamlink::proto::frame::LengthPrefix;
use beamlink::proto::handshake::digest;
use beamlink::proto::handshake::messages::{Challenge, ChallengeReply, SendNameV5};
use beamlink::transport::tls::TlsTransport;
use common::hostile::{
    Carrier, Closed, FakePeer, PROMPT, PeerOptions, ServeTarget, Target, cpu_seconds, events_for, events_until, log,
    send_name,
};
use tls_fixtures::Pki;

/// Limits with a handshake timeout long enough that a close seen within
/// [`PROMPT`] is a refusal, not the timeout.
fn patient() -> Limits {
    Limits { handshake_timeout: Duration::from_secs(20), ..Limits::default() }
}

/// A target on mutual TLS, reached by fake peers through a TLS carrier with a
/// certificate from the target's CA: what a peer holding a valid cluster
/// certificate can still try during the distribution handshake.
///
/// The target checks a client certificate's host, not its full node name
/// (`VerifyName::Host`), so the one fake-peer certificate can claim the fresh
/// `…@localhost` names the tables use; binding the exact name to the
/// certificate is fault matrix row S6 (tests/tls_rust.rs). Honest peers get a
/// certificate of their own.
fn tls_target(prefix: &str, limits: Limits) -> Target {
    let pki = Arc::new(Pki::new());
    let name = tls_fixtures::short(prefix);
    pki.issue(&name);
    let fake = tls_fixtures::short("fake");
    pki.issue(&fake);
    let config = pki.config(&name).verify_name(VerifyName::Host);
    let tls = TlsTransport::new(config).expect("the target's TLS transport");
    let (cert, key) = pki.files(&fake);
    let carrier = Carrier::tls(&pki.ca(), &cert, &key);
    Target::start_named(&name, move |b| b.limits(limits).transport(tls)).with_carrier(carrier).with_honest_peers(
        move |peer, b| {
            pki.issue(peer);
            b.transport(pki.transport(peer))
        },
    )
}

#[test]
fn h1_wrong_cookie_is_refused_without_a_node_up() {
    let target = Target::start("h1", patient());
    let mut events = target.events();
    let mut options = target.peer_options("wrongcookie");
    options.cookie = "not-the-cookie".into();
    let err = FakePeer::connect(&target.carrier, target.addr, &target.name(), &options).err().expect("refused");
    assert_eq!(err, "closed after our reply", "the node closes after checking our digest");
    log().expect(&[&options.name, "answered the cookie challenge wrongly"]);
    assert!(
        events_for(&mut events, &options.name, Duration::from_millis(300)).is_empty(),
        "no node-up for a bad cookie"
    );
    assert!(target.test.node.connected_nodes().is_empty());
    target.assert_serves_honest_peer();
}

#[test]
fn h5_invalid_node_names_are_refused() {
    invalid_node_names_are_refused(&Target::start("h5", patient()));
}

#[test]
fn h5_invalid_node_names_are_refused_over_tls() {
    invalid_node_names_are_refused(&tls_target("h5tls", patient()));
}

fn invalid_node_names_are_refused(target: &Target) {
    let long = vec![b'a'; 300];
    let cases: Vec<(&[u8], &str)> = vec![
        (b"noat", "has no '@'"),
        (b"a@b@c", "more than one '@'"),
        (b"@host", "empty name or host part"),
        (b"name@", "empty name or host part"),
        (&long, "the limit is 255"),
        (b"\xff\xfe@host", "not UTF-8"),
        (b"na me@host", "is not allowed before the '@'"),
        (b"a@ho/st", "is not allowed in a host name"),
    ];
    for (name, why) in cases {
        let mut raw = target.raw();
        raw.send_handshake(&send_name(DistFlags::DEFAULT, 7, name)).unwrap();
        assert_eq!(
            raw.recv_handshake(PROMPT),
            None,
            "{:?}: the node answered instead of closing",
            String::from_utf8_lossy(name)
        );
        log().expect(&["refused an incoming connection", &raw.logged_as(), why]);
    }
    target.assert_serves_honest_peer();
}

#[test]
fn h6_missing_mandatory_flags_get_not_allowed() {
    missing_mandatory_flags_get_not_allowed(&Target::start("h6", patient()));
}

#[test]
fn h6_missing_mandatory_flags_get_not_allowed_over_tls() {
    missing_mandatory_flags_get_not_allowed(&tls_target("h6tls", patient()));
}

fn missing_mandatory_flags_get_not_allowed(target: &Target) {
    // An OTP 25-era peer without V4_NC and UNLINK_ID, and a peer with no flags at all.
    for (flags, missing) in [
        (DistFlags::MANDATORY_25, "UNLINK_ID, V4_NC"),
        (DistFlags::from_bits(0), "HANDSHAKE_23"),
        (
            DistFlags::from_bits(
                DistFlags::DEFAULT.bits() & !DistFlags::HANDSHAKE_23.bits() & !DistFlags::MANDATORY_25_DIGEST.bits(),
            ),
            "HANDSHAKE_23",
        ),
    ] {
        let name = format!("{}@localhost", common::unique_name("noflags"));
        let mut raw = target.raw();
        raw.send_handshake(&send_name(flags, 7, name.as_bytes())).unwrap();
        assert_eq!(raw.recv_handshake(PROMPT).as_deref(), Some(&b"snot_allowed"[..]));
        raw.expect_closed(PROMPT, "after not_allowed");
        let line = log().expect(&[&name, "lacks required distribution capabilities"]);
        assert!(line.contains(missing), "{line}");
    }
    target.assert_serves_honest_peer();
}

/// Sends a good send_name and returns the raw stream with the node's status
/// and challenge read.
fn after_challenge(target: &Target, name: &str) -> (common::hostile::Raw, Challenge) {
    let mut raw = target.raw();
    raw.send_handshake(&send_name(DistFlags::DEFAULT, 7, name.as_bytes())).unwrap();
    assert_eq!(raw.recv_handshake(PROMPT).as_deref(), Some(&b"sok"[..]));
    let challenge = Challenge::decode(&raw.recv_handshake(PROMPT).expect("a challenge")).expect("a v6 challenge");
    (raw, challenge)
}

#[test]
fn h7_unexpected_messages_and_order_close_the_connection() {
    unexpected_messages_and_order_close_the_connection(&Target::start("h7", patient()));
}

#[test]
fn h7_unexpected_messages_and_order_close_the_connection_over_tls() {
    unexpected_messages_and_order_close_the_connection(&tls_target("h7tls", patient()));
}

fn unexpected_messages_and_order_close_the_connection(target: &Target) {
    let reply = ChallengeReply { challenge: 1, digest: [0; 16] }.encode();
    // Before send_name: a challenge_reply, an ack, a status.
    for (first, tag) in [(reply.clone(), "'r'"), (vec![b'a'; 17], "'a'"), (b"sok".to_vec(), "'s'")] {
        let mut raw = target.raw();
        raw.send_handshake(&first).unwrap();
        assert_eq!(raw.recv_handshake(PROMPT), None);
        log().expect(&[
            "refused an incoming connection",
            &raw.logged_as(),
            "expected send_name, got a message tagged",
            tag,
        ]);
    }
    // After the challenge: send_name again, an ack instead of the reply, a
    // truncated reply, a reply with trailing bytes.
    let name = format!("{}@localhost", common::unique_name("twice"));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (send_name(DistFlags::DEFAULT, 7, name.as_bytes()), "expected challenge_reply, got a message tagged 'N'"),
        (vec![b'a'; 17], "expected challenge_reply, got a message tagged 'a'"),
        (reply[..8].to_vec(), "truncated challenge_reply"),
        ([&reply[..], &[0]].concat(), "challenge_reply message has trailing bytes"),
    ];
    for (second, why) in cases {
        let peer = format!("{}@localhost", common::unique_name("order"));
        let (mut raw, _) = after_challenge(target, &peer);
        raw.send_handshake(&second).unwrap();
        raw.expect_closed(PROMPT, why);
        log().expect(&[&peer, why]);
    }
    // A version 5 name, then a reply without the complement.
    let peer = format!("{}@localhost", common::unique_name("v5"));
    let mut raw = target.raw();
    let low = DistFlags::from_bits(DistFlags::DEFAULT.bits() & 0xffff_ffff);
    raw.send_handshake(&SendNameV5 { flags: low, name: peer.as_bytes().to_vec() }.encode()).unwrap();
    assert_eq!(raw.recv_handshake(PROMPT).as_deref(), Some(&b"sok"[..]));
    raw.recv_handshake(PROMPT).expect("a challenge");
    raw.send_handshake(&reply).unwrap();
    raw.expect_closed(PROMPT, "reply without complement");
    log().expect(&[&peer, "expected complement, got a message tagged 'r'"]);
    target.assert_serves_honest_peer();
}

#[test]
fn h8_oversized_and_empty_handshake_frames_close_at_once() {
    oversized_and_empty_handshake_frames_close_at_once(&Target::start("h8", patient()));
}

#[test]
fn h8_oversized_and_empty_handshake_frames_close_at_once_over_tls() {
    oversized_and_empty_handshake_frames_close_at_once(&tls_target("h8tls", patient()));
}

fn oversized_and_empty_handshake_frames_close_at_once(target: &Target) {
    let cases: Vec<(&[u8], &str)> = match target.carrier.handshake_framing {
        LengthPrefix::U16 => vec![
            (&[0xff, 0xff], "frame of 65535 bytes exceeds the limit of 2048 bytes"),
            (&[0x08, 0x01], "frame of 2049 bytes exceeds the limit of 2048 bytes"),
            (&[0x00, 0x00], "empty frame during the handshake"),
        ],
        LengthPrefix::U32 => vec![
            (&[0xff, 0xff, 0xff, 0xff], "frame of 4294967295 bytes exceeds the limit of 2048 bytes"),
            (&[0x00, 0x01, 0x00, 0x00], "frame of 65536 bytes exceeds the limit of 2048 bytes"),
            (&[0x00, 0x00, 0x08, 0x01], "frame of 2049 bytes exceeds the limit of 2048 bytes"),
            (&[0x00, 0x00, 0x00, 0x00], "empty frame during the handshake"),
        ],
    };
    for (prefix, why) in cases {
        let mut raw = target.raw();
        raw.send(prefix).unwrap();
        // Trickle a few bytes: the node must not wait for the announced length.
        let _ = raw.send(b"N\x00\x00");
        let took = raw.expect_closed(PROMPT, why);
        assert!(took < PROMPT, "{why}: closed only after {took:?}");
        log().expect(&["refused an incoming connection", &raw.logged_as(), why]);
    }
    target.assert_serves_honest_peer();
}

#[test]
fn h9_a_slow_handshake_is_closed_at_the_timeout() {
    let timeout = Duration::from_millis(1000);
    let target = Target::start("h9slow", Limits { handshake_timeout: timeout, ..Limits::default() });
    let name = format!("{}@localhost", common::unique_name("slow"));
    let mut msg = Vec::new();
    msg.extend_from_slice(&(send_name(DistFlags::DEFAULT, 7, name.as_bytes()).len() as u16).to_be_bytes());
    msg.extend_from_slice(&send_name(DistFlags::DEFAULT, 7, name.as_bytes()));
    let mut raw = target.raw();
    let started = std::time::Instant::now();
    // One byte every 100 ms: the whole message would take seconds.
    let mut closed = false;
    for b in &msg {
        if raw.send(&[*b]).is_err() {
            closed = true;
            break;
        }
        if let Closed::After(_) = raw.wait_closed(Duration::from_millis(100)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "the trickling peer finished its send_name; make the message longer");
    let took = started.elapsed();
    assert!(took >= timeout * 8 / 10 && took < timeout * 3, "closed after {took:?} with a {timeout:?} timeout");
    // Other tests' connections time out too: the line must be this one's.
    log().expect(&["refused an incoming connection", &raw.logged_as(), "the handshake did not complete within"]);
    target.assert_serves_honest_peer();
}

#[test]
fn h9_pending_handshakes_are_capped() {
    let timeout = Duration::from_millis(1500);
    let cap = 3;
    let target =
        Target::start("h9cap", Limits { handshake_timeout: timeout, max_pending_handshakes: cap, ..Limits::default() });
    let mut silent: Vec<_> = (0..cap).map(|_| target.raw()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // One more is closed on arrival, long before the handshake timeout.
    let mut extra = target.raw();
    let took = extra.expect_closed(PROMPT, "a connection beyond max_pending_handshakes");
    assert!(took < timeout / 2, "closed after {took:?}");
    log().expect(&["max_pending_handshakes reached"]);
    // The silent ones are dropped at the timeout, and honest peers get in again.
    for raw in &mut silent {
        raw.expect_closed(timeout * 3, "a silent connection at the handshake timeout");
    }
    target.assert_serves_honest_peer();
}

#[test]
fn h11_a_second_connection_under_a_connected_name() {
    a_second_connection_under_a_connected_name(&Target::start("h11", patient()));
}

#[test]
fn h11_a_second_connection_under_a_connected_name_over_tls() {
    a_second_connection_under_a_connected_name(&tls_target("h11tls", patient()));
}

fn a_second_connection_under_a_connected_name(target: &Target) {
    let mut events = target.events();
    let options = target.peer_options("dup");
    let mut first = target.fake_peer(&options);
    assert!(first.ping(PROMPT), "the first connection works");

    // The same name again, answering `false` to `alive`: refused, the first one stays.
    let keep = PeerOptions { replace_alive: false, ..options.clone() };
    let err = FakePeer::connect(&target.carrier, target.addr, &target.name(), &keep).err().expect("refused");
    assert_eq!(err, "alive; we keep the old one");
    assert!(first.ping(PROMPT), "the first connection survives a refused duplicate");

    // Answering `true`: the new connection replaces the old one, which is closed.
    let mut second = target.fake_peer(&options);
    first.raw.expect_closed(PROMPT, "the replaced connection");
    assert!(second.ping(PROMPT), "the replacing connection works");
    let replaced = |e: &NodeEvent| matches!(e, NodeEvent::Down { reason, .. } if reason.contains("replaced"));
    let seen = events_until(&mut events, &options.name, PROMPT * 2, replaced);
    assert!(seen.iter().any(replaced), "a node-down for the replaced connection: {seen:?}");
    target.assert_serves_honest_peer();
}

#[test]
fn a_correct_reply_with_a_wrong_digest_is_refused_and_named() {
    // H1 at the byte level: the right shape, a digest for another cookie.
    let target = Target::start("h1raw", patient());
    let name = format!("{}@localhost", common::unique_name("digest"));
    let (mut raw, challenge) = after_challenge(&target, &name);
    let reply = ChallengeReply { challenge: 99, digest: digest::digest(challenge.challenge, b"other") };
    raw.send_handshake(&reply.encode()).unwrap();
    assert_eq!(raw.recv_handshake(PROMPT), None, "no ack for a wrong digest");
    log().expect(&[&name, "answered the cookie challenge wrongly"]);
    target.assert_serves_honest_peer();
}

/// What became of one wrong-cookie attempt.
#[derive(Debug, PartialEq, Eq)]
enum Guess {
    /// The node answered our name, checked our digest and closed.
    Checked,
    /// The node refused before any challenge: it closed on arrival, or
    /// answered our name with `not_allowed` (a name in back-off).
    RefusedAtOnce,
}

#[test]
fn h2_guessing_cookies_from_one_address_is_throttled_and_cheap() {
    // `beamlink serve` as a child, so its CPU time can be read, with the
    // default limits: back-off after K failures, 1 s doubling up to 60 s.
    let limits = Limits::default();
    let k = limits.auth_failures_before_backoff as usize;
    let serve = ServeTarget::start("h2", &[]);
    // The attacker comes from 127.0.0.2; the honest peer below from 127.0.0.1.
    let attacker = Carrier::tcp_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let options = PeerOptions::new("guesser", "not-the-cookie");
    let attempts = 1000;
    let budget = Duration::from_secs(20);
    let cpu_before = cpu_seconds(serve.process.pid());
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(attempts);
    for i in 0..attempts {
        assert!(started.elapsed() < budget, "only {i} of {attempts} attempts within {budget:?}");
        let outcome = match FakePeer::connect(&attacker, serve.addr, &serve.name(), &options) {
            Ok(_) => panic!("attempt {i}: a wrong cookie completed the handshake"),
            Err(e) if e == "closed after our reply" => Guess::Checked,
            // Closed on arrival: our send_name met EOF or a reset.
            Err(e) if e == "closed" || e.starts_with("send:") => Guess::RefusedAtOnce,
            // Refused at its name: this name from this address is in back-off.
            Err(e) if e.contains("refused the connection (not_allowed)") => Guess::RefusedAtOnce,
            Err(e) => panic!("attempt {i}: unexpected outcome {e:?}"),
        };
        outcomes.push(outcome);
    }
    let took = started.elapsed();
    let used = cpu_seconds(serve.process.pid()) - cpu_before;

    // The first K guesses are checked; the next one is refused before any
    // challenge, although it comes at once.
    assert!(outcomes[..k].iter().all(|o| *o == Guess::Checked), "the first {k} guesses: {:?}", &outcomes[..k + 1]);
    assert_eq!(outcomes[k], Guess::RefusedAtOnce, "guess {} came right after {k} failures", k + 1);
    // After that, each back-off that runs out lets one more guess through and
    // doubles: over `took`, at most log2(took / 1 s) + 1 more checks.
    let checked = outcomes.iter().filter(|o| **o == Guess::Checked).count();
    let expiries = (took.as_secs_f64() / limits.auth_backoff.as_secs_f64() + 1.0).log2().ceil() as usize + 1;
    assert!(
        checked <= k + expiries,
        "{checked} of {attempts} wrong-cookie guesses reached the cookie check within {took:?} (K = {k})"
    );
    // Refusing is cheap: the node's whole CPU cost stays small.
    assert!(used < 1.0, "{attempts} wrong-cookie attempts cost the node {used:.2} CPU seconds");
    eprintln!("h2: {attempts} attempts in {took:?}, {checked} checked, node CPU {used:.2} s");
    serve.assert_serves_honest_peer();
}
