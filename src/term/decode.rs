//! The bounded decoder: untrusted bytes to [`Term`].
//!
//! Every length field is checked against the bytes that remain and against
//! the [`DecodeLimits`] before anything is allocated for it; nesting is
//! bounded by [`DecodeLimits::max_depth`] (list tails are followed in a loop,
//! not by recursion); nothing panics on any input.
//!
//! `LOCAL_EXT` (121, written by OTP 26+ for `term_to_binary(T, [local])` and
//! never sent between nodes) is read as the tag followed by one term, and kept
//! as opaque bytes; OTP 25 cannot produce it, so that layout is not checked
//! against a real node.

use bytes::Bytes;
use num_bigint::{BigInt, Sign};

use super::error::{DecodeError, DecodeErrorKind as K};
use super::tags;
use super::{Atom, AtomTable, BitString, ExportFun, Fun, LocalFun, Map, Pid, Port, Reference, Term, VERSION_MAGIC};

/// Limits that bound what decoding untrusted input can cost.
///
/// ```
/// use beamlink::term::{DecodeLimits, Decoder};
/// let limits = DecodeLimits { max_depth: 64, ..DecodeLimits::default() };
/// let mut decoder = Decoder::new(limits);
/// assert!(decoder.decode(&bytes::Bytes::from_static(&[131, 97, 1])).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The deepest nesting of tuples, lists (as elements), maps and
    /// `LOCAL_EXT` wrappers. Default 512: far beyond what real messages use
    /// (OTP's own control messages nest a few levels), and small enough that
    /// the recursion of decoding, and of encoding, printing, parsing,
    /// comparing and dropping the result, stays inside a 2 MiB tokio worker
    /// stack. Measured in an unoptimised build (the largest frames), one level
    /// of decoding costs about 2.6 KiB of stack, so 512 levels take about
    /// 1.3 MiB; a test runs all of those operations at this depth on a 2 MiB
    /// thread. Nested list *tails* are followed in a loop and cost no depth.
    pub max_depth: usize,
    /// The most memory the decoded term may occupy, estimated as
    /// `size_of::<Term>()` per term plus the bytes of every binary, atom,
    /// bignum and opaque fun (zero-copy slices of the input count too).
    /// Default 256 MiB: room for a 64 MiB binary and lists of millions of
    /// elements, while one message can never take more than a bounded share of
    /// memory. The distribution layer may set it from its own message limit.
    pub max_decoded_bytes: usize,
    /// The longest bignum, in bytes. Default 16 KiB (131,072 bits, about
    /// 39,000 decimal digits): far beyond any legitimate use (RSA moduli are
    /// 512 bytes), and small enough that arithmetic and printing on the
    /// result stay cheap.
    pub max_bignum_bytes: usize,
    /// The largest declared uncompressed size of a compressed term (tag 80).
    /// Default 64 MiB; the inflater stops as soon as output exceeds the
    /// declared size, so a zip bomb costs at most this much.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            max_depth: 512,
            max_decoded_bytes: 256 << 20,
            max_bignum_bytes: 16 << 10,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// A decoder with limits and an optional per-connection [`AtomTable`].
///
/// ```
/// use beamlink::term::{AtomTable, Decoder, Term};
/// let mut decoder = Decoder::default().with_atom_table(AtomTable::new(10_000));
/// let input = bytes::Bytes::from_static(&[131, 119, 2, b'o', b'k']);
/// assert_eq!(decoder.decode(&input).unwrap(), Term::atom("ok"));
/// assert_eq!(decoder.atom_table().unwrap().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    limits: DecodeLimits,
    atoms: Option<AtomTable>,
}

impl Decoder {
    /// A decoder with `limits` and no atom table.
    pub fn new(limits: DecodeLimits) -> Decoder {
        Decoder { limits, atoms: None }
    }

    /// Interns atoms in `table` (and enforces its budget of distinct atoms).
    pub fn with_atom_table(mut self, table: AtomTable) -> Decoder {
        self.atoms = Some(table);
        self
    }

    /// The atom table, if one was given.
    pub fn atom_table(&self) -> Option<&AtomTable> {
        self.atoms.as_ref()
    }

