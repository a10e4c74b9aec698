//! Erlang terms and the External Term Format (ETF).
//!
//! - [`Term`] is one Erlang value; build it with the constructors
//!   ([`Term::atom`], [`Term::tuple`], ...), the `From` impls, or the crate-root
//!   macros [`tuple!`](crate::tuple), [`list!`](crate::list), [`map!`](crate::map)
//!   and [`atom!`](crate::atom).
//! - [`encode`] / [`decode`] convert between terms and the bytes of
//!   `term_to_binary/1` / `binary_to_term/1`; [`Decoder`] adds limits, zero-copy
//!   decoding from [`bytes::Bytes`] and a per-connection [`AtomTable`].
//! - `Display` prints Erlang syntax and [`parse`] reads it back.
//! - With the `serde` feature, [`to_term`] and [`from_term`] convert between
//!   Rust types and terms, by the conventions Erlang and Elixir code uses.
//!
//! Encoding follows OTP's choices tag by tag, with atoms always in UTF-8
//! (`SMALL_ATOM_UTF8_EXT` / `ATOM_UTF8_EXT`): that is what the distribution
//! protocol carries, and what `term_to_binary/1` writes from OTP 26 on (in
//! OTP 25 it equals `term_to_binary(T, [{minor_version, 2}])`).
//!
//! ```
//! use beamlink::{tuple, list};
//! use beamlink::term::{self, Term};
//!
//! let t = tuple![Term::atom("ok"), list![1, 2, 3], Term::binary(&b"bin"[..])];
//! let bytes = term::encode(&t).unwrap();
//! assert_eq!(term::decode(&bytes).unwrap(), t);
//! assert_eq!(t.to_string(), r#"{ok,[1,2,3],<<"bin">>}"#);
//! assert_eq!(term::parse(r#"{ok, [1,2,3], <<"bin">>}."#).unwrap(), t);
//! ```

mod atom;
mod atom_table;
mod convert;
mod decode;
mod display;
mod encode;
mod error;
mod float_fmt;
mod footprint;
mod fun;
mod ids;
mod macros;
mod map;
mod order;
mod parse;
mod tags;
#[cfg(feature = "serde")]
mod typed;
mod value;

pub use atom::{Atom, AtomError, MAX_ATOM_CHARS};
pub use atom_table::{ATOM_OVERHEAD, AtomBudget, AtomBudgetExceeded, AtomTable};
pub use decode::{DecodeLimits, Decoder};
pub use display::Bounded;
pub use encode::{EncodeError, EncodeSink};
pub use error::{DecodeError, DecodeErrorKind};
pub use footprint::memory_estimate;
pub use fun::{ExportFun, Fun, LocalFun};
pub use ids::{MAX_REFERENCE_WORDS, Pid, Port, Reference};
pub use map::Map;
pub use parse::ParseError;
#[cfg(feature = "serde")]
pub use typed::{
    Absent, ConvertError, ConvertErrorKind, Deserializer, PathSegment, Serializer, bigint, charlist, from_term, to_term,
};
pub use value::{BitString, Term};

use bytes::Bytes;

/// The version byte that starts every standalone External Term Format term.
pub const VERSION_MAGIC: u8 = 131;

/// Decodes `131` followed by exactly one term, with the default [`DecodeLimits`].
/// Binaries are copied out of `input`; use [`decode_bytes`] to avoid the copy.
pub fn decode(input: &[u8]) -> Result<Term, DecodeError> {
    decode::decode_slice(input, &DecodeLimits::default())
}

/// Decodes `131` followed by exactly one term without copying: binaries, bit
/// strings, local funs and `LOCAL_EXT` terms are slices of `input`.
pub fn decode_bytes(input: &Bytes) -> Result<Term, DecodeError> {
    Decoder::default().decode(input)
}

/// Encodes `131` followed by `term`, byte for byte as OTP does.
pub fn encode(term: &Term) -> Result<Vec<u8>, EncodeError> {
    // Growing the vector costs less than walking the term twice (large
    // binaries reserve their exact size when they are appended).
    let mut out = Vec::with_capacity(256);
    encode_into(term, &mut out)?;
    Ok(out)
}

/// Appends `131` followed by `term` to `sink`.
pub fn encode_into<S: EncodeSink + ?Sized>(term: &Term, sink: &mut S) -> Result<(), EncodeError> {
    sink.put_u8(VERSION_MAGIC);
    encode::encode_term(term, sink)
}

