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