    /// The limits in force.
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Decodes `131` followed by exactly one term; trailing bytes are an
    /// error. Binaries are zero-copy slices of `input`.
    pub fn decode(&mut self, input: &Bytes) -> Result<Term, DecodeError> {
        let (term, used) = self.decode_prefix(input, true)?;
        if used != input.len() {
            return Err(DecodeError::new(used, K::TrailingBytes { count: input.len() - used }));
        }
        Ok(term)
    }

    /// Decodes one term at the start of `input` (after a `131` when
    /// `versioned`) and returns it with the number of bytes it used; bytes
    /// after it are left alone.
    pub fn decode_prefix(&mut self, input: &Bytes, versioned: bool) -> Result<(Term, usize), DecodeError> {
        decode_top(input, Some(input), versioned, &self.limits, self.atoms.as_mut())
    }
}

/// `decode` for a plain slice: binaries are copied.
pub(crate) fn decode_slice(input: &[u8], limits: &DecodeLimits) -> Result<Term, DecodeError> {
    let (term, used) = decode_top(input, None, true, limits, None)?;
    if used != input.len() {
        return Err(DecodeError::new(used, K::TrailingBytes { count: input.len() - used }));
    }
    Ok(term)
}

/// Deflate never expands data by more than about 1032:1; a declared size
/// beyond that ratio cannot be honest.
const MAX_INFLATE_RATIO: usize = 1032;

fn decode_top(
    buf: &[u8],
    owner: Option<&Bytes>,
    versioned: bool,
    limits: &DecodeLimits,
    atoms: Option<&mut AtomTable>,
) -> Result<(Term, usize), DecodeError> {
    let mut d = Dec {
        buf,
        pos: 0,
        owner,
        limits,
        atoms,
        budget: limits.max_decoded_bytes,
        recent: Default::default(),
        next_recent: 0,
    };
    if versioned {
        let v = d.u8()?;
        if v != VERSION_MAGIC {
            return Err(DecodeError::new(0, K::BadVersion { found: v }));
        }
    }
    if d.peek()? == tags::COMPRESSED {
        return d.compressed();
    }
    let term = d.term(0)?;
    Ok((term, d.pos))
}

struct Dec<'a, 't> {
    buf: &'a [u8],
    pos: usize,
    /// When the input is a `Bytes`, binaries are slices of it.
    owner: Option<&'a Bytes>,
    limits: &'a DecodeLimits,
    atoms: Option<&'t mut AtomTable>,
    /// Decoded bytes still allowed.
    budget: usize,
    /// The last few atoms made without a table, so that an atom repeated
    /// within one term (a node name in every pid) is allocated once.
    recent: [Option<Atom>; RECENT_ATOMS],
    next_recent: usize,
}

const RECENT_ATOMS: usize = 4;

const NODE: usize = std::mem::size_of::<Term>();

/// Pushes a decoded term onto `out`. Inside the first branch the
/// compiler knows there is room, so the term is written straight into the
/// vector instead of being built on the stack and copied (a copy that reads
/// back two fresh 8-byte stores as one 16-byte load stalls store forwarding
/// made lists of integers decode at half speed).
#[inline(always)]
#[allow(clippy::if_same_then_else)] // the branch is the point: see above
fn push_in_place(out: &mut Vec<Term>, term: Term) {
    if out.len() < out.capacity() {
        out.push(term);
    } else {
        out.push(term);
    }
}

