//! [`ConvertError`]: why a Rust value and a term did not convert, and where.

use std::fmt;

use crate::term::{AtomError, Term};

/// A conversion between a Rust value and a [`Term`] that failed, with the
/// path to the place it failed: `items[3].price: expected an integer, got the
/// atom foo`.
#[derive(Clone, PartialEq, Eq)]
pub struct ConvertError(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    /// Innermost segment first: segments are added as the error travels up.
    path_reversed: Vec<PathSegment>,
    kind: ConvertErrorKind,
}

/// What went wrong, without the path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertErrorKind {
    /// The term is of another kind than the Rust type needs.
    Mismatch {
        /// What the Rust type needs, e.g. "an integer".
        expected: String,
        /// What the term was, e.g. "the atom foo".
        found: String,
    },
    /// An integer outside the range of the Rust integer type.
    OutOfRange {
        /// The integer, in decimal.
        value: String,
        /// The Rust type, e.g. "u8".
        target: &'static str,
    },
    /// A float Erlang cannot hold: NaN or an infinity (as Rust prints it).
    NotFinite(String),
    /// A text too long to be an atom.
    Atom(AtomError),
    /// A struct field the map or record does not have.
    MissingField(&'static str),
    /// A message from serde or from the type's own `Serialize`/`Deserialize` code.
    Message(String),
}

/// One step of the path to a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathSegment {
    /// A struct field (or a map value under an atom key), by its name.
    Field(String),
    /// A list or tuple element, from 0.
    Index(usize),
    /// A map value, by its key in Erlang syntax.
    Key(String),
    /// An enum variant, by its Rust name.
    Variant(&'static str),
}

impl ConvertError {
    pub(crate) fn new(kind: ConvertErrorKind) -> ConvertError {
        ConvertError(Box::new(Inner { path_reversed: Vec::new(), kind }))
    }

    pub(crate) fn mismatch(expected: impl Into<String>, found: &Term) -> ConvertError {
        ConvertError::new(ConvertErrorKind::Mismatch { expected: expected.into(), found: describe(found) })
    }

    /// Adds the step the error came up through (outer steps are added later).
    pub(crate) fn at(mut self, segment: PathSegment) -> ConvertError {
        self.0.path_reversed.push(segment);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ConvertErrorKind {
        &self.0.kind
    }

    /// Where it went wrong, outermost step first; empty at the top level.
    pub fn path(&self) -> impl Iterator<Item = &PathSegment> {
        self.0.path_reversed.iter().rev()
    }

    /// The path as text, e.g. `items[3].price`; empty at the top level.
    pub fn path_text(&self) -> String {
        let mut out = String::new();
        for segment in self.path() {
            match segment {
                PathSegment::Field(name) if out.is_empty() => out.push_str(name),
                PathSegment::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
                PathSegment::Key(key) => out.push_str(&format!("[{key}]")),
                PathSegment::Variant(name) => {
                    if !out.is_empty() {
                        out.push_str("::");
                    }
                    out.push_str(name);
                }
            }
        }
        out
    }
}

impl fmt::Display for ConvertErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertErrorKind::Mismatch { expected, found } => write!(f, "expected {expected}, got {found}"),
            ConvertErrorKind::OutOfRange { value, target } => write!(f, "{value} does not fit in {target}"),
            ConvertErrorKind::NotFinite(x) => write!(f, "{x} is not a number Erlang can hold"),
            ConvertErrorKind::Atom(e) => write!(f, "{e}"),
            ConvertErrorKind::MissingField(name) => write!(f, "missing field {name}"),
            ConvertErrorKind::Message(m) => f.write_str(m),
        }
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path_text();
        if path.is_empty() { write!(f, "{}", self.0.kind) } else { write!(f, "{path}: {}", self.0.kind) }
    }
}

impl fmt::Debug for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvertError").field("path", &self.path_text()).field("kind", &self.0.kind).finish()
    }
}

impl std::error::Error for ConvertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ConvertErrorKind::Atom(e) => Some(e),
            _ => None,
        }
    }
}

impl serde::ser::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> ConvertError {
        ConvertError::new(ConvertErrorKind::Message(msg.to_string()))
    }
}

impl serde::de::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> ConvertError {
        ConvertError::new(ConvertErrorKind::Message(msg.to_string()))
    }

    fn invalid_type(unexpected: serde::de::Unexpected<'_>, expected: &dyn serde::de::Expected) -> ConvertError {
        ConvertError::new(ConvertErrorKind::Mismatch { expected: expected.to_string(), found: unexpected.to_string() })
    }

    fn missing_field(field: &'static str) -> ConvertError {
        ConvertError::new(ConvertErrorKind::MissingField(field))
    }
}

/// A term as an error message names it: "the atom foo", "a tuple of 3 elements".
pub(crate) fn describe(term: &Term) -> String {
    match term {
        Term::Int(_) | Term::BigInt(_) => format!("the integer {}", term.bounded(40)),
        Term::Float(_) => format!("the float {term}"),
        Term::Atom(_) => format!("the atom {}", term.bounded(60)),
        Term::Binary(b) if b.len() <= 40 && std::str::from_utf8(b).is_ok() => format!("the binary {term}"),
        Term::Binary(b) => format!("a binary of {} bytes", b.len()),
        Term::BitString(_) => "a bit string".into(),
        Term::Pid(_) => format!("the pid {term}"),
        Term::Port(_) => "a port".into(),
        Term::Ref(_) => "a reference".into(),
        Term::Fun(_) => "a fun".into(),
        Term::Tuple(items) => match items.first() {
            Some(Term::Atom(tag)) => format!("a tuple of {} elements tagged {}", items.len(), Term::Atom(tag.clone())),
            _ => format!("a tuple of {} elements", items.len()),
        },
        Term::List(items) if items.is_empty() => "[]".into(),
        Term::List(items) => format!("a list of {} elements", items.len()),
        Term::ImproperList(..) => "an improper list".into(),
        Term::Map(m) => format!("a map of {} keys", m.len()),
        Term::Local(_) => "a node-local term".into(),
    }
}
