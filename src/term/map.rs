//! [`Map`]: an Erlang map with keys kept in OTP's map-key order.

use super::Term;
use super::order::key_cmp;

/// An Erlang map. Keys are unique and kept sorted in OTP's map-key order
/// (Erlang term order, except that every integer sorts before every float),
/// which is the order OTP 25 writes the keys of maps of up to 32 keys; so
/// equality and hashing do not depend on insertion order, and encoding a
/// small map gives OTP's bytes.
///
/// ```
/// use beamlink::term::{Map, Term};
/// let mut m = Map::new();
/// m.insert(Term::atom("b"), Term::from(2));
/// m.insert(Term::atom("a"), Term::from(1));
/// assert_eq!(m.get_atom("a"), Some(&Term::from(1)));
/// assert_eq!(m.keys().next(), Some(&Term::atom("a")));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Map {
    entries: Vec<(Term, Term)>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map { entries: Vec::new() }
    }

    /// A map from key/value pairs; when a key appears twice, the later value wins.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Term, Term)>) -> Map {
        let mut entries: Vec<(Term, Term)> = pairs.into_iter().collect();
        // A stable sort keeps duplicates in input order, so the last of a run is the later one.
        entries.sort_by(|a, b| key_cmp(&a.0, &b.0));
        let mut out: Vec<(Term, Term)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if key_cmp(&last.0, &k).is_eq() => *last = (k, v),
                _ => out.push((k, v)),
            }
        }
        Map { entries: out }
    }

    /// Builds a map from entries already sorted by `key_cmp` with no duplicates.
    pub(crate) fn from_sorted_unique(entries: Vec<(Term, Term)>) -> Map {
        Map { entries }
    }

    fn position(&self, key: &Term) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| key_cmp(k, key))
    }

    /// The value for `key` (exact match: `1` and `1.0` are different keys).
    pub fn get(&self, key: &Term) -> Option<&Term> {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value for the atom key `name`.
    pub fn get_atom(&self, name: &str) -> Option<&Term> {
        self.entries.iter().find(|(k, _)| k.is_atom(name)).map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Term, value: Term) -> Option<Term> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &Term) -> Option<Term> {
        match self.position(key) {
            Ok(i) => Some(self.entries.remove(i).1),
            Err(_) => None,
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for `#{}`.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Term, &Term)> + DoubleEndedIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Term> + DoubleEndedIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Term> + DoubleEndedIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entries as a slice of pairs, in key order.
    pub fn as_slice(&self) -> &[(Term, Term)] {
        &self.entries
    }
}

impl IntoIterator for Map {
    type Item = (Term, Term);
    type IntoIter = std::vec::IntoIter<(Term, Term)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Term, &'a Term);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Term, Term)>, fn(&'a (Term, Term)) -> (&'a Term, &'a Term)>;
    fn into_iter(self) -> Self::IntoIter {
        fn split(e: &(Term, Term)) -> (&Term, &Term) {
            (&e.0, &e.1)
        }
        self.entries.iter().map(split)
    }
}

impl FromIterator<(Term, Term)> for Map {
    fn from_iter<I: IntoIterator<Item = (Term, Term)>>(iter: I) -> Map {
        Map::from_pairs(iter)
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&Term::Map(self.clone()).bounded(super::display::DEBUG_MAX_CHARS), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_unique_later_wins() {
        let m = Map::from_pairs([
            (Term::atom("b"), Term::from(1)),
            (Term::from(2), Term::from(2)),
            (Term::float(1.0).unwrap(), Term::from(3)),
            (Term::atom("b"), Term::from(4)),
        ]);
        assert_eq!(m.len(), 3);
        let keys: Vec<String> = m.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["2", "1.0", "b"]);
        assert_eq!(m.get_atom("b"), Some(&Term::from(4)));
        assert_eq!(m.get(&Term::from(1)), None);
    }

    #[test]
    fn insert_remove_and_order_independent_equality() {
        let mut a = Map::new();
        assert!(a.is_empty());
        assert_eq!(a.insert(Term::atom("x"), Term::from(1)), None);
        assert_eq!(a.insert(Term::atom("y"), Term::from(2)), None);
        assert_eq!(a.insert(Term::atom("x"), Term::from(3)), Some(Term::from(1)));
        let b = Map::from_pairs([(Term::atom("y"), Term::from(2)), (Term::atom("x"), Term::from(3))]);
        assert_eq!(a, b);
        assert_eq!(a.remove(&Term::atom("x")), Some(Term::from(3)));
        assert_eq!(a.remove(&Term::atom("x")), None);
        assert_eq!(a.values().cloned().collect::<Vec<_>>(), vec![Term::from(2)]);
        assert_eq!(a.into_iter().count(), 1);
    }
}
