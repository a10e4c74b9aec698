//! The encoder: [`Term`] to OTP-identical External Term Format bytes.

use bytes::{BufMut, Bytes, BytesMut};
use num_bigint::{BigInt, Sign};

use super::tags;
use super::{Atom, Fun, Term, VERSION_MAGIC};

/// Where encoded bytes go. Implemented for `Vec<u8>` and `BytesMut`; a sink
/// that keeps large binaries as separate chunks (for vectored writes) can
/// override [`EncodeSink::put_bytes`] to avoid copying them.
pub trait EncodeSink {
    /// Appends one byte.
    fn put_u8(&mut self, b: u8);
    /// Appends bytes.
    fn put_slice(&mut self, s: &[u8]);
    /// Appends the contents of a binary; by default a copy.
    fn put_bytes(&mut self, b: &Bytes) {
        self.put_slice(b)
    }
}

impl EncodeSink for Vec<u8> {
    #[inline]
    fn put_u8(&mut self, b: u8) {
        self.push(b)
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s)
    }
}

impl EncodeSink for BytesMut {
    #[inline]
    fn put_u8(&mut self, b: u8) {
        BufMut::put_u8(self, b)
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s)
    }
}

/// A term that has no External Term Format encoding. Output already written
/// to the sink when this is returned is incomplete and should be discarded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A float that is NaN or infinite (built without [`Term::float`]).
    #[error("float {0} is not finite; Erlang has no NaN or infinity")]
    NonFiniteFloat(f64),
    /// A binary, tuple, list or map with more than 2^32 - 1 elements or bytes.
    #[error("{what} of length {len} is too long for the External Term Format")]
    TooLong {
        /// Which kind of term.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A bit string whose bit count is not 1 to 7, or that has no bytes.
    #[error("bit string with {bits} bits in its last byte and {len} bytes is invalid")]
    BadBitString {
        /// The bit count.
        bits: u8,
        /// The byte length.
        len: usize,
    },
    /// A bignum of more than 2^32 - 1 bytes.
    #[error("integer too large to encode")]
    BignumTooLarge,
}

fn len32(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })
}

#[inline]
fn put_u16<S: EncodeSink + ?Sized>(s: &mut S, v: u16) {
    s.put_slice(&v.to_be_bytes())
}

#[inline]
fn put_u32<S: EncodeSink + ?Sized>(s: &mut S, v: u32) {
    s.put_slice(&v.to_be_bytes())
}

/// True when a proper list is written as `STRING_EXT`: 1 to 65535 integers in 0..=255.
fn is_byte_string(elements: &[Term]) -> bool {
    !elements.is_empty()
        && elements.len() <= 0xFFFF
        && elements.iter().all(|e| matches!(e, Term::Int(i) if (0..=255).contains(i)))
}

