//! Hostile terms inside a real connection (fault matrix rows T1–T10 at the
//! connection level): each bad term travels as the payload of a SEND to the
//! node's collector, after a good message and before another. The node must
//! close that connection with a log line naming the decoding error, deliver
//! the message before and not the one after, and keep serving other peers.
//! T6 checks the per-connection atom budget across several messages.
//!
//! The decoder itself is tested byte by byte in tests/term_bad_input.rs.

mod common;

use std::time::Duration;

use beamlink::node::Limits;
use beamlink::proto::control::Control;
use beamlink::proto::packet::PacketFormat;
use beamlink::term::Term;
use common::hostile::{PROMPT, Target, log, marker, send_marker};

/// `n` nested one-element tuples around `[]`.
fn nested(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 * n + 1);
    for _ in 0..n {
        v.extend_from_slice(&[104, 1]);
    }
    v.push(106);
    v
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Sends `payload` (a bare term; `131` is added on pass-through connections)
/// to the collector between two markers and checks the refusal.
fn refused_payload(target: &Target, pass_through: bool, payload: &[u8], why: &str) {
    let options = if pass_through { target.peer_options("term").pass_through() } else { target.peer_options("term") };
    let collector = target.collector.clone();
    target.expect_refused(&options, why, |p| {
        let bytes = match p.format {
            PacketFormat::PassThrough => [&[131u8][..], payload].concat(),
            PacketFormat::Header { .. } => payload.to_vec(),
        };
        p.send_raw_payload(&collector, &bytes).unwrap();
    });
}

#[test]
fn t1_t2_huge_counts_and_lengths() {
    let target = Target::start("t1", Limits::default());
    let cases: [(&[u8], &str); 6] = [
        (&[108, 0xff, 0xff, 0xff, 0xff, 97, 1, 106], "length field says 4294967295"),
        (&[105, 0xff, 0xff, 0xff, 0xff, 97, 1], "length field says 4294967295"),
        (&[116, 0xff, 0xff, 0xff, 0xff, 97, 1, 97, 2], "length field says 8589934590"),
        (&[109, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3], "length field says 4294967280"),
        (&[111, 0xff, 0xff, 0xff, 0xff, 0, 1], "bignum of 4294967295 bytes exceeds the limit"),
        (&[107, 0xff, 0xff, 1], "length field says 65535"),
    ];
    for (i, (payload, why)) in cases.into_iter().enumerate() {
        refused_payload(&target, i % 2 == 1, payload, why);
    }
    target.assert_serves_honest_peer();
}

#[test]
fn t3_deep_nesting_hits_the_depth_limit() {
    let target = Target::start("t3", Limits::default());
    refused_payload(&target, false, &nested(100_000), "nesting deeper than the limit of 512");
    // A configured lower limit applies per connection.
    let strict = Target::start("t3strict", Limits { max_term_depth: 16, ..Limits::default() });
    refused_payload(&strict, true, &nested(17), "nesting deeper than the limit of 16");
    let mut peer = strict.fake_peer(&strict.peer_options("shallow"));
    let ok = beamlink::term::decode(&[&[131u8][..], &nested(15)].concat()).unwrap();
    peer.send_control(&Control::Send { from: None, to: strict.collector.clone(), message: ok.clone() }).unwrap();
    assert_eq!(strict.receive(1, Duration::from_millis(300)), vec![ok]);
    target.assert_serves_honest_peer();
}

#[test]
fn t4_compressed_bombs_are_refused() {
    let target = Target::start("t4", Limits::default());
    // 10 MB of zeros in a binary, declared as 100 bytes.
    let mut inner = vec![109];
    inner.extend_from_slice(&10_000_000u32.to_be_bytes());
    inner.resize(5 + 10_000_000, 0);
    let bomb = [&[80u8][..], &100u32.to_be_bytes(), &zlib(&inner)].concat();
    refused_payload(&target, true, &bomb, "compressed term declared 100 bytes but inflated to");
    // Corrupt zlib data.
    refused_payload(&target, true, &[80, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6], "decompression failed");
    target.assert_serves_honest_peer();
}

