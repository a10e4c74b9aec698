//! The [`Term`] type: one Erlang value.

use bytes::Bytes;
use num_bigint::BigInt;

use super::{Atom, Fun, Map, Pid, Port, Reference};

/// One Erlang term.
///
/// Equality is Erlang's exact equality (`=:=`): `Term::from(1) != Term::from(1.0)`.
/// Ordering is Erlang's term order (number < atom < reference < fun < port <
/// pid < tuple < map < nil < list < bit string), with an integer placed just
/// before a float of the same value so that the order agrees with equality.
///
/// Invariants kept by every constructor and by the decoder (build terms with
/// the constructors, or keep them yourself):
/// - `BigInt` holds only values outside the `i64` range; smaller ones are `Int`.
/// - `Float` is finite (Erlang has no NaN or infinities).
/// - `List` is a proper list; `List(vec![])` is `[]` (nil).
/// - `ImproperList` has at least one element and a tail that is not a list.
#[derive(Clone)]
pub enum Term {
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer outside the 64-bit range.
    BigInt(Box<BigInt>),
    /// A finite 64-bit float.
    Float(f64),
    /// An atom.
    Atom(Atom),
    /// A binary (a whole number of bytes).
    Binary(Bytes),
    /// A bit string whose last byte is only partly used.
    BitString(BitString),
    /// A process identifier.
    Pid(Pid),
    /// A port identifier.
    Port(Port),
    /// A reference.
    Ref(Box<Reference>),
    /// A fun.
    Fun(Box<Fun>),
    /// A tuple.
    Tuple(Vec<Term>),
    /// A proper list; empty is `[]`.
    List(Vec<Term>),
    /// An improper list `[E1, E2, ... | Tail]`.
    ImproperList(Vec<Term>, Box<Term>),
    /// A map.
    Map(Map),
    /// A term in OTP's node-local format (`LOCAL_EXT`), kept opaque: the
    /// complete encoding starting with the tag byte `121`.
    Local(Bytes),
}

/// A bit string that is not a whole number of bytes: `<<1, 2:3>>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BitString {
    /// The bytes; the last one holds `bits` significant high-order bits, the
    /// rest of it zero.
    pub bytes: Bytes,
    /// How many bits of the last byte are used, 1 to 7.
    pub bits: u8,
}

impl Term {
    /// The atom `text`. Panics on more than 255 characters, like [`Atom::new`].
    pub fn atom(text: &str) -> Term {
        Term::Atom(Atom::new(text))
    }

    /// A binary holding `bytes`.
    pub fn binary(bytes: impl Into<Bytes>) -> Term {
        Term::Binary(bytes.into())
    }

    /// A charlist: the list of `text`'s code points, as Erlang's `"text"`.
    pub fn string(text: &str) -> Term {
        Term::List(text.chars().map(|c| Term::Int(i64::from(u32::from(c)))).collect())
    }

    /// A tuple.
    pub fn tuple(elements: Vec<Term>) -> Term {
        Term::Tuple(elements)
    }

    /// A proper list.
    pub fn list(elements: Vec<Term>) -> Term {
        Term::List(elements)
    }

    /// `[]`.
    pub fn nil() -> Term {
        Term::List(Vec::new())
    }

    /// A map; when a key appears twice the later value wins.
    pub fn map(pairs: impl IntoIterator<Item = (Term, Term)>) -> Term {
        Term::Map(Map::from_pairs(pairs))
    }

    /// An integer of any size: `Int` when it fits in 64 bits, `BigInt` otherwise.
    pub fn from_bigint(value: BigInt) -> Term {
        match i64::try_from(&value) {
            Ok(i) => Term::Int(i),
            Err(_) => Term::BigInt(Box::new(value)),
        }
    }

    /// A float; `None` for NaN and infinities, which Erlang does not have.
    pub fn float(value: f64) -> Option<Term> {
        value.is_finite().then_some(Term::Float(value))
    }

    /// `[E1, E2, ... | Tail]`, normalised: with no elements it is `tail`; a
    /// list tail is flattened into the elements (giving a proper list when it
    /// is proper).
    pub fn improper(mut elements: Vec<Term>, tail: Term) -> Term {
        match tail {
            Term::List(rest) => {
                elements.extend(rest);
                Term::List(elements)
            }
            Term::ImproperList(rest, t) => {
                elements.extend(rest);
                Term::ImproperList(elements, t)
            }
            tail if elements.is_empty() => tail,
            tail => Term::ImproperList(elements, Box::new(tail)),
        }
    }