/// Appends `term` without the leading `131`, as the distribution header format needs.
pub fn encode_bare_into<S: EncodeSink + ?Sized>(term: &Term, sink: &mut S) -> Result<(), EncodeError> {
    encode::encode_term(term, sink)
}

/// Piecewise encoders: write one element of a larger term without building
/// the term first (the distribution layer writes control tuples this way,
/// with no allocation). Each writes exactly what [`encode_bare_into`] would
/// write for the corresponding [`Term`].
pub mod piecewise {
    use super::{Atom, EncodeError, EncodeSink, Pid, Reference, encode};

    /// A tuple header for `arity` elements; the elements follow.
    pub fn tuple_header<S: EncodeSink + ?Sized>(arity: usize, sink: &mut S) -> Result<(), EncodeError> {
        encode::encode_tuple_header(arity, sink)
    }

    /// An integer.
    pub fn int<S: EncodeSink + ?Sized>(i: i64, sink: &mut S) {
        encode::encode_int_public(i, sink)
    }

    /// An atom.
    pub fn atom<S: EncodeSink + ?Sized>(a: &Atom, sink: &mut S) {
        encode::encode_atom(a, sink)
    }

    /// A pid.
    pub fn pid<S: EncodeSink + ?Sized>(p: &Pid, sink: &mut S) {
        encode::encode_pid(p, sink)
    }

    /// A reference.
    pub fn reference<S: EncodeSink + ?Sized>(r: &Reference, sink: &mut S) {
        encode::encode_reference(r, sink)
    }
}

/// Encodes like `term_to_binary(Term, [{compressed, Level}])`: `131`, then tag
/// `80`, the uncompressed size and a zlib stream, but only when that is smaller
/// than the plain encoding (OTP's rule); otherwise the plain encoding. Level 0
/// never compresses; levels above 9 are treated as 9.
pub fn encode_compressed(term: &Term, level: u32) -> Result<Vec<u8>, EncodeError> {
    encode::encode_compressed(term, level)
}

/// The exact length of what [`encode_bare_into`] writes for `term` (add 1 for
/// the version byte). Walks the term; allocates nothing.
pub fn encoded_len(term: &Term) -> usize {
    encode::encoded_len(term)
}

/// Parses one term in Erlang syntax, e.g. `{ok, [1, 2], <<"x">>, #{a => 1}}`,
/// optionally followed by a full stop.
pub fn parse(text: &str) -> Result<Term, ParseError> {
    parse::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{atom, list, map, tuple};

    #[test]
    fn small_map_keys_are_written_in_otp_25_order() {
        // term_to_binary(#{1.0 => a, 2 => b, a => c, {1} => d}, [{minor_version, 2}]) in OTP 25.
        let t = map! {Term::float(1.0).unwrap() => atom!("a"), 2 => atom!("b"), atom!("a") => atom!("c"), tuple![1] => atom!("d")};
        let want = [
            131, 116, 0, 0, 0, 4, 97, 2, 119, 1, 98, 70, 63, 240, 0, 0, 0, 0, 0, 0, 119, 1, 97, 119, 1, 97, 119, 1, 99,
            104, 1, 97, 1, 119, 1, 100,
        ];
        assert_eq!(encode(&t).unwrap(), want);
        assert_eq!(decode(&want).unwrap(), t);
    }

    #[test]
    fn macros_and_roundtrip() {
        let t = tuple![atom!("ok"), list![1, 2, 3], Term::binary(&b"bin"[..]), map! {atom!("a") => 1}];
        assert_eq!(t.to_string(), r#"{ok,[1,2,3],<<"bin">>,#{a => 1}}"#);
        let bytes = encode(&t).unwrap();
        assert_eq!(bytes.len(), 1 + encoded_len(&t));
        assert_eq!(decode(&bytes).unwrap(), t);
        assert_eq!(decode_bytes(&Bytes::from(bytes)).unwrap(), t);
        assert_eq!(parse(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn compressed_follows_otp_size_rule() {
        let t = Term::List(vec![Term::Int(0); 100]);
        let c = encode_compressed(&t, 6).unwrap();
        assert_eq!(&c[..6], &[131, 80, 0, 0, 0, 103]);
        assert_eq!(decode(&c).unwrap(), t);
        // [1,2] does not shrink: OTP keeps it plain.
        let small = list![1, 2];
        assert_eq!(encode_compressed(&small, 6).unwrap(), vec![131, 107, 0, 2, 1, 2]);
        assert_eq!(encode_compressed(&t, 0).unwrap(), encode(&t).unwrap());
    }
}