impl<'a, 't> Dec<'a, 't> {
    fn err<T>(&self, offset: usize, kind: K) -> Result<T, DecodeError> {
        Err(DecodeError::new(offset, kind))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    fn peek(&self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(b) => Ok(*b),
            None => self.err(self.pos, K::UnexpectedEnd { needed: 1 }),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let buf: &'a [u8] = self.buf;
        match buf.get(self.pos..self.pos.wrapping_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => self.err(self.pos, K::UnexpectedEnd { needed: n - self.remaining().min(n) }),
        }
    }

    /// Takes `n` bytes named by a length field read at `field_at`.
    #[inline]
    fn take_len(&mut self, n: usize, field_at: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return self.err(field_at, K::LengthExceedsInput { length: n as u64, remaining: self.remaining() });
        }
        self.take(n)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    #[inline]
    fn charge(&mut self, bytes: usize, at: usize) -> Result<(), DecodeError> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => self.err(at, K::DecodedSizeLimit { limit: self.limits.max_decoded_bytes }),
        }
    }

    /// Checks a count of elements that need at least `min_bytes` each against
    /// the remaining input and the size budget, before anything is allocated.
    fn check_count(&self, count: usize, min_bytes: usize, field_at: usize) -> Result<(), DecodeError> {
        let need = count.saturating_mul(min_bytes);
        if need > self.remaining() {
            return self.err(field_at, K::LengthExceedsInput { length: need as u64, remaining: self.remaining() });
        }
        if count.saturating_mul(NODE) > self.budget {
            return self.err(field_at, K::DecodedSizeLimit { limit: self.limits.max_decoded_bytes });
        }
        Ok(())
    }

    fn slice_bytes(&self, s: &'a [u8]) -> Bytes {
        match self.owner {
            // `s` always lies inside `buf`, which is `owner`'s contents.
            Some(owner) => owner.slice_ref(s),
            None => Bytes::copy_from_slice(s),
        }
    }

    /// One term. Only the containers recurse; everything else is decoded in
    /// [`Dec::scalar`], out of line, so the recursive frames stay small.
    fn term(&mut self, depth: usize) -> Result<Term, DecodeError> {
        let at = self.pos;
        if depth > self.limits.max_depth {
            return self.err(at, K::DepthLimit { limit: self.limits.max_depth });
        }
        self.charge(NODE, at)?;
        let tag = self.u8()?;
        match tag {
            tags::SMALL_INTEGER => Ok(Term::Int(i64::from(self.u8()?))),
            tags::SMALL_TUPLE => {
                let n = usize::from(self.u8()?);
                self.tuple(n, depth, at + 1)
            }
            tags::LARGE_TUPLE => {
                let n = self.u32()? as usize;
                self.tuple(n, depth, at + 1)
            }
            tags::LIST => self.list(depth),
            tags::MAP => self.map(depth, at),
            tags::LOCAL => self.local(depth, at),
            _ => self.scalar(tag, at),
        }
    }

    /// Decodes one element straight into `out` (tuples and lists): the
    /// common small terms are built in place instead of being returned
    /// through the stack, which keeps long lists of integers and atoms fast.
    #[inline]
    fn push_term(&mut self, depth: usize, out: &mut Vec<Term>) -> Result<(), DecodeError> {
        let at = self.pos;
        match self.buf.get(at) {
            Some(&tags::SMALL_INTEGER) if self.budget >= NODE => {
                if let Some(&b) = self.buf.get(at + 1) {
                    self.budget -= NODE;
                    self.pos += 2;
                    push_in_place(out, Term::Int(i64::from(b)));
                    return Ok(());
                }
            }
            Some(&tags::INTEGER) if self.budget >= NODE => {
                if let Some(s) = self.buf.get(at + 1..at + 5) {
                    self.budget -= NODE;
                    self.pos += 5;
                    push_in_place(out, Term::Int(i64::from(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))));
                    return Ok(());
                }
            }
            _ => {}
        }
        self.push_other(depth, out)
    }

    /// [`Dec::push_term`] for everything but integers, out of line so that
    /// the integer paths stay small enough for their pushes to be inlined
    /// and write in place. Its frame is small: nested terms recurse
    /// through it.
    #[inline(never)]
    fn push_other(&mut self, depth: usize, out: &mut Vec<Term>) -> Result<(), DecodeError> {
        match self.buf.get(self.pos) {
            Some(&tag @ (tags::SMALL_ATOM_UTF8 | tags::ATOM_UTF8 | tags::BINARY)) => self.push_leaf(tag, depth, out),
            Some(&tags::SMALL_TUPLE) => self.push_small_tuple(depth, out),
            _ => {
                let t = self.term(depth)?;
                out.push(t);
                Ok(())
            }
        }
    }

    /// A small tuple, pushed in place (see [`Dec::push_leaf`]).
    #[inline(never)]
    fn push_small_tuple(&mut self, depth: usize, out: &mut Vec<Term>) -> Result<(), DecodeError> {
        let at = self.pos;
        if depth > self.limits.max_depth {
            return self.err(at, K::DepthLimit { limit: self.limits.max_depth });
        }
        self.charge(NODE, at)?;
        self.pos += 1;
        let n = usize::from(self.u8()?);
        let elements = self.tuple_elements(n, depth, at + 1)?;
        push_in_place(out, Term::Tuple(elements));
        Ok(())
    }

    /// Atoms and binaries, the other common elements, pushed in place too:
    /// a term returned through [`Dec::term`] is copied through the stack.
    /// Nothing here recurses, so nested terms need no more stack than before.
    #[inline(never)]
    fn push_leaf(&mut self, tag: u8, depth: usize, out: &mut Vec<Term>) -> Result<(), DecodeError> {
        let at = self.pos;
        if depth > self.limits.max_depth {
            return self.err(at, K::DepthLimit { limit: self.limits.max_depth });
        }
        self.charge(NODE, at)?;
        self.pos += 1;
        let term = match tag {
            tags::BINARY => Term::Binary(self.binary_body(at)?),
            _ => Term::Atom(self.atom_body(tag, at)?),
        };
        push_in_place(out, term);
        Ok(())
    }

    #[inline(never)]
    fn local(&mut self, depth: usize, at: usize) -> Result<Term, DecodeError> {
        self.term(depth + 1)?;
        let s = &self.buf[at..self.pos];
        Ok(Term::Local(self.slice_bytes(s)))
    }

    /// Every term that holds no other terms.
    #[inline(never)]
    fn scalar(&mut self, tag: u8, at: usize) -> Result<Term, DecodeError> {
        match tag {
            tags::INTEGER => Ok(Term::Int(i64::from(self.u32()? as i32))),
            tags::SMALL_BIG => {
                let n = usize::from(self.u8()?);
                self.bignum(n, at)
            }
            tags::LARGE_BIG => {
                let n = self.u32()? as usize;
                self.bignum(n, at)
            }
            tags::NEW_FLOAT => {
                let f = f64::from_bits(self.u64()?);
                if f.is_finite() { Ok(Term::Float(f)) } else { self.err(at, K::InvalidFloat) }
            }
            tags::FLOAT => self.old_float(at),
            tags::ATOM_UTF8 | tags::SMALL_ATOM_UTF8 | tags::ATOM | tags::SMALL_ATOM => {
                Ok(Term::Atom(self.atom_body(tag, at)?))
            }
            tags::NIL => Ok(Term::List(Vec::new())),
            tags::STRING => {
                let mut v = Vec::new();
                self.string_into(&mut v, at + 1)?;
                Ok(Term::List(v))
            }
            tags::BINARY => Ok(Term::Binary(self.binary_body(at)?)),
            tags::BIT_BINARY => {
                let n = self.u32()?;
                let bits = self.u8()?;
                if bits == 0 || bits > 8 || n == 0 {
                    return self.err(at, K::BadBitCount { bits, len: n });
                }
                let s = self.take_len(n as usize, at + 1)?;
                self.charge(s.len(), at)?;
                if bits == 8 {
                    return Ok(Term::Binary(self.slice_bytes(s)));
                }
                let mask = !(0xFFu8 >> bits);
                let last = s[s.len() - 1];
                let bytes = if last & mask == last {
                    self.slice_bytes(s)
                } else {
                    let mut v = s.to_vec();
                    let i = v.len() - 1;
                    v[i] = last & mask;
                    Bytes::from(v)
                };
                Ok(Term::BitString(BitString { bytes, bits }))
            }
            tags::NEW_PID | tags::PID => {
                let node = self.node_atom()?;
                let id = self.u32()?;
                let serial = self.u32()?;
                let creation = if tag == tags::NEW_PID { self.u32()? } else { u32::from(self.u8()?) };
                Ok(Term::Pid(Pid { node, id, serial, creation }))
            }
            tags::NEW_PORT | tags::V4_PORT | tags::PORT => {
                let node = self.node_atom()?;
                let id = if tag == tags::V4_PORT { self.u64()? } else { u64::from(self.u32()?) };
                let creation = if tag == tags::PORT { u32::from(self.u8()?) } else { self.u32()? };
                Ok(Term::Port(Port { node, id, creation }))
            }
            tags::NEWER_REFERENCE | tags::NEW_REFERENCE => {
                let len = self.u16()?;
                if len == 0 || usize::from(len) > super::MAX_REFERENCE_WORDS {
                    return self.err(at, K::BadReferenceLength { words: len });
                }
                let node = self.node_atom()?;
                let creation = if tag == tags::NEWER_REFERENCE { self.u32()? } else { u32::from(self.u8()?) };
                let mut words = [0u32; super::MAX_REFERENCE_WORDS];
                for w in words.iter_mut().take(usize::from(len)) {
                    *w = self.u32()?;
                }
                self.charge(std::mem::size_of::<Reference>(), at)?;
                let r = Reference::new(node, creation, &words[..usize::from(len)])
                    .ok_or(DecodeError::new(at, K::BadReferenceLength { words: len }))?;
                Ok(Term::Ref(Box::new(r)))
            }
            tags::REFERENCE => {
                let node = self.node_atom()?;
                let id = self.u32()?;
                let creation = u32::from(self.u8()?);
                self.charge(std::mem::size_of::<Reference>(), at)?;
                let r = Reference::new(node, creation, &[id])
                    .ok_or(DecodeError::new(at, K::BadReferenceLength { words: 1 }))?;
                Ok(Term::Ref(Box::new(r)))
            }
            tags::EXPORT => {
                let module = self.node_atom_named("export fun module")?;
                let function = self.node_atom_named("export fun name")?;
                if self.u8()? != tags::SMALL_INTEGER {
                    return self
                        .err(self.pos - 1, K::Malformed { what: "export fun arity (expected a small integer)" });
                }
                let arity = self.u8()?;
                self.charge(std::mem::size_of::<Fun>(), at)?;
                Ok(Term::Fun(Box::new(Fun::Export(ExportFun { module, function, arity }))))
            }
            tags::NEW_FUN => self.new_fun(at),
            tags::ATOM_CACHE_REF => self.err(at, K::AtomCacheRefNotAllowed),
            tags::DISTRIBUTION_HEADER | tags::DISTRIBUTION_HEADER_FRAGMENTED => {
                self.err(at, K::DistributionHeaderNotAllowed)
            }
            tags::COMPRESSED => self.err(at, K::MisplacedCompressed),
            _ => self.err(at, K::UnknownTag { tag }),
        }
    }

    fn bignum(&mut self, n: usize, at: usize) -> Result<Term, DecodeError> {
        if n > self.limits.max_bignum_bytes {
            return self.err(at, K::BignumTooLarge { bytes: n as u64, limit: self.limits.max_bignum_bytes });
        }
        let sign = self.u8()?;
        if sign > 1 {
            return self.err(at, K::BadBignumSign { sign });
        }
        let digits = self.take_len(n, at + 1)?;
        self.charge(n, at)?;
        if n <= 8 {
            let mut mag = 0u64;
            for (i, b) in digits.iter().enumerate() {
                mag |= u64::from(*b) << (8 * i);
            }
            if sign == 0 {
                if let Ok(i) = i64::try_from(mag) {
                    return Ok(Term::Int(i));
                }
            } else if mag <= 1u64 << 63 {
                return Ok(Term::Int((mag as i64).wrapping_neg()));
            }
        }
        let s = if sign == 0 { Sign::Plus } else { Sign::Minus };
        Ok(Term::from_bigint(BigInt::from_bytes_le(s, digits)))
    }

    fn old_float(&mut self, at: usize) -> Result<Term, DecodeError> {
        let s = self.take(31)?;
        let end = s.iter().position(|b| *b == 0).unwrap_or(31);
        let text = std::str::from_utf8(&s[..end]).map_err(|_| DecodeError::new(at, K::InvalidFloat))?;
        match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Term::Float(f)),
            _ => self.err(at, K::InvalidFloat),
        }
    }

    /// The body of an atom whose tag (at `at`) has been read.
    fn atom_body(&mut self, tag: u8, at: usize) -> Result<Atom, DecodeError> {
        let len = match tag {
            tags::SMALL_ATOM_UTF8 | tags::SMALL_ATOM => usize::from(self.u8()?),
            _ => usize::from(self.u16()?),
        };
        let bytes = self.take_len(len, at + 1)?;
        let latin1 = matches!(tag, tags::ATOM | tags::SMALL_ATOM);
        if latin1 {
            if len > super::MAX_ATOM_CHARS {
                return self.err(at, K::AtomTooLong { chars: len });
            }
            if bytes.is_ascii() {
                // ASCII is valid UTF-8.
                let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::new(at, K::InvalidAtomUtf8))?;
                return self.make_atom(text, at);
            }
            let text: String = bytes.iter().map(|b| char::from(*b)).collect();
            return self.make_atom(&text, at);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::new(at, K::InvalidAtomUtf8))?;
        if len > super::MAX_ATOM_CHARS {
            let chars = text.chars().count();
            if chars > super::MAX_ATOM_CHARS {
                return self.err(at, K::AtomTooLong { chars });
            }
        }
        self.make_atom(text, at)
    }

    fn make_atom(&mut self, text: &str, at: usize) -> Result<Atom, DecodeError> {
        match self.atoms.as_deref_mut() {
            Some(table) => table
                .intern(text)
                .map_err(|e| DecodeError::new(at, K::AtomBudgetExceeded { limit: e.limit, budget: e.budget })),
            None => {
                for a in self.recent.iter().flatten() {
                    if a.as_str() == text {
                        return Ok(a.clone());
                    }
                }
                self.charge(text.len(), at)?;
                let atom = Atom::new_unchecked(text);
                self.recent[self.next_recent % RECENT_ATOMS] = Some(atom.clone());
                self.next_recent = self.next_recent.wrapping_add(1);
                Ok(atom)
            }
        }
    }

    /// An atom field inside a pid, port or reference.
    fn node_atom(&mut self) -> Result<Atom, DecodeError> {
        self.node_atom_named("node name (expected an atom)")
    }

    fn node_atom_named(&mut self, what: &'static str) -> Result<Atom, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        match tag {
            tags::ATOM_UTF8 | tags::SMALL_ATOM_UTF8 | tags::ATOM | tags::SMALL_ATOM => self.atom_body(tag, at),
            tags::ATOM_CACHE_REF => self.err(at, K::AtomCacheRefNotAllowed),
            _ => self.err(at, K::Malformed { what }),
        }
    }

    /// The body of a `BINARY_EXT` whose tag (at `at`) has been read.
    fn binary_body(&mut self, at: usize) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        let s = self.take_len(n, at + 1)?;
        self.charge(n, at)?;
        Ok(self.slice_bytes(s))
    }

    fn tuple(&mut self, n: usize, depth: usize, field_at: usize) -> Result<Term, DecodeError> {
        Ok(Term::Tuple(self.tuple_elements(n, depth, field_at)?))
    }

    fn tuple_elements(&mut self, n: usize, depth: usize, field_at: usize) -> Result<Vec<Term>, DecodeError> {
        self.check_count(n, 1, field_at)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            self.push_term(depth + 1, &mut v)?;
        }
        Ok(v)
    }

    /// Appends the bytes of a `STRING_EXT` body (the tag already read) as integers.
    fn string_into(&mut self, v: &mut Vec<Term>, field_at: usize) -> Result<(), DecodeError> {
        let n = usize::from(self.u16()?);
        let s = self.take_len(n, field_at)?;
        self.charge(n.saturating_mul(NODE), field_at)?;
        v.reserve(n);
        v.extend(s.iter().map(|b| Term::Int(i64::from(*b))));
        Ok(())
    }

    /// `LIST_EXT`, with tails that are themselves lists followed in a loop.
    fn list(&mut self, depth: usize) -> Result<Term, DecodeError> {
        let mut v: Vec<Term> = Vec::new();
        loop {
            let field_at = self.pos;
            let n = self.u32()? as usize;
            // Each element takes at least one byte, and so does the tail.
            self.check_count(n, 1, field_at)?;
            if n >= self.remaining() {
                return self.err(field_at, K::LengthExceedsInput { length: n as u64 + 1, remaining: self.remaining() });
            }
            v.reserve(n);
            for _ in 0..n {
                self.push_term(depth + 1, &mut v)?;
            }
            let tail_at = self.pos;
            match self.peek()? {
                tags::NIL => {
                    self.pos += 1;
                    return Ok(Term::List(v));
                }
                tags::LIST => {
                    self.pos += 1;
                }
                tags::STRING => {
                    self.pos += 1;
                    self.string_into(&mut v, tail_at + 1)?;
                    return Ok(Term::List(v));
                }
                _ => {
                    let tail = self.term(depth + 1)?;
                    return Ok(if v.is_empty() { tail } else { Term::ImproperList(v, Box::new(tail)) });
                }
            }
        }
    }

    fn map(&mut self, depth: usize, at: usize) -> Result<Term, DecodeError> {
        let field_at = self.pos;
        let n = self.u32()? as usize;
        self.check_count(n, 2, field_at)?;
        if n.saturating_mul(2 * NODE) > self.budget {
            return self.err(field_at, K::DecodedSizeLimit { limit: self.limits.max_decoded_bytes });
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.term(depth + 1)?;
            let v = self.term(depth + 1)?;
            entries.push((k, v));
        }
        let sorted = entries.windows(2).all(|w| super::order::key_cmp(&w[0].0, &w[1].0).is_lt());
        if !sorted {
            entries.sort_by(|a, b| super::order::key_cmp(&a.0, &b.0));
            if entries.windows(2).any(|w| super::order::key_cmp(&w[0].0, &w[1].0).is_eq()) {
                return self.err(at, K::DuplicateMapKey);
            }
        }
        Ok(Term::Map(Map::from_sorted_unique(entries)))
    }

    /// `NEW_FUN_EXT`: kept opaque, with the fields needed to name it read out.
    fn new_fun(&mut self, at: usize) -> Result<Term, DecodeError> {
        let field_at = self.pos;
        let size = self.u32()? as usize;
        // Size counts itself; after it: arity 1, uniq 16, index 4, num_free 4, then the module atom.
        const FIXED: usize = 4 + 1 + 16 + 4 + 4;
        if size < FIXED + 2 {
            return self.err(field_at, K::Malformed { what: "fun (size field too small)" });
        }
        if size - 4 > self.remaining() {
            return self.err(field_at, K::LengthExceedsInput { length: size as u64, remaining: self.remaining() + 4 });
        }
        let end = field_at + size;
        let arity = self.u8()?;
        let mut uniq = [0u8; 16];
        uniq.copy_from_slice(self.take(16)?);
        let index = self.u32()?;
        let _num_free = self.u32()?;
        let module = self.node_atom_named("fun module (expected an atom)")?;
        if self.pos > end {
            return self.err(field_at, K::Malformed { what: "fun (size field smaller than its contents)" });
        }
        self.pos = end;
        self.charge(size + std::mem::size_of::<Fun>(), at)?;
        let encoded = self.slice_bytes(&self.buf[at..end]);
        Ok(Term::Fun(Box::new(Fun::Local(LocalFun { encoded, module, arity, index, uniq }))))
    }

    /// A compressed term at the top level: inflate (bounded), then decode the inside.
    fn compressed(&mut self) -> Result<(Term, usize), DecodeError> {
        let at = self.pos;
        self.pos += 1;
        let declared = self.u32()? as usize;
        if declared > self.limits.max_decompressed_bytes {
            return self.err(
                at,
                K::DecompressedTooLarge { declared: declared as u64, limit: self.limits.max_decompressed_bytes },
            );
        }
        let data_at = self.pos;
        let data = &self.buf[data_at..];
        if declared > data.len().saturating_mul(MAX_INFLATE_RATIO).saturating_add(64) {
            return self.err(at, K::DecompressedSizeMismatch { declared, actual: 0 });
        }
        let (inflated, used) = inflate(data, declared).map_err(|kind| DecodeError::new(data_at, kind))?;
        let inflated = Bytes::from(inflated);
        let mut inner = Dec {
            buf: &inflated,
            pos: 0,
            owner: Some(&inflated),
            limits: self.limits,
            atoms: self.atoms.as_deref_mut(),
            budget: self.budget,
            recent: Default::default(),
            next_recent: 0,
        };
        let term = inner.term(0)?;
        if inner.pos != inflated.len() {
            return Err(DecodeError::new(inner.pos, K::TrailingBytes { count: inflated.len() - inner.pos }));
        }
        Ok((term, data_at + used))
    }
}