pub(crate) fn encode_term<S: EncodeSink + ?Sized>(term: &Term, s: &mut S) -> Result<(), EncodeError> {
    match term {
        Term::Int(i) => encode_int(*i, s),
        Term::BigInt(b) => encode_bigint(b, s)?,
        Term::Float(f) => {
            if !f.is_finite() {
                return Err(EncodeError::NonFiniteFloat(*f));
            }
            s.put_u8(tags::NEW_FLOAT);
            s.put_slice(&f.to_bits().to_be_bytes());
        }
        Term::Atom(a) => encode_atom(a, s),
        Term::Binary(b) => {
            let n = len32("binary", b.len())?;
            s.put_u8(tags::BINARY);
            put_u32(s, n);
            s.put_bytes(b);
        }
        Term::BitString(b) => {
            if b.bytes.is_empty() || !(1..=7).contains(&b.bits) {
                return Err(EncodeError::BadBitString { bits: b.bits, len: b.bytes.len() });
            }
            let n = len32("bit string", b.bytes.len())?;
            s.put_u8(tags::BIT_BINARY);
            put_u32(s, n);
            s.put_u8(b.bits);
            s.put_bytes(&b.bytes);
        }
        Term::Pid(p) => encode_pid(p, s),
        Term::Port(p) => match u32::try_from(p.id) {
            Ok(id) => {
                s.put_u8(tags::NEW_PORT);
                encode_atom(&p.node, s);
                put_u32(s, id);
                put_u32(s, p.creation);
            }
            Err(_) => {
                s.put_u8(tags::V4_PORT);
                encode_atom(&p.node, s);
                s.put_slice(&p.id.to_be_bytes());
                put_u32(s, p.creation);
            }
        },
        Term::Ref(r) => encode_reference(r, s),
        Term::Fun(f) => match &**f {
            Fun::Export(e) => {
                s.put_u8(tags::EXPORT);
                encode_atom(&e.module, s);
                encode_atom(&e.function, s);
                s.put_u8(tags::SMALL_INTEGER);
                s.put_u8(e.arity);
            }
            Fun::Local(l) => s.put_bytes(&l.encoded),
        },
        Term::Tuple(t) => {
            if t.len() <= 255 {
                s.put_u8(tags::SMALL_TUPLE);
                s.put_u8(t.len() as u8);
            } else {
                let n = len32("tuple", t.len())?;
                s.put_u8(tags::LARGE_TUPLE);
                put_u32(s, n);
            }
            encode_elements(t, s)?;
        }
        Term::List(l) => {
            if l.is_empty() {
                s.put_u8(tags::NIL);
            } else if is_byte_string(l) {
                s.put_u8(tags::STRING);
                put_u16(s, l.len() as u16);
                for e in l {
                    if let Term::Int(i) = e {
                        s.put_u8(*i as u8);
                    }
                }
            } else {
                let n = len32("list", l.len())?;
                s.put_u8(tags::LIST);
                put_u32(s, n);
                encode_elements(l, s)?;
                s.put_u8(tags::NIL);
            }
        }
        Term::ImproperList(l, tail) => {
            if !l.is_empty() {
                let n = len32("list", l.len())?;
                s.put_u8(tags::LIST);
                put_u32(s, n);
                encode_elements(l, s)?;
            }
            encode_term(tail, s)?;
        }
        Term::Map(m) => {
            let n = len32("map", m.len())?;
            s.put_u8(tags::MAP);
            put_u32(s, n);
            for (k, v) in m.iter() {
                encode_term(k, s)?;
                encode_term(v, s)?;
            }
        }
        Term::Local(b) => s.put_bytes(b),
    }
    Ok(())
}

/// Encodes tuple or list elements, with integers (the most common element) inline.
#[inline]
fn encode_elements<S: EncodeSink + ?Sized>(elems: &[Term], s: &mut S) -> Result<(), EncodeError> {
    for e in elems {
        match e {
            Term::Int(i) => encode_int(*i, s),
            other => encode_term(other, s)?,
        }
    }
    Ok(())
}

/// The encoded length of tuple or list elements.
#[inline]
fn elements_len(elems: &[Term]) -> usize {
    elems
        .iter()
        .map(|e| match e {
            Term::Int(i) => int_len(*i),
            other => encoded_len(other),
        })
        .sum()
}

#[inline]
fn encode_int<S: EncodeSink + ?Sized>(i: i64, s: &mut S) {
    if (0..=255).contains(&i) {
        s.put_slice(&[tags::SMALL_INTEGER, i as u8]);
    } else if let Ok(v) = i32::try_from(i) {
        let b = v.to_be_bytes();
        s.put_slice(&[tags::INTEGER, b[0], b[1], b[2], b[3]]);
    } else {
        let mag = i.unsigned_abs();
        let n = 8 - (mag.leading_zeros() / 8) as usize;
        s.put_u8(tags::SMALL_BIG);
        s.put_u8(n as u8);
        s.put_u8(u8::from(i < 0));
        s.put_slice(&mag.to_le_bytes()[..n]);
    }
}

