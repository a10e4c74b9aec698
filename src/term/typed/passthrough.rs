//! `Serialize`/`Deserialize` for [`Term`] and the identifier types, so that a
//! typed message can carry a pid, a reference or an opaque term untouched.
//!
//! Through beamlink's own [`Serializer`](super::Serializer) and
//! [`Deserializer`](super::Deserializer) the value is handed over as it is,
//! on this thread, next to serde's calls: serde has no way to carry a
//! foreign value. Any other format (JSON, say) sees the term as its text in
//! Erlang syntax, which [`crate::term::parse`] reads back.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

use crate::term::{Atom, Map, Pid, Port, Reference, Term};

/// The newtype-struct name that announces a term handed over as it is.
pub(crate) const TERM_TOKEN: &str = "$beamlink::Term";
/// The newtype-struct name that asks for strings written as charlists.
pub(crate) const CHARLIST_TOKEN: &str = "$beamlink::charlist";

thread_local! {
    /// Set by beamlink's serializer just before it serializes a handed-over term.
    static SERIALIZER_WAITS: Cell<bool> = const { Cell::new(false) };
    /// The term being handed over, in either direction.
    static HANDOFF: RefCell<Option<Term>> = const { RefCell::new(None) };
}

/// Serializes `value` (announced under [`TERM_TOKEN`]) and takes the term it
/// handed over, if it was one of ours.
pub(crate) fn take_serialized<T, R>(value: &T, serialize: impl FnOnce(&T) -> R) -> (R, Option<Term>)
where
    T: ?Sized + Serialize,
{
    SERIALIZER_WAITS.with(|w| w.set(true));
    let result = serialize(value);
    SERIALIZER_WAITS.with(|w| w.set(false));
    (result, HANDOFF.with(|h| h.borrow_mut().take()))
}

/// Offers `term` to the visitor of a handed-over term, which takes it in `visit_unit`.
pub(crate) fn offer_for_deserialize<R>(term: &Term, visit: impl FnOnce() -> R) -> R {
    HANDOFF.with(|h| *h.borrow_mut() = Some(term.clone()));
    let result = visit();
    HANDOFF.with(|h| h.borrow_mut().take());
    result
}

struct Handoff<'a>(&'a Term);

impl Serialize for Handoff<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if SERIALIZER_WAITS.with(|w| w.replace(false)) {
            HANDOFF.with(|h| *h.borrow_mut() = Some(self.0.clone()));
            serializer.serialize_unit()
        } else {
            serializer.collect_str(self.0)
        }
    }
}

impl Serialize for Term {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(TERM_TOKEN, &Handoff(self))
    }
}

struct TermVisitor;

impl<'de> Visitor<'de> for TermVisitor {
    type Value = Term;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Erlang term")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Term, E> {
        HANDOFF
            .with(|h| h.borrow_mut().take())
            .ok_or_else(|| E::custom("expected an Erlang term in Erlang syntax, got a unit value"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Term, E> {
        crate::term::parse(text).map_err(|e| E::custom(format!("not a term in Erlang syntax: {e}")))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Term, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Term, D::Error> {
        deserializer.deserialize_newtype_struct(TERM_TOKEN, TermVisitor)
    }
}

/// `Serialize`/`Deserialize` for a type that is one kind of term.
macro_rules! pass_through {
    ($($ty:ty, $what:literal, |$v:ident| $into:expr, $pattern:pat => $out:expr;)*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let $v = self;
                Term::serialize(&$into, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$ty, D::Error> {
                match Term::deserialize(deserializer)? {
                    $pattern => Ok($out),
                    other => Err(de::Error::custom(format!(
                        "expected {}, got {}", $what, super::error::describe(&other)
                    ))),
                }
            }
        }
    )*};
}

pass_through! {
    Atom, "an atom", |a| Term::Atom(a.clone()), Term::Atom(a) => a;
    Pid, "a pid", |p| Term::Pid(p.clone()), Term::Pid(p) => p;
    Port, "a port", |p| Term::Port(p.clone()), Term::Port(p) => p;
    Reference, "a reference", |r| Term::Ref(Box::new(r.clone())), Term::Ref(r) => *r;
    Map, "a map", |m| Term::Map(m.clone()), Term::Map(m) => m;
}
