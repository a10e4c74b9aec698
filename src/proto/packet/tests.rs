//! Packet codec tests: formats, fragment reassembly, and every refusal.

use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::proto::control::Control;
use crate::term::{Atom, Pid, Term};

fn pid(n: u32) -> Pid {
    Pid::new(Atom::new("a@h"), n, 0, 1)
}

fn send(n: u32, message: Term) -> Control {
    Control::Send { from: Some(pid(n)), to: pid(99), message }
}

const HEADER: PacketFormat = PacketFormat::Header { fragments: true };

/// Encodes `control` into packets (without their length prefixes).
fn packets(format: PacketFormat, control: &Control, fragment_size: usize, seq: u64) -> Vec<Bytes> {
    let body = encode_message(format, control, DistFlags::DEFAULT).unwrap();
    let mut frags = Fragments::new(format, body, seq, fragment_size);
    let mut out = Vec::new();
    loop {
        let mut chunks = Vec::new();
        if frags.next_packet(&mut chunks) == 0 {
            break;
        }
        let mut packet = BytesMut::new();
        for c in chunks {
            packet.extend_from_slice(&c);
        }
        let len = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]) as usize;
        assert_eq!(len, packet.len() - 4, "length prefix");
        out.push(packet.freeze().slice(4..));
    }
    out
}

fn decoder(format: PacketFormat) -> PacketDecoder {
    PacketDecoder::new(format, Decoder::default(), ReassemblyLimits::default())
}

#[test]
fn pass_through_round_trip_matches_otp_layout() {
    let c = send(1, Term::atom("hello"));
    let p = packets(PacketFormat::PassThrough, &c, 64 * 1024, 1);
    assert_eq!(p.len(), 1);
    assert_eq!(&p[0][..3], &[112, 131, 104], "112, then a versioned control tuple");
    assert_eq!(decoder(PacketFormat::PassThrough).decode(p[0].clone()).unwrap(), Some(c));
}

#[test]
fn header_format_without_fragments_matches_otp_layout() {
    let c = send(1, Term::from(7));
    let p = packets(HEADER, &c, 64 * 1024, 1);
    assert_eq!(p.len(), 1);
    // OTP with FRAGMENTS only: 83 44 00, then the bare control tuple.
    assert_eq!(&p[0][..4], &[131, 68, 0, 104]);
    assert_eq!(decoder(HEADER).decode(p[0].clone()).unwrap(), Some(c));
}

#[test]
fn long_messages_are_fragmented_and_reassembled() {
    let c = send(1, Term::binary(vec![5u8; 200_000]));
    let p = packets(HEADER, &c, 64 * 1024, 7);
    assert_eq!(p.len(), 4, "200 kB in 64 KiB fragments");
    assert_eq!(&p[0][..2], &[131, 69]);
    assert_eq!(u64::from_be_bytes(p[0][10..18].try_into().unwrap()), 4, "first fragment id counts the fragments");
    for later in &p[1..] {
        assert_eq!(&later[..2], &[131, 70]);
    }
    let mut d = decoder(HEADER);
    for f in &p[..3] {
        assert_eq!(d.decode(f.clone()).unwrap(), None);
    }
    assert!(d.reassembly_bytes() > 0);
    assert_eq!(d.decode(p[3].clone()).unwrap(), Some(c));
    assert_eq!(d.reassembly_bytes(), 0);
}

#[test]
fn interleaved_sequences_reassemble_independently() {
    let a = send(1, Term::binary(vec![1u8; 150_000]));
    let b = send(2, Term::binary(vec![2u8; 150_000]));
    let pa = packets(HEADER, &a, 64 * 1024, 1);
    let pb = packets(HEADER, &b, 64 * 1024, 2);
    let small = packets(HEADER, &send(3, Term::atom("x")), 64 * 1024, 3);
    let mut d = decoder(HEADER);
    let mut got = Vec::new();
    for (x, y) in pa.iter().zip(&pb) {
        got.extend(d.decode(x.clone()).unwrap());
        got.extend(d.decode(small[0].clone()).unwrap());
        got.extend(d.decode(y.clone()).unwrap());
    }
    let small_count = got.iter().filter(|c| matches!(c, Control::Send { message: Term::Atom(_), .. })).count();
    assert_eq!(small_count, pa.len(), "every short message was delivered as it arrived");
    let big: Vec<&Control> =
        got.iter().filter(|c| matches!(c, Control::Send { message: Term::Binary(_), .. })).collect();
    assert_eq!(big, vec![&a, &b]);
}

#[test]
fn decodes_otp_captured_pass_through_bytes() {
    // OTP 25 sent a REG_SEND pass-through packet starting `70 83 68 04 61 06`.
    let from = Term::Pid(pid(1));
    let control = Term::Tuple(vec![Term::from(6), from, Term::atom(""), Term::atom("net_kernel")]);
    let mut packet = vec![112];
    packet.extend(term::encode(&control).unwrap());
    packet.extend(term::encode(&Term::atom("msg")).unwrap());
    assert_eq!(&packet[..6], &[0x70, 0x83, 0x68, 0x04, 0x61, 0x06]);
    let decoded = decoder(PacketFormat::PassThrough).decode(Bytes::from(packet)).unwrap().unwrap();
    assert!(matches!(decoded, Control::RegSend { ref to, .. } if to.as_str() == "net_kernel"));
}

