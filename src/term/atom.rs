//! Atoms: named constants, at most 255 characters of UTF-8.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The most characters an atom may have (OTP's limit).
pub const MAX_ATOM_CHARS: usize = 255;

/// An Erlang atom. Cheap to clone (a reference-counted string).
///
/// ```
/// use beamlink::term::Atom;
/// let ok = Atom::new("ok");
/// assert_eq!(ok.as_str(), "ok");
/// assert!(Atom::try_new("x".repeat(256)).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(Arc<str>);

/// An atom text that Erlang would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("atom has {chars} characters; Erlang allows at most {MAX_ATOM_CHARS}")]
pub struct AtomError {
    /// How many characters the rejected text had.
    pub chars: usize,
}

impl Atom {
    /// Makes an atom. Panics if `text` has more than 255 characters; use
    /// [`Atom::try_new`] for text that did not come from the program itself.
    pub fn new(text: impl AsRef<str>) -> Atom {
        match Atom::try_new(text) {
            Ok(atom) => atom,
            Err(e) => panic!("{e}"),
        }
    }

    /// Makes an atom, or says why the text cannot be one.
    pub fn try_new(text: impl AsRef<str>) -> Result<Atom, AtomError> {
        let text = text.as_ref();
        // Byte length bounds the character count from above, so most atoms skip the count.
        if text.len() > MAX_ATOM_CHARS {
            let chars = text.chars().count();
            if chars > MAX_ATOM_CHARS {
                return Err(AtomError { chars });
            }
        }
        Ok(Atom(Arc::from(text)))
    }

    /// The atom's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atom({:?})", &*self.0)
    }
}

impl AsRef<str> for Atom {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Atom {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl From<&str> for Atom {
    /// Panics on more than 255 characters, like [`Atom::new`].
    fn from(text: &str) -> Atom {
        Atom::new(text)
    }
}

impl Atom {
    /// Makes an atom from text already known to be at most 255 characters.
    pub(crate) fn new_unchecked(text: &str) -> Atom {
        Atom(Arc::from(text))
    }
}

impl fmt::Display for Atom {
    /// The atom as Erlang prints it, quoted when needed: `ok`, `'EXIT'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::display::write_atom(f, self.as_str())
    }
}
