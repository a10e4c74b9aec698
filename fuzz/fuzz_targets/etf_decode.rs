//! Decodes arbitrary bytes as an External Term Format term. Whatever decodes
//! must encode, and decode again to an equal term; printing must stay bounded.
#![no_main]

use beamlink::term::{self, AtomTable, DecodeLimits, Decoder};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    let limits = DecodeLimits { max_decoded_bytes: 64 << 20, ..DecodeLimits::default() };
    let mut decoder = Decoder::new(limits).with_atom_table(AtomTable::new(10_000));
    // Also try the input as a bare term (no version byte), as the dist layer decodes it.
    let _ = decoder.decode_prefix(&input, false);
    let Ok(t) = decoder.decode(&input) else { return };
    assert_eq!(term::decode(data).ok().as_ref(), Some(&t), "slice and zero-copy decoding agree");
    let encoded = term::encode(&t).expect("a decoded term encodes");
    assert_eq!(encoded.len(), 1 + term::encoded_len(&t));
    let again = term::decode(&encoded).expect("our encoding decodes");
    assert_eq!(again, t);
    assert_eq!(t.cmp(&again), std::cmp::Ordering::Equal);
    let shown = t.bounded(200).to_string();
    assert!(shown.chars().count() <= 203);
});
