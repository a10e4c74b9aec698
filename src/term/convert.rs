//! `From` conversions into [`Term`].

use num_bigint::BigInt;

use super::{Atom, ExportFun, Fun, LocalFun, Map, Pid, Port, Reference, Term};

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(v: $t) -> Term {
                Term::Int(i64::from(v))
            }
        }
    )*};
}
from_small_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(v: $t) -> Term {
                match i64::try_from(v) {
                    Ok(i) => Term::Int(i),
                    Err(_) => Term::BigInt(Box::new(BigInt::from(v))),
                }
            }
        }
    )*};
}
from_wide_int!(u64, i128, u128, usize, isize);

impl From<bool> for Term {
    /// The atoms `true` and `false`.
    fn from(v: bool) -> Term {
        Term::Atom(Atom::new_unchecked(if v { "true" } else { "false" }))
    }
}

impl From<Atom> for Term {
    fn from(v: Atom) -> Term {
        Term::Atom(v)
    }
}

impl From<Pid> for Term {
    fn from(v: Pid) -> Term {
        Term::Pid(v)
    }
}

impl From<Port> for Term {
    fn from(v: Port) -> Term {
        Term::Port(v)
    }
}

impl From<Reference> for Term {
    fn from(v: Reference) -> Term {
        Term::Ref(Box::new(v))
    }
}

impl From<Fun> for Term {
    fn from(v: Fun) -> Term {
        Term::Fun(Box::new(v))
    }
}

impl From<ExportFun> for Term {
    fn from(v: ExportFun) -> Term {
        Term::Fun(Box::new(Fun::Export(v)))
    }
}

impl From<LocalFun> for Term {
    fn from(v: LocalFun) -> Term {
        Term::Fun(Box::new(Fun::Local(v)))
    }
}

impl From<Map> for Term {
    fn from(v: Map) -> Term {
        Term::Map(v)
    }
}

impl From<BigInt> for Term {
    /// Normalises: `Int` when the value fits in 64 bits.
    fn from(v: BigInt) -> Term {
        Term::from_bigint(v)
    }
}

impl From<Vec<Term>> for Term {
    /// A proper list.
    fn from(v: Vec<Term>) -> Term {
        Term::List(v)
    }
}

impl From<super::BitString> for Term {
    fn from(v: super::BitString) -> Term {
        Term::BitString(v)
    }
}

impl ExportFun {
    /// `fun Module:Function/Arity`. Panics if a name has more than 255 characters.
    pub fn new(module: &str, function: &str, arity: u8) -> ExportFun {
        ExportFun { module: Atom::new(module), function: Atom::new(function), arity }
    }
}