fn encode_bigint<S: EncodeSink + ?Sized>(b: &BigInt, s: &mut S) -> Result<(), EncodeError> {
    if let Ok(i) = i64::try_from(b) {
        encode_int(i, s);
        return Ok(());
    }
    let (sign, mag) = b.to_bytes_le();
    if mag.len() <= 255 {
        s.put_u8(tags::SMALL_BIG);
        s.put_u8(mag.len() as u8);
    } else {
        let n = u32::try_from(mag.len()).map_err(|_| EncodeError::BignumTooLarge)?;
        s.put_u8(tags::LARGE_BIG);
        put_u32(s, n);
    }
    s.put_u8(u8::from(sign == Sign::Minus));
    s.put_slice(&mag);
    Ok(())
}

#[inline]
pub(crate) fn encode_pid<S: EncodeSink + ?Sized>(p: &super::Pid, s: &mut S) {
    s.put_u8(tags::NEW_PID);
    encode_atom(&p.node, s);
    put_u32(s, p.id);
    put_u32(s, p.serial);
    put_u32(s, p.creation);
}

pub(crate) fn encode_reference<S: EncodeSink + ?Sized>(r: &super::Reference, s: &mut S) {
    s.put_u8(tags::NEWER_REFERENCE);
    put_u16(s, r.id().len() as u16);
    encode_atom(&r.node, s);
    put_u32(s, r.creation);
    for w in r.id() {
        put_u32(s, *w);
    }
}

pub(crate) fn encode_tuple_header<S: EncodeSink + ?Sized>(arity: usize, s: &mut S) -> Result<(), EncodeError> {
    if arity <= 255 {
        s.put_u8(tags::SMALL_TUPLE);
        s.put_u8(arity as u8);
    } else {
        s.put_u8(tags::LARGE_TUPLE);
        put_u32(s, len32("tuple", arity)?);
    }
    Ok(())
}

pub(crate) fn encode_int_public<S: EncodeSink + ?Sized>(i: i64, s: &mut S) {
    encode_int(i, s)
}

pub(crate) fn encode_atom<S: EncodeSink + ?Sized>(a: &Atom, s: &mut S) {
    let text = a.as_str().as_bytes();
    if text.len() <= 255 {
        s.put_u8(tags::SMALL_ATOM_UTF8);
        s.put_u8(text.len() as u8);
    } else {
        // At most 255 characters of at most 4 bytes each: fits in 16 bits.
        s.put_u8(tags::ATOM_UTF8);
        put_u16(s, text.len() as u16);
    }
    s.put_slice(text);
}

#[inline]
fn int_len(i: i64) -> usize {
    if (0..=255).contains(&i) {
        2
    } else if i32::try_from(i).is_ok() {
        5
    } else {
        3 + 8 - (i.unsigned_abs().leading_zeros() / 8) as usize
    }
}

fn atom_len(a: &Atom) -> usize {
    let n = a.as_str().len();
    if n <= 255 { 2 + n } else { 3 + n }
}

pub(crate) fn encoded_len(term: &Term) -> usize {
    match term {
        Term::Int(i) => int_len(*i),
        Term::BigInt(b) => match i64::try_from(&**b) {
            Ok(i) => int_len(i),
            Err(_) => {
                let n = (b.bits() as usize).div_ceil(8);
                if n <= 255 { 3 + n } else { 6 + n }
            }
        },
        Term::Float(_) => 9,
        Term::Atom(a) => atom_len(a),
        Term::Binary(b) => 5 + b.len(),
        Term::BitString(b) => 6 + b.bytes.len(),
        Term::Pid(p) => 1 + atom_len(&p.node) + 12,
        Term::Port(p) => 1 + atom_len(&p.node) + if p.id <= u64::from(u32::MAX) { 8 } else { 12 },
        Term::Ref(r) => 3 + atom_len(&r.node) + 4 + 4 * r.id().len(),
        Term::Fun(f) => match &**f {
            Fun::Export(e) => 1 + atom_len(&e.module) + atom_len(&e.function) + 2,
            Fun::Local(l) => l.encoded.len(),
        },
        Term::Tuple(t) => (if t.len() <= 255 { 2 } else { 5 }) + elements_len(t),
        Term::List(l) => {
            if l.is_empty() {
                1
            } else if is_byte_string(l) {
                3 + l.len()
            } else {
                6 + elements_len(l)
            }
        }
        Term::ImproperList(l, tail) => (if l.is_empty() { 0 } else { 5 + elements_len(l) }) + encoded_len(tail),
        Term::Map(m) => 5 + m.iter().map(|(k, v)| encoded_len(k) + encoded_len(v)).sum::<usize>(),
        Term::Local(b) => b.len(),
    }
}

