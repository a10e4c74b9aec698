//! Equality, hashing and Erlang's term order for [`Term`].
//!
//! Term order: number < atom < reference < fun < port < pid < tuple < map <
//! nil < list < bit string. Within a type, OTP 25's rules (checked against
//! `lists:sort/1` in the tests):
//! - numbers by value; an integer and a float of the same value are different
//!   terms (`=:=`), and the integer sorts first so that the order agrees with
//!   equality. `-0.0` sorts before `0.0` and is a different term (as in OTP 27).
//! - atoms by their text (code point order);
//! - references by node, creation, word count, then words from the last;
//! - local funs before export funs; export funs by module, function, arity;
//!   local funs by module, index, uniq, then their encoding;
//! - ports by node, creation, number; pids by serial, number, node, creation;
//! - tuples by size, then element by element; lists element by element;
//! - maps by size, then keys in map-key order, then values in that key order;
//! - bit strings bit by bit, a prefix before the longer string.
//!
//! Map-key order (how a map's keys are sorted, see [`Map`](super::Map)) is the
//! same except that every integer sorts before every float, at any depth.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use num_bigint::BigInt;
use num_traits::FromPrimitive;

use super::{Fun, Map, Pid, Port, Reference, Term};

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        use Term::*;
        match (self, other) {
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Atom(a), Atom(b)) => a == b,
            (Binary(a), Binary(b)) => a == b,
            (BitString(a), BitString(b)) => a == b,
            (Pid(a), Pid(b)) => a == b,
            (Port(a), Port(b)) => a == b,
            (Ref(a), Ref(b)) => a == b,
            (Fun(a), Fun(b)) => a == b,
            (Tuple(a), Tuple(b)) => a == b,
            (List(a), List(b)) => a == b,
            (ImproperList(a, t), ImproperList(b, u)) => a == b && t == u,
            (Map(a), Map(b)) => a == b,
            (Local(a), Local(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Term {}

impl Hash for Term {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Term::Int(i) => i.hash(state),
            Term::BigInt(b) => b.hash(state),
            Term::Float(f) => f.to_bits().hash(state),
            Term::Atom(a) => a.hash(state),
            Term::Binary(b) => b.hash(state),
            Term::BitString(b) => b.hash(state),
            Term::Pid(p) => p.hash(state),
            Term::Port(p) => p.hash(state),
            Term::Ref(r) => r.hash(state),
            Term::Fun(f) => f.hash(state),
            Term::Tuple(t) | Term::List(t) => t.hash(state),
            Term::ImproperList(e, t) => {
                e.hash(state);
                t.hash(state);
            }
            Term::Map(m) => m.hash(state),
            Term::Local(b) => b.hash(state),
        }
    }
}