    /// The atom, if this is one.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// True when this is the atom `name`.
    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Term::Atom(a) if a.as_str() == name)
    }

    /// The integer, if this is one that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Term::Int(i) => Some(*i),
            Term::BigInt(b) => i64::try_from(&**b).ok(),
            _ => None,
        }
    }

    /// The integer, if this is one that fits in `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Term::Int(i) => u64::try_from(*i).ok(),
            Term::BigInt(b) => u64::try_from(&**b).ok(),
            _ => None,
        }
    }

    /// Any integer, as a `BigInt`.
    pub fn as_bigint(&self) -> Option<BigInt> {
        match self {
            Term::Int(i) => Some(BigInt::from(*i)),
            Term::BigInt(b) => Some((**b).clone()),
            _ => None,
        }
    }

    /// The float, if this is one (integers are not converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Term::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The bytes, if this is a binary (not a bit string).
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is a tuple.
    pub fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// The elements, if this is a proper list (including `[]`).
    pub fn as_list(&self) -> Option<&[Term]> {
        match self {
            Term::List(l) => Some(l),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Term::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The pid, if this is one.
    pub fn as_pid(&self) -> Option<&Pid> {
        match self {
            Term::Pid(p) => Some(p),
            _ => None,
        }
    }

    /// The port, if this is one.
    pub fn as_port(&self) -> Option<&Port> {
        match self {
            Term::Port(p) => Some(p),
            _ => None,
        }
    }

    /// The reference, if this is one.
    pub fn as_reference(&self) -> Option<&Reference> {
        match self {
            Term::Ref(r) => Some(r),
            _ => None,
        }
    }

    /// The fun, if this is one.
    pub fn as_fun(&self) -> Option<&Fun> {
        match self {
            Term::Fun(f) => Some(f),
            _ => None,
        }
    }

    /// True for `[]`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Term::List(l) if l.is_empty())
    }

    /// A binary holding valid UTF-8, or a list of valid code points, as a
    /// Rust `String`; `None` for anything else. (`[]` gives `""`.)
    pub fn to_string_value(&self) -> Option<String> {
        match self {
            Term::Binary(b) => std::str::from_utf8(b).ok().map(str::to_owned),
            Term::List(l) => l
                .iter()
                .map(|t| match t {
                    Term::Int(i) => u32::try_from(*i).ok().and_then(char::from_u32),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// Like [`Term::to_string_value`], but a binary that is not valid UTF-8 is
    /// converted with replacement characters.
    pub fn as_str_lossy(&self) -> Option<String> {
        match self {
            Term::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
            other => other.to_string_value(),
        }
    }

    /// The name of the term's type, as Erlang's guards would say it:
    /// "integer", "float", "atom", "binary", "bitstring", "pid", "port",
    /// "reference", "fun", "tuple", "list", "map", or "local" for `LOCAL_EXT`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Term::Int(_) | Term::BigInt(_) => "integer",
            Term::Float(_) => "float",
            Term::Atom(_) => "atom",
            Term::Binary(_) => "binary",
            Term::BitString(_) => "bitstring",
            Term::Pid(_) => "pid",
            Term::Port(_) => "port",
            Term::Ref(_) => "reference",
            Term::Fun(_) => "fun",
            Term::Tuple(_) => "tuple",
            Term::List(_) | Term::ImproperList(..) => "list",
            Term::Map(_) => "map",
            Term::Local(_) => "local",
        }
    }
}

impl BitString {
    /// A bit string of `bytes` whose last byte holds `bits` (1 to 7) significant
    /// high-order bits; the unused low bits are cleared. `None` when `bytes` is
    /// empty or `bits` is outside 1..=7 (use a binary for whole bytes).
    pub fn new(bytes: impl Into<Bytes>, bits: u8) -> Option<BitString> {
        let bytes: Bytes = bytes.into();
        if bytes.is_empty() || !(1..=7).contains(&bits) {
            return None;
        }
        let last = bytes[bytes.len() - 1];
        let mask = !(0xFFu8 >> bits);
        if last & mask == last {
            return Some(BitString { bytes, bits });
        }
        let mut v = bytes.to_vec();
        let n = v.len();
        v[n - 1] = last & mask;
        Some(BitString { bytes: Bytes::from(v), bits })
    }

    /// The length in bits.
    pub fn bit_len(&self) -> u64 {
        (self.bytes.len() as u64).saturating_sub(1) * 8 + u64::from(self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::Atom;

    #[test]
    fn improper_normalises() {
        assert_eq!(Term::improper(vec![], Term::atom("t")), Term::atom("t"));
        assert_eq!(Term::improper(vec![Term::from(1)], Term::nil()), Term::list(vec![Term::from(1)]));
        let nested = Term::improper(vec![Term::from(2)], Term::atom("t"));
        assert_eq!(Term::improper(vec![Term::from(1)], nested).to_string(), "[1,2|t]");
    }

    #[test]
    fn constructors_and_accessors() {
        assert_eq!(Term::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert!(matches!(Term::from(u64::MAX), Term::BigInt(_)));
        assert_eq!(Term::from_bigint(BigInt::from(5)), Term::Int(5));
        assert_eq!(Term::from(-5i8).as_i64(), Some(-5));
        assert_eq!(Term::from(-5i8).as_u64(), None);
        assert_eq!(Term::from(true), Term::atom("true"));
        assert!(Term::float(f64::NAN).is_none());
        assert_eq!(Term::string("h\u{e9}").to_string_value().as_deref(), Some("h\u{e9}"));
        assert_eq!(Term::binary(&b"abc"[..]).to_string_value().as_deref(), Some("abc"));
        assert_eq!(Term::binary(vec![0xFFu8]).to_string_value(), None);
        assert_eq!(Term::binary(vec![0xFFu8]).as_str_lossy().as_deref(), Some("\u{fffd}"));
        assert!(Term::nil().is_nil() && Term::nil().as_list() == Some(&[][..]));
        assert!(Term::atom("ok").is_atom("ok"));
        assert_eq!(Term::atom("ok").as_atom(), Some(&Atom::new("ok")));
        assert_eq!(Term::tuple(vec![]).kind_name(), "tuple");
        assert_eq!(Term::from(1).as_bigint(), Some(BigInt::from(1)));
        assert!(BitString::new(vec![1u8], 8).is_none());
        assert_eq!(BitString::new(vec![0xFFu8], 3).unwrap().bytes[0], 0xE0);
    }
}