pub(crate) fn encode_compressed(term: &Term, level: u32) -> Result<Vec<u8>, EncodeError> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut plain = Vec::with_capacity(256);
    plain.push(VERSION_MAGIC);
    encode_term(term, &mut plain)?;
    let real_size = plain.len() - 1;
    // OTP gives zlib an output buffer of real_size - 5 bytes and keeps the
    // plain encoding when the compressed stream does not fit in it.
    if level == 0 || real_size < 5 || u32::try_from(real_size).is_err() {
        return Ok(plain);
    }
    let room = real_size - 5;
    let mut z = Compress::new(Compression::new(level.min(9)), true);
    let mut out = Vec::with_capacity(6 + room);
    out.extend_from_slice(&[VERSION_MAGIC, tags::COMPRESSED]);
    out.extend_from_slice(&(real_size as u32).to_be_bytes());
    let limit = 6 + room;
    loop {
        let consumed = z.total_in() as usize;
        let status = match z.compress_vec(&plain[1 + consumed..], &mut out, FlushCompress::Finish) {
            Ok(s) => s,
            Err(_) => return Ok(plain),
        };
        match status {
            Status::StreamEnd => break,
            _ if out.len() >= limit => return Ok(plain),
            _ => {}
        }
    }
    if out.len() > limit {
        return Ok(plain);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::term::{Term, encode, encoded_len};
    use num_bigint::BigInt;

    #[test]
    fn integers_pick_otps_tags() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[131, 97, 0]),
            (255, &[131, 97, 255]),
            (256, &[131, 98, 0, 0, 1, 0]),
            (-1, &[131, 98, 255, 255, 255, 255]),
            (1 << 31, &[131, 110, 4, 0, 0, 0, 0, 128]),
            (-(1 << 31) - 1, &[131, 110, 4, 1, 1, 0, 0, 128]),
            (i64::MIN, &[131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128]),
        ];
        for (i, want) in cases {
            assert_eq!(encode(&Term::from(*i)).unwrap(), *want, "{i}");
            assert_eq!(encoded_len(&Term::from(*i)) + 1, want.len());
        }
        let big = Term::from_bigint(BigInt::from(1) << 2040);
        let bytes = encode(&big).unwrap();
        assert_eq!(&bytes[..7], &[131, 111, 0, 0, 1, 0, 0]);
        assert_eq!(encoded_len(&big) + 1, bytes.len());
    }

    #[test]
    fn lists_strings_and_atoms() {
        assert_eq!(encode(&Term::string("ab")).unwrap(), [131, 107, 0, 2, 97, 98]);
        assert_eq!(encode(&Term::nil()).unwrap(), [131, 106]);
        assert_eq!(encode(&Term::list(vec![Term::from(256)])).unwrap(), [131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 0, 106]);
        assert_eq!(encode(&Term::atom("ok")).unwrap(), [131, 119, 2, b'o', b'k']);
        let wide = Term::atom(&"\u{539f}".repeat(100));
        assert_eq!(&encode(&wide).unwrap()[..4], &[131, 118, 1, 44]);
    }
}
