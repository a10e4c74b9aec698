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
    /// Bytes the held atoms are counted as occupying (see [`ATOM_OVERHEAD`]).
    bytes: usize,
    max_bytes: usize,
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

/// What one held atom is counted as costing beyond its text: its shared
/// allocation's header and its slot in the table (with the table's spare room).
pub const ATOM_OVERHEAD: usize = 64;

/// Which budget of an [`AtomTable`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtomBudget {
    /// The number of distinct atoms.
    Count,
    /// The bytes they occupy: text plus [`ATOM_OVERHEAD`] each.
    Bytes,
}

/// The atom budget of an [`AtomTable`] is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomBudgetExceeded {
    /// The budget.
    pub limit: usize,
    /// Which budget.
    pub budget: AtomBudget,
}

impl std::error::Error for AtomBudgetExceeded {}

impl AtomTable {
    /// An empty table that holds at most `max_atoms` distinct atoms (and
    /// no byte budget beyond what that many atoms can take).
    pub fn new(max_atoms: usize) -> AtomTable {
        AtomTable { atoms: HashSet::new(), max_atoms, bytes: 0, max_bytes: usize::MAX, recent: Default::default() }
    }

    /// Also bounds the bytes the atoms occupy: each counts as its text's
    /// length plus [`ATOM_OVERHEAD`]. A 255-character atom of 4-byte
    /// characters is 1,020 bytes of text, so a count budget alone lets a
    /// peer make the node hold a thousand times more than short atoms would.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> AtomTable {
        self.max_bytes = max_bytes;
        self
    }

    /// The bytes the held atoms are counted as occupying.
    pub fn bytes(&self) -> usize {
        self.bytes
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
                    return Err(AtomBudgetExceeded { limit: self.max_atoms, budget: AtomBudget::Count });
                }
                let cost = text.len() + ATOM_OVERHEAD;
                if self.bytes + cost > self.max_bytes {
                    return Err(AtomBudgetExceeded { limit: self.max_bytes, budget: AtomBudget::Bytes });
                }
                self.bytes += cost;
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
        assert_eq!(t.intern("other"), Err(AtomBudgetExceeded { limit: 1, budget: AtomBudget::Count }));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn long_atoms_meet_the_byte_budget_first() {
        let long: String = std::iter::repeat_n('\u{10348}', 255).collect();
        let cost = long.len() + ATOM_OVERHEAD;
        let mut t = AtomTable::new(1 << 20).with_max_bytes(3 * cost);
        for i in 0..3 {
            let mut text = long.clone();
            text.pop();
            text.push(char::from(b'a' + i));
            t.intern(&text).unwrap();
        }
        assert_eq!(t.intern(&long), Err(AtomBudgetExceeded { limit: 3 * cost, budget: AtomBudget::Bytes }));
        assert_eq!(t.len(), 3);
        assert!(t.intern("short").is_err(), "the byte budget holds for short atoms too once spent");
    }
}