impl PartialOrd for Term {
    fn partial_cmp(&self, other: &Term) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Term {
    /// Erlang's term order (see the module docs).
    fn cmp(&self, other: &Term) -> Ordering {
        compare(self, other, false)
    }
}

/// Map-key order: term order, but every integer before every float, at any depth.
pub(crate) fn key_cmp(a: &Term, b: &Term) -> Ordering {
    compare(a, b, true)
}

fn rank(t: &Term) -> u8 {
    match t {
        Term::Int(_) | Term::BigInt(_) | Term::Float(_) => 0,
        Term::Atom(_) => 1,
        Term::Ref(_) => 2,
        Term::Fun(_) => 3,
        Term::Port(_) => 4,
        Term::Pid(_) => 5,
        Term::Tuple(_) => 6,
        Term::Map(_) => 7,
        Term::List(v) if v.is_empty() => 8,
        Term::List(_) | Term::ImproperList(..) => 9,
        Term::Binary(_) | Term::BitString(_) => 10,
        Term::Local(_) => 11,
    }
}

fn compare(a: &Term, b: &Term, exact: bool) -> Ordering {
    use Term::*;
    let (ra, rb) = (rank(a), rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => x.total_cmp(y),
        (Int(_) | BigInt(_), Int(_) | BigInt(_)) => int_value(a).cmp(&int_value(b)).then(int_kind(a).cmp(&int_kind(b))),
        (Int(_) | BigInt(_), Float(f)) => {
            if exact {
                Ordering::Less
            } else {
                cmp_int_float(a, *f).then(Ordering::Less)
            }
        }
        (Float(f), Int(_) | BigInt(_)) => {
            if exact {
                Ordering::Greater
            } else {
                cmp_int_float(b, *f).reverse().then(Ordering::Greater)
            }
        }
        (Atom(x), Atom(y)) => x.cmp(y),
        (Ref(x), Ref(y)) => cmp_ref(x, y),
        (Fun(x), Fun(y)) => cmp_fun(x, y, exact),
        (Port(x), Port(y)) => cmp_port(x, y),
        (Pid(x), Pid(y)) => cmp_pid(x, y),
        (Tuple(x), Tuple(y)) => x.len().cmp(&y.len()).then_with(|| cmp_slices(x, y, exact)),
        (Map(x), Map(y)) => cmp_maps(x, y, exact),
        (List(x), List(y)) => cmp_lists(x, None, y, None, exact),
        (List(x), ImproperList(y, t)) => cmp_lists(x, None, y, Some(t), exact),
        (ImproperList(x, t), List(y)) => cmp_lists(x, Some(t), y, None, exact),
        (ImproperList(x, t), ImproperList(y, u)) => cmp_lists(x, Some(t), y, Some(u), exact),
        (Binary(_) | BitString(_), Binary(_) | BitString(_)) => cmp_bits(a, b),
        (Local(x), Local(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

fn int_kind(t: &Term) -> u8 {
    matches!(t, Term::BigInt(_)) as u8
}

fn int_value(t: &Term) -> BigInt {
    match t {
        Term::Int(i) => BigInt::from(*i),
        Term::BigInt(b) => (**b).clone(),
        _ => BigInt::from(0),
    }
}

/// Compares an integer term with a finite float by exact value.
fn cmp_int_float(i: &Term, f: f64) -> Ordering {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    match i {
        Term::Int(i) => {
            if f >= TWO_63 {
                Ordering::Less
            } else if f < -TWO_63 {
                Ordering::Greater
            } else {
                let t = f.trunc();
                // |t| < 2^63, so the conversion is exact.
                let ti = t as i64;
                i.cmp(&ti).then_with(|| 0.0f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal))
            }
        }
        Term::BigInt(b) => {
            let t = f.trunc();
            match BigInt::from_f64(t) {
                Some(tb) => (**b).cmp(&tb).then_with(|| 0.0f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal)),
                None => Ordering::Equal,
            }
        }
        _ => Ordering::Equal,
    }
}

fn cmp_slices(a: &[Term], b: &[Term], exact: bool) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = compare(x, y, exact);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Compares `[a.. | at]` with `[b.. | bt]` (a missing tail is `[]`).
fn cmp_lists(a: &[Term], at: Option<&Term>, b: &[Term], bt: Option<&Term>, exact: bool) -> Ordering {
    let n = a.len().min(b.len());
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let o = compare(x, y, exact);
        if o != Ordering::Equal {
            return o;
        }
    }
    let nil = Term::List(Vec::new());
    match (a.len() > n, b.len() > n) {
        (false, false) => match (at, bt) {
            (None, None) => Ordering::Equal,
            _ => compare(at.unwrap_or(&nil), bt.unwrap_or(&nil), exact),
        },
        // `a` goes on as a list; `b` ends in its tail (nil when proper): compare a list with that tail.
        (true, false) => match bt {
            Some(t) if rank(t) == 9 => cmp_rest(&a[n..], at, t, exact),
            Some(t) => 9u8.cmp(&rank(t)),
            None => Ordering::Greater,
        },
        (false, true) => match at {
            Some(t) if rank(t) == 9 => cmp_rest(&b[n..], bt, t, exact).reverse(),
            Some(t) => rank(t).cmp(&9),
            None => Ordering::Less,
        },
        (true, true) => Ordering::Equal,
    }
}

/// Compares the list `[a.. | at]` with the list term `t` (only reached for tails
/// that are themselves lists, which the constructors never make).
fn cmp_rest(a: &[Term], at: Option<&Term>, t: &Term, exact: bool) -> Ordering {
    match t {
        Term::List(b) => cmp_lists(a, at, b, None, exact),
        Term::ImproperList(b, bt) => cmp_lists(a, at, b, Some(bt), exact),
        _ => Ordering::Greater,
    }
}

fn cmp_maps(a: &Map, b: &Map, exact: bool) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| {
            for (x, y) in a.keys().zip(b.keys()) {
                let o = compare(x, y, true);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        })
        .then_with(|| {
            for (x, y) in a.values().zip(b.values()) {
                let o = compare(x, y, exact);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        })
}

/// Bytes and the number of bits used in the last byte (8 for a binary; 0 when empty).
fn bits_of(t: &Term) -> (&[u8], u8) {
    match t {
        Term::Binary(b) => (b, 8),
        Term::BitString(b) => (&b.bytes, b.bits),
        _ => (&[], 8),
    }
}

fn cmp_bits(a: &Term, b: &Term) -> Ordering {
    let (ab, alast) = bits_of(a);
    let (bb, blast) = bits_of(b);
    let len_bits = |bytes: &[u8], last: u8| -> u64 {
        if bytes.is_empty() { 0 } else { (bytes.len() as u64 - 1) * 8 + u64::from(last) }
    };
    let (la, lb) = (len_bits(ab, alast), len_bits(bb, blast));
    let common = la.min(lb);
    let full = (common / 8) as usize;
    let o = ab[..full].cmp(&bb[..full]);
    if o != Ordering::Equal {
        return o;
    }
    let rest = (common % 8) as u32;
    if rest > 0 {
        let mask = !(0xFFu8 >> rest);
        let o = (ab[full] & mask).cmp(&(bb[full] & mask));
        if o != Ordering::Equal {
            return o;
        }
    }
    la.cmp(&lb)
}

fn cmp_ref(a: &Reference, b: &Reference) -> Ordering {
    a.node
        .cmp(&b.node)
        .then(a.creation.cmp(&b.creation))
        .then(a.id().len().cmp(&b.id().len()))
        .then_with(|| a.id().iter().rev().cmp(b.id().iter().rev()))
}

fn cmp_port(a: &Port, b: &Port) -> Ordering {
    a.node.cmp(&b.node).then(a.creation.cmp(&b.creation)).then(a.id.cmp(&b.id))
}

fn cmp_pid(a: &Pid, b: &Pid) -> Ordering {
    a.serial.cmp(&b.serial).then(a.id.cmp(&b.id)).then_with(|| a.node.cmp(&b.node)).then(a.creation.cmp(&b.creation))
}

fn cmp_fun(a: &Fun, b: &Fun, _exact: bool) -> Ordering {
    match (a, b) {
        (Fun::Local(_), Fun::Export(_)) => Ordering::Less,
        (Fun::Export(_), Fun::Local(_)) => Ordering::Greater,
        (Fun::Export(x), Fun::Export(y)) => {
            x.module.cmp(&y.module).then_with(|| x.function.cmp(&y.function)).then(x.arity.cmp(&y.arity))
        }
        (Fun::Local(x), Fun::Local(y)) => x
            .module
            .cmp(&y.module)
            .then(x.index.cmp(&y.index))
            .then(x.uniq.cmp(&y.uniq))
            .then_with(|| x.encoded.cmp(&y.encoded)),
    }
}

impl PartialOrd for Map {
    fn partial_cmp(&self, other: &Map) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Map {
    /// Erlang's order for maps: size, then keys, then values.
    fn cmp(&self, other: &Map) -> Ordering {
        cmp_maps(self, other, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, BitString};

    fn f(x: f64) -> Term {
        Term::float(x).unwrap()
    }

    #[test]
    fn numbers_compare_by_value_with_integers_first_on_ties() {
        assert!(Term::from(1) < f(1.5));
        assert!(f(0.5) < Term::from(1));
        assert!(Term::from(1) < f(1.0));
        assert_ne!(Term::from(1), f(1.0));
        assert!(f(-0.0) < f(0.0));
        let big = Term::from(u64::MAX);
        assert!(Term::from(i64::MAX) < big);
        assert!(f(1e30) > big);
        assert!(Term::from(i64::MIN) > f(-1e30));
        // Map-key order puts every integer first.
        assert!(key_cmp(&Term::from(2), &f(1.0)).is_lt());
    }

    #[test]
    fn type_order() {
        let pid = Term::Pid(crate::term::Pid::new(Atom::new("a@h"), 1, 0, 0));
        let ordered = vec![
            Term::from(1),
            Term::atom("a"),
            Term::from(crate::term::Reference::new(Atom::new("a@h"), 0, &[1]).unwrap()),
            Term::from(crate::term::ExportFun::new("m", "f", 0)),
            Term::Port(crate::term::Port { node: Atom::new("a@h"), id: 1, creation: 0 }),
            pid,
            Term::tuple(vec![]),
            Term::map([]),
            Term::nil(),
            Term::list(vec![Term::from(1)]),
            Term::binary(&b""[..]),
        ];
        let mut sorted = ordered.clone();
        sorted.reverse();
        sorted.sort();
        assert_eq!(sorted, ordered);
    }

    #[test]
    fn lists_and_bits() {
        let improper = Term::improper(vec![Term::atom("a")], Term::atom("b"));
        // [a|b] < [a, b]: the tail atom b is below the list [b].
        assert!(improper < Term::list(vec![Term::atom("a"), Term::atom("b")]));
        // [1] < [1|<<>>]: nil sorts before a binary.
        assert!(Term::list(vec![Term::from(1)]) < Term::improper(vec![Term::from(1)], Term::binary(&b""[..])));
        let one_bit = Term::BitString(BitString::new(vec![0x80u8], 1).unwrap());
        assert!(Term::binary(vec![0u8]) < one_bit);
        assert!(one_bit < Term::binary(vec![128u8]));
        assert!(Term::binary(&b""[..]) < one_bit);
    }
}