#[test]
fn t5_bad_atoms() {
    let target = Target::start("t5", Limits::default());
    let mut long = vec![118, 1, 0];
    long.extend(std::iter::repeat_n(b'a', 256));
    refused_payload(&target, false, &long, "atom has 256 characters");
    refused_payload(&target, true, &[119, 2, 0xc3, 0x28], "atom text is not valid UTF-8");
    // Latin-1 atoms are fine: every byte is a character.
    let mut peer = target.fake_peer(&target.peer_options("latin1").pass_through());
    let body = [
        &peer.term_bytes(&Term::tuple(vec![Term::from(2), Term::atom(""), Term::Pid(target.collector.clone())]))[..],
        &[131, 115, 2, 0xff, 0x80],
    ]
    .concat();
    peer.send_body(&body).unwrap();
    assert_eq!(target.receive(1, Duration::from_millis(300)), vec![Term::atom("\u{ff}\u{80}")]);
    target.assert_serves_honest_peer();
}

#[test]
fn t6_a_peer_over_its_atom_budget_loses_its_connection() {
    let budget = 200;
    let target = Target::start("t6", Limits { max_atoms_per_connection: budget, ..Limits::default() });
    let options = target.peer_options("atoms");
    let mut peer = target.fake_peer(&options);
    send_marker(&mut peer, &target, 1);
    // Fifty new atoms per message: the budget runs out in the fourth or fifth.
    let mut sent = 0;
    for batch in 0..10 {
        let atoms: Vec<Term> = (0..50).map(|i| Term::atom(&format!("t6_{batch}_{i}"))).collect();
        if peer
            .send_control(&Control::Send { from: None, to: target.collector.clone(), message: Term::list(atoms) })
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    peer.raw.expect_closed(PROMPT, "atom budget");
    log().expect(&[
        &options.name,
        &format!("atom budget of {budget} distinct atoms exceeded"),
        "max_atoms_per_connection",
    ]);
    // The marker and at least two lists came before the budget ran out.
    let got = target.receive(3, Duration::from_millis(300));
    assert_eq!(got.first(), Some(&marker(1)));
    let lists = got.len() - 1;
    assert!((2..=4).contains(&lists), "{lists} of {sent} batches of 50 atoms delivered with a budget of {budget}");
    // Another connection has a budget of its own.
    let mut other = target.fake_peer(&target.peer_options("fresh"));
    let atoms: Vec<Term> = (0..50).map(|i| Term::atom(&format!("t6_0_{i}"))).collect();
    other
        .send_control(&Control::Send { from: None, to: target.collector.clone(), message: Term::list(atoms.clone()) })
        .unwrap();
    assert_eq!(target.receive(1, Duration::from_millis(300)), vec![Term::list(atoms)]);
    target.assert_serves_honest_peer();
}

#[test]
fn t7_t8_bad_bit_strings_and_floats() {
    let target = Target::start("t7", Limits::default());
    let nan = [&[70u8][..], &f64::NAN.to_bits().to_be_bytes()].concat();
    let inf = [&[70u8][..], &f64::INFINITY.to_bits().to_be_bytes()].concat();
    let mut junk = vec![99];
    junk.extend_from_slice(b"not a number");
    junk.resize(32, 0);
    let cases: [(&[u8], &str); 6] = [
        (&[77, 0, 0, 0, 1, 0, 0xff], "bad bit count 0 for a bit string of 1 byte(s)"),
        (&[77, 0, 0, 0, 1, 9, 0xff], "bad bit count 9 for a bit string of 1 byte(s)"),
        (&[77, 0, 0, 0, 0, 3], "bad bit count 3 for a bit string of 0 byte(s)"),
        (&nan, "invalid float"),
        (&inf, "invalid float"),
        (&junk, "invalid float"),
    ];
    for (i, (payload, why)) in cases.into_iter().enumerate() {
        refused_payload(&target, i % 2 == 0, payload, why);
    }
    target.assert_serves_honest_peer();
}

#[test]
fn t9_t10_tags_that_are_not_allowed_and_duplicate_keys() {
    let target = Target::start("t9", Limits::default());
    let cases: [(&[u8], &str); 6] = [
        (&[200], "unknown tag 200"),
        (&[117], "unknown tag 117"),
        (&[104, 1, 68, 0], "distribution header not allowed inside a term"),
        (&[104, 1, 82, 0], "atom cache reference not allowed"),
        (&[104, 1, 80, 0, 0, 0, 1, 0x78, 0x9c, 1], "compressed term not allowed inside another term"),
        (&[116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2], "map has a duplicate key"),
    ];
    for (i, (payload, why)) in cases.into_iter().enumerate() {
        refused_payload(&target, i % 2 == 1, payload, why);
    }
    target.assert_serves_honest_peer();
}