fn frag_header(seq: u64, frag: u64, data: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(&[131, 69]);
    b.put_u64(seq);
    b.put_u64(frag);
    b.put_u8(0);
    b.put_slice(data);
    b.freeze()
}

fn frag_cont(seq: u64, frag: u64, data: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(&[131, 70]);
    b.put_u64(seq);
    b.put_u64(frag);
    b.put_slice(data);
    b.freeze()
}

#[test]
fn fragment_protocol_violations_are_refused() {
    // F9: a continuation without a header, a duplicate header, the wrong
    // fragment id, fragment id 0.
    assert!(matches!(decoder(HEADER).decode(frag_cont(1, 1, b"x")), Err(PacketError::Fragment(_))));
    let mut d = decoder(HEADER);
    assert_eq!(d.decode(frag_header(1, 3, b"x")).unwrap(), None);
    assert!(matches!(d.decode(frag_header(1, 3, b"x")), Err(PacketError::Fragment(_))));
    let mut d = decoder(HEADER);
    d.decode(frag_header(1, 3, b"x")).unwrap();
    assert!(matches!(d.decode(frag_cont(1, 1, b"x")), Err(PacketError::Fragment(_))));
    assert!(matches!(decoder(HEADER).decode(frag_header(1, 0, b"x")), Err(PacketError::Fragment(_))));
}

#[test]
fn reassembly_is_bounded() {
    let limits = ReassemblyLimits { max_open_sequences: 2, max_reassembly_bytes: 1000 };
    let mut d = PacketDecoder::new(HEADER, Decoder::default(), limits);
    d.decode(frag_header(1, 5, b"a")).unwrap();
    d.decode(frag_header(2, 5, b"b")).unwrap();
    assert!(matches!(d.decode(frag_header(3, 5, b"c")), Err(PacketError::Limit { .. })));
    let mut d = PacketDecoder::new(HEADER, Decoder::default(), limits);
    d.decode(frag_header(1, 5, &[0; 600])).unwrap();
    assert!(matches!(d.decode(frag_cont(1, 4, &[0; 600])), Err(PacketError::Limit { .. })));
}

#[test]
fn malformed_packets_are_refused() {
    let header_only = decoder(HEADER).decode(Bytes::from_static(&[112, 131, 106]));
    assert!(matches!(header_only, Err(PacketError::BadStart { .. })), "112 after FRAGMENTS was negotiated");
    assert!(matches!(
        decoder(PacketFormat::PassThrough).decode(Bytes::from_static(&[131, 68, 0])),
        Err(PacketError::BadStart { .. })
    ));
    assert!(matches!(decoder(HEADER).decode(Bytes::from_static(&[131, 68, 2, 0, 0])), Err(PacketError::AtomCache(2))));
    assert!(matches!(decoder(HEADER).decode(Bytes::from_static(&[131, 68])), Err(PacketError::Truncated(_))));
    assert!(matches!(decoder(HEADER).decode(Bytes::from_static(&[131, 69, 0, 0])), Err(PacketError::Truncated(_))));
    // A valid control term that is not a control message (F7) and trailing bytes after the payload.
    let mut bad = vec![131, 68, 0];
    term::encode_bare_into(&Term::atom("hello"), &mut bad).unwrap();
    assert!(matches!(decoder(HEADER).decode(Bytes::from(bad)), Err(PacketError::Control(_))));
    let mut trailing = vec![131, 68, 0];
    let msg = send(1, Term::atom("m"));
    let (c, p) = msg.to_wire(DistFlags::DEFAULT);
    term::encode_bare_into(&c, &mut trailing).unwrap();
    term::encode_bare_into(p.unwrap(), &mut trailing).unwrap();
    trailing.push(106);
    assert!(matches!(decoder(HEADER).decode(Bytes::from(trailing)), Err(PacketError::Trailing(1))));
    // A payload that does not decode (F8).
    let mut garbage = vec![131, 68, 0];
    term::encode_bare_into(&c, &mut garbage).unwrap();
    garbage.extend_from_slice(&[255, 1, 2]);
    assert!(matches!(decoder(HEADER).decode(Bytes::from(garbage)), Err(PacketError::Term { part: "payload", .. })));
}

#[test]
fn the_fast_path_writes_the_same_packet_as_the_general_one() {
    for format in [PacketFormat::PassThrough, HEADER] {
        for c in [
            send(1, Term::atom("x")),
            send(2, Term::binary(vec![1u8; 3000])),
            Control::Link { from: pid(1), to: pid(2) },
        ] {
            let general = packets(format, &c, 64 * 1024, 1);
            let mut out = BytesMut::new();
            let n = encode_packet_into(format, &c, DistFlags::DEFAULT, &mut out).unwrap();
            assert_eq!(n, out.len());
            assert_eq!(&out[4..], &general[0][..]);
            assert_eq!(decoder(format).decode(out.freeze().slice(4..)).unwrap(), Some(c));
        }
    }
}

#[test]
fn large_binaries_are_referenced_not_copied() {
    let data = Bytes::from(vec![9u8; 100_000]);
    let msg = send(1, Term::Binary(data.clone()));
    let body = encode_message(HEADER, &msg, DistFlags::DEFAULT).unwrap();
    let chunks = body.into_chunks();
    assert!(chunks.iter().any(|ch| ch.as_ptr() == data.as_ptr()), "the binary's own buffer is one of the chunks");
}
