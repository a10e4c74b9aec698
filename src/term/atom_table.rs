//! A per-connection atom interner with a budget of distinct atoms.

use std::collections::HashSet;

use super::Atom;

/// Interns atoms so that repeated atoms (a node name in every pid) share one
/// allocation, and bounds how many distinct atoms one peer can make us keep.
///
/// ```
/// use beamlink::term::AtomTable;
/// let mut table = AtomTable::new(2);
/// let a = table.intern("a").unwrap();
/// assert_eq!(table.intern("a").unwrap(), a);
/// table.intern("b").unwrap();
/// assert!(table.intern("c").is_err());
/// assert_eq!(table.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AtomTable {
    atoms: HashSet<Atom>,
    max_atoms: usize,
    /// The atoms seen most recently, by a cheap index of their text: the
    /// same few atoms (node names, message tags) recur in every message, and
    /// a hit here costs one comparison instead of a hash.
    recent: [Option<Atom>; RECENT],
}

const RECENT: usize = 16;

/// Where `text` would sit in the recent-atoms cache.
fn recent_slot(text: &[u8]) -> usize {
    let first = text.first().copied().unwrap_or(0) as usize;
    let last = text.last().copied().unwrap_or(0) as usize;
    (text.len() ^ first ^ last.wrapping_mul(31)) % RECENT
}

/// The atom budget of an [`AtomTable`] is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomBudgetExceeded {
    /// The budget.
    pub limit: usize,
}

impl std::error::Error for AtomBudgetExceeded {}

impl AtomTable {
    /// An empty table that holds at most `max_atoms` distinct atoms.
    pub fn new(max_atoms: usize) -> AtomTable {
        AtomTable { atoms: HashSet::new(), max_atoms, recent: Default::default() }
    }

    /// How many distinct atoms the table holds.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// True when the table holds no atoms.
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// The budget given to [`AtomTable::new`].
    pub fn max_atoms(&self) -> usize {
        self.max_atoms
    }

    /// The shared atom for `text`, adding it if it is new and the budget allows.
    /// Text over 255 characters is the caller's to reject (the decoder does).
    pub fn intern(&mut self, text: &str) -> Result<Atom, AtomBudgetExceeded> {
        let slot = recent_slot(text.as_bytes());
        if let Some(atom) = &self.recent[slot]
            && atom.as_str() == text
        {
            return Ok(atom.clone());
        }
        let atom = match self.atoms.get(text) {
            Some(atom) => atom.clone(),
            None => {
                if self.atoms.len() >= self.max_atoms {
                    return Err(AtomBudgetExceeded { limit: self.max_atoms });
                }
                let atom = Atom::new_unchecked(text);
                self.atoms.insert(atom.clone());
                atom
            }
        };
        self.recent[slot] = Some(atom.clone());
        Ok(atom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_bounds() {
        let mut t = AtomTable::new(1);
        let a = t.intern("node@host").unwrap();
        let b = t.intern("node@host").unwrap();
        assert!(std::ptr::eq(a.as_str().as_ptr(), b.as_str().as_ptr()));
        assert_eq!(t.intern("other"), Err(AtomBudgetExceeded { limit: 1 }));
        assert_eq!(t.len(), 1);
    }
}
