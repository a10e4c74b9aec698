//! The connected-mode message decoder: arbitrary packet sequences in each
//! packet format (pass-through, distribution header, header with fragments)
//! under small limits, and control messages decoded from arbitrary terms.
//! It must never panic, never hold more reassembly bytes than its limit, and
//! every control message it yields must survive a round trip through our own
//! encoder (fragmented into small pieces) unchanged.
//!
//! Input: a mode byte (packet format, or bare control terms), a limits byte,
//! then the packets, each with a two-byte length (or, in control mode, the
//! versioned control term and optional payload term back to back).
#![no_main]

#[path = "shared/input.rs"]
mod input;

use beamlink::proto::DistFlags;
use beamlink::proto::control::Control;
use beamlink::proto::packet::{
    Fragments, PacketDecoder, PacketFormat, ReassemblyLimits, encode_message, encode_packet_into,
};
use beamlink::term::{self, AtomTable, DecodeLimits, Decoder};
use bytes::{Bytes, BytesMut};
use input::Input;
use libfuzzer_sys::fuzz_target;

fn term_decoder(limits: u8) -> Decoder {
    let decode = DecodeLimits {
        max_depth: [8, 64, 512, 512][usize::from(limits >> 4) % 4],
        max_decoded_bytes: [1 << 12, 1 << 16, 1 << 24, 1 << 26][usize::from(limits >> 6) % 4],
        ..DecodeLimits::default()
    };
    let atoms = [4, 64, 10_000, 10_000][usize::from(limits >> 2) % 4];
    Decoder::new(decode).with_atom_table(AtomTable::new(atoms))
}

/// The packets of `control` from the fragmenting encoder, as one byte string.
fn fragmented(format: PacketFormat, control: &Control, fragment_size: usize) -> Option<Vec<Bytes>> {
    let body = encode_message(format, control, DistFlags::DEFAULT).ok()?;
    let mut fragments = Fragments::new(format, body, 0x1234, fragment_size);
    let mut packets = Vec::new();
    loop {
        let mut chunks = Vec::new();
        if fragments.next_packet(&mut chunks) == 0 {
            return Some(packets);
        }
        let mut packet = BytesMut::new();
        for chunk in chunks {
            packet.extend_from_slice(&chunk);
        }
        packets.push(packet.freeze());
    }
}

/// Encodes `control` as our writer would, in fragments of `fragment_size`
/// bytes, and decodes it again with generous limits. Also checks the
/// writer's two encoders against the plain term encoder: the direct control
/// encoder must write the same bytes as encoding the control tuple built by
/// `to_wire`, and the one-packet fast path the same packet as the fragmenting
/// path when nothing is split.
fn round_trip(format: PacketFormat, control: &Control, fragment_size: usize) {
    let Some(packets) = fragmented(format, control, fragment_size) else { return };

    let (c, p) = control.to_wire(DistFlags::DEFAULT);
    let strip = usize::from(format != PacketFormat::PassThrough);
    let mut expected = term::encode(&c).expect("the control tuple encodes")[strip..].to_vec();
    if let Some(p) = p {
        expected.extend_from_slice(&term::encode(p).expect("the payload encodes")[strip..]);
    }
    let whole = fragmented(format, control, usize::MAX).expect("encodes once, encodes twice");
    assert_eq!(whole.len(), 1);
    let header = match format {
        PacketFormat::PassThrough => 1,
        PacketFormat::Header { .. } => 3,
    };
    assert_eq!(&whole[0][4 + header..], &expected[..], "the direct encoder differs from the term encoder");
    let mut fast = BytesMut::new();
    let size = encode_packet_into(format, control, DistFlags::DEFAULT, &mut fast).expect("the fast path encodes");
    assert_eq!((size, &fast[..]), (whole[0].len(), &whole[0][..]), "the one-packet fast path differs");

    let limits = ReassemblyLimits { max_open_sequences: 1, max_reassembly_bytes: usize::MAX };
    let mut decoder = PacketDecoder::new(format, Decoder::default(), limits);
    let mut out = None;
    for packet in packets {
        assert!(out.is_none(), "packets after the message was complete");
        out = decoder.decode(packet.slice(4..)).expect("our own packets decode");
    }
    assert_eq!(out.as_ref(), Some(control), "the control message changed in a round trip");
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let limits = input.u8();
    let format = match mode % 4 {
        0 => PacketFormat::PassThrough,
        1 => PacketFormat::Header { fragments: false },
        2 => PacketFormat::Header { fragments: true },
        _ => {
            // Bare control terms: a versioned control term and an optional payload.
            let bytes = Bytes::copy_from_slice(input.rest());
            let mut terms = term_decoder(limits);
            let Ok((control, used)) = terms.decode_prefix(&bytes, true) else { return };
            let rest = bytes.slice(used..);
            let payload = if rest.is_empty() {
                None
            } else {
                match terms.decode_prefix(&rest, true) {
                    Ok((p, _)) => Some(p),
                    Err(_) => return,
                }
            };
            if let Ok(c) = Control::decode(control, payload) {
                round_trip(PacketFormat::Header { fragments: true }, &c, 7);
                round_trip(PacketFormat::PassThrough, &c, 7);
            }
            return;
        }
    };
    let reassembly = ReassemblyLimits {
        max_open_sequences: [1, 2, 4, 64][usize::from(limits) % 4],
        max_reassembly_bytes: [0, 64, 4096, 1 << 20][usize::from(limits >> 2) % 4],
    };
    let mut decoder = PacketDecoder::new(format, term_decoder(limits), reassembly);
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let packet = Bytes::copy_from_slice(input.chunk());
        let result = decoder.decode(packet);
        assert!(
            decoder.reassembly_bytes() <= reassembly.max_reassembly_bytes,
            "holding {} bytes with a limit of {}",
            decoder.reassembly_bytes(),
            reassembly.max_reassembly_bytes
        );
        match result {
            Ok(Some(control)) => {
                let _ = control.sender();
                round_trip(format, &control, 5);
            }
            Ok(None) => assert!(matches!(format, PacketFormat::Header { fragments: true })),
            // The connection closes on the first refused packet.
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