/// Inflates a zlib stream that must produce exactly `declared` bytes; returns
/// the output and the number of input bytes the stream used.
fn inflate(data: &[u8], declared: usize) -> Result<(Vec<u8>, usize), K> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut z = Decompress::new(true);
    // One spare byte shows whether the stream goes on past the declared size.
    let mut out = Vec::with_capacity(declared + 1);
    loop {
        let before_in = z.total_in();
        let before_out = z.total_out();
        let input = &data[z.total_in() as usize..];
        let status = z
            .decompress_vec(input, &mut out, FlushDecompress::Finish)
            .map_err(|e| K::DecompressFailed { reason: e.to_string() })?;
        if out.len() > declared {
            return Err(K::DecompressedSizeMismatch { declared, actual: out.len() });
        }
        match status {
            Status::StreamEnd => break,
            _ if z.total_in() == before_in && z.total_out() == before_out => {
                return Err(if (z.total_in() as usize) >= data.len() {
                    K::DecompressFailed { reason: "zlib stream is truncated".into() }
                } else {
                    K::DecompressFailed { reason: "zlib stream makes no progress".into() }
                });
            }
            _ => {}
        }
    }
    if out.len() != declared {
        return Err(K::DecompressedSizeMismatch { declared, actual: out.len() });
    }
    Ok((out, z.total_in() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_tags_decode_to_current_values() {
        // PID_EXT, PORT_EXT, REFERENCE_EXT, NEW_REFERENCE_EXT with 1-byte creations.
        let pid = [131, 103, 100, 0, 3, b'a', b'@', b'h', 0, 0, 0, 7, 0, 0, 0, 1, 2];
        assert_eq!(crate::term::decode(&pid).unwrap(), Term::Pid(Pid::new(Atom::new("a@h"), 7, 1, 2)));
        let port = [131, 102, 115, 1, b'n', 0, 0, 0, 5, 3];
        assert_eq!(crate::term::decode(&port).unwrap(), Term::Port(Port { node: Atom::new("n"), id: 5, creation: 3 }));
        let old_ref = [131, 101, 115, 1, b'n', 0, 0, 0, 9, 1];
        let r = crate::term::decode(&old_ref).unwrap();
        assert_eq!(r.as_reference().unwrap().id(), &[9]);
        let new_ref = [131, 114, 0, 2, 119, 1, b'n', 1, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(crate::term::decode(&new_ref).unwrap().as_reference().unwrap().id(), &[1, 2]);
    }

    #[test]
    fn elements_built_in_place_keep_the_depth_limit_and_the_budget() {
        let limits = DecodeLimits { max_depth: 1, ..DecodeLimits::default() };
        // `[[X]]` puts X at depth 2; `[X]` at depth 1.
        let atom: &[u8] = &[119, 1, b'a'];
        let binary: &[u8] = &[109, 0, 0, 0, 1, 7];
        let tuple: &[u8] = &[104, 0];
        for x in [atom, binary, tuple] {
            let shallow = [&[131, 108, 0, 0, 0, 1][..], x, &[106]].concat();
            assert!(decode_slice(&shallow, &limits).is_ok(), "{x:?} at depth 1");
            let deep = [&[131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1][..], x, &[106, 106]].concat();
            let e = decode_slice(&deep, &limits).unwrap_err();
            assert!(matches!(e.kind, K::DepthLimit { limit: 1 }), "{x:?} at depth 2: {e}");
            assert_eq!(e.offset, 11, "{x:?}: the offset of the element");
        }
        // The size budget counts them like any term: one list of 1,000 atoms
        // is refused under a budget too small for 1,000 nodes.
        let mut many = vec![131, 108, 0, 0, 3, 232];
        for _ in 0..1000 {
            many.extend_from_slice(atom);
        }
        many.push(106);
        assert_eq!(decode_slice(&many, &DecodeLimits::default()).unwrap().as_list().map(|l| l.len()), Some(1000));
        let small = DecodeLimits { max_decoded_bytes: 500 * NODE, ..DecodeLimits::default() };
        assert!(matches!(decode_slice(&many, &small).unwrap_err().kind, K::DecodedSizeLimit { .. }));
    }

    #[test]
    fn zero_copy_binaries_share_the_input() {
        let input = Bytes::from(vec![131, 109, 0, 0, 0, 3, 1, 2, 3]);
        let t = Decoder::default().decode(&input).unwrap();
        let b = t.as_binary().unwrap();
        assert_eq!(b.as_ptr(), input[6..].as_ptr());
    }

    #[test]
    fn local_ext_is_kept_opaque() {
        let input = [131, 121, 104, 1, 97, 5, 97, 1];
        let (t, used) = decode_top(&input, None, true, &DecodeLimits::default(), None).unwrap();
        assert_eq!(used, 6);
        assert_eq!(t, Term::Local(Bytes::from_static(&[121, 104, 1, 97, 5])));
        assert_eq!(crate::term::encode(&t).unwrap(), &input[..6]);
    }
}
