//! The daemon's name table, with OTP's creation numbering. Pure: no I/O, no clock.
//!
//! OTP's epmd keeps a counter per name. A name seen for the first time starts
//! at the current Unix time in seconds; each registration bumps the counter by
//! one (never below 4). Names that were unregistered are remembered (up to
//! 1000, oldest forgotten first) so that a node restarting under the same name
//! gets a new creation. Version-6 nodes get the counter as their creation,
//! older ones `counter % 3 + 1`.

use std::collections::VecDeque;

use super::codec::{NodeInfo, creation_for};

/// One line of a DUMP reply: name, port and the registering connection's id.
pub(crate) type DumpEntry = (String, u16, u64);
/// How many unregistered names are remembered, as OTP's epmd.
pub(crate) const MAX_REMEMBERED: usize = 1000;

/// Why a registration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A live node already has the name.
    Duplicate,
    /// The table holds the configured maximum of names.
    Full,
}

/// A registered node. `token` lives exactly as long as the registration (the
/// daemon stores a channel whose drop tells the connection to close).
#[derive(Debug)]
struct Live<T> {
    info: NodeInfo,
    counter: u32,
    conn_id: u64,
    _token: T,
}

/// A name that was registered once.
#[derive(Debug)]
struct Remembered {
    name: String,
    port: u16,
    counter: u32,
    conn_id: u64,
}

/// Registered and remembered names.
#[derive(Debug)]
pub(crate) struct Registry<T> {
    live: Vec<Live<T>>,
    remembered: VecDeque<Remembered>,
    max_names: usize,
}

fn bump(counter: u32) -> u32 {
    counter.wrapping_add(1).max(4)
}

impl<T> Registry<T> {
    /// An empty table holding at most `max_names` live registrations.
    pub(crate) fn new(max_names: usize) -> Registry<T> {
        Registry { live: Vec::new(), remembered: VecDeque::new(), max_names }
    }

    /// Registers `info` for connection `conn_id` at Unix time `now_secs`;
    /// returns the creation to announce.
    pub(crate) fn register(&mut self, info: NodeInfo, conn_id: u64, now_secs: u32, token: T) -> Result<u32, Refusal> {
        if self.live.iter().any(|l| l.info.name == info.name) {
            return Err(Refusal::Duplicate);
        }
        if self.live.len() >= self.max_names {
            return Err(Refusal::Full);
        }
        let counter = match self.remembered.iter().position(|r| r.name == info.name) {
            Some(i) => self.remembered.remove(i).map_or(bump(now_secs), |r| bump(r.counter)),
            None => bump(now_secs),
        };
        let creation = creation_for(counter, info.highest_version);
        self.live.push(Live { info, counter, conn_id, _token: token });
        Ok(creation)
    }

    /// Unregisters whatever connection `conn_id` registered; returns the name.
    pub(crate) fn unregister_conn(&mut self, conn_id: u64) -> Option<String> {
        let i = self.live.iter().position(|l| l.conn_id == conn_id)?;
        Some(self.retire(i))
    }

    /// Unregisters `name` (STOP_REQ); its token is dropped. True if it was registered.
    pub(crate) fn stop(&mut self, name: &str) -> bool {
        match self.live.iter().position(|l| l.info.name == name) {
            Some(i) => {
                self.retire(i);
                true
            }
            None => false,
        }
    }

    fn retire(&mut self, i: usize) -> String {
        let live = self.live.remove(i);
        let name = live.info.name.clone();
        if self.remembered.len() >= MAX_REMEMBERED {
            self.remembered.pop_front();
        }
        self.remembered.push_back(Remembered {
            name: live.info.name,
            port: live.info.port,
            counter: live.counter,
            conn_id: live.conn_id,
        });
        name
    }

    /// The registration of `name`, if live.
    pub(crate) fn lookup(&self, name: &str) -> Option<&NodeInfo> {
        self.live.iter().find(|l| l.info.name == name).map(|l| &l.info)
    }

    /// Live names and ports, the most recent registration first (OTP's order).
    pub(crate) fn names(&self) -> Vec<(String, u16)> {
        self.live.iter().rev().map(|l| (l.info.name.clone(), l.info.port)).collect()
    }

    /// `(name, port, conn_id)` of live registrations (most recent first) and of
    /// remembered ones (oldest first), for DUMP_REQ.
    pub(crate) fn dump(&self) -> (Vec<DumpEntry>, Vec<DumpEntry>) {
        let live = self.live.iter().rev().map(|l| (l.info.name.clone(), l.info.port, l.conn_id)).collect();
        let old = self.remembered.iter().map(|r| (r.name.clone(), r.port, r.conn_id)).collect();
        (live, old)
    }

    /// How many names are registered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no name is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u32 = 0x6b06_0655;

    fn node(name: &str, high: u16) -> NodeInfo {
        NodeInfo::new(name, 5000).with_versions(high, 5)
    }

    #[test]
    fn first_registration_is_now_plus_one() {
        let mut r = Registry::new(10);
        // A new name starts from the clock, plus one, as in OTP's epmd.
        assert_eq!(r.register(node("a", 6), 1, NOW, ()), Ok(NOW + 1));
    }

    #[test]
    fn re_registration_gets_the_next_creation() {
        let mut r = Registry::new(10);
        let first = r.register(node("a", 6), 1, NOW, ()).unwrap();
        assert_eq!(r.unregister_conn(1).as_deref(), Some("a"));
        // Even if the clock went backwards or stood still.
        assert_eq!(r.register(node("a", 6), 2, NOW - 100, ()), Ok(first + 1));
        assert!(r.stop("a"));
        assert_eq!(r.register(node("a", 6), 3, NOW, ()), Ok(first + 2));
    }

    #[test]
    fn v5_nodes_get_1_to_3_and_change_on_restart() {
        let mut r = Registry::new(10);
        let first = r.register(node("a", 5), 1, NOW, ()).unwrap();
        assert!((1..=3).contains(&first));
        r.unregister_conn(1);
        let second = r.register(node("a", 5), 2, NOW, ()).unwrap();
        assert!((1..=3).contains(&second));
        assert_ne!(first, second);
    }

    #[test]
    fn counter_never_drops_below_4() {
        let mut r = Registry::new(10);
        assert_eq!(r.register(node("a", 6), 1, 0, ()), Ok(4));
        assert_eq!(r.register(node("b", 6), 2, u32::MAX, ()), Ok(4));
    }

    #[test]
    fn duplicates_and_a_full_table_are_refused() {
        let mut r = Registry::new(2);
        r.register(node("a", 6), 1, NOW, ()).unwrap();
        assert_eq!(r.register(node("a", 6), 2, NOW, ()), Err(Refusal::Duplicate));
        r.register(node("b", 6), 3, NOW, ()).unwrap();
        assert_eq!(r.register(node("c", 6), 4, NOW, ()), Err(Refusal::Full));
        assert_eq!(r.len(), 2);
        // Names are case-sensitive.
        r.unregister_conn(3);
        assert!(r.register(node("A", 6), 5, NOW, ()).is_ok());
    }

    #[test]
    fn unregistering_is_per_connection() {
        let mut r = Registry::new(10);
        r.register(node("a", 6), 1, NOW, ()).unwrap();
        assert_eq!(r.unregister_conn(2), None);
        assert!(r.lookup("a").is_some());
        assert_eq!(r.unregister_conn(1).as_deref(), Some("a"));
        assert!(r.lookup("a").is_none());
        assert!(r.is_empty());
        assert!(!r.stop("a"));
    }

    #[test]
    fn names_are_listed_newest_first() {
        let mut r = Registry::new(10);
        r.register(node("a", 6), 1, NOW, ()).unwrap();
        r.register(node("b", 6), 2, NOW, ()).unwrap();
        assert_eq!(r.names(), [("b".to_string(), 5000), ("a".to_string(), 5000)]);
        r.unregister_conn(2);
        let (live, old) = r.dump();
        assert_eq!(live, [("a".to_string(), 5000, 1)]);
        assert_eq!(old, [("b".to_string(), 5000, 2)]);
    }

    #[test]
    fn remembered_names_are_bounded() {
        let mut r = Registry::new(10);
        for i in 0..(MAX_REMEMBERED as u64 + 50) {
            r.register(node(&format!("n{i}"), 6), i, NOW, ()).unwrap();
            r.unregister_conn(i);
        }
        assert_eq!(r.dump().1.len(), MAX_REMEMBERED);
        // The oldest were forgotten, so n0 starts afresh from the clock.
        assert_eq!(r.register(node("n0", 6), 9999, NOW + 7, ()), Ok(NOW + 8));
    }

    #[test]
    fn tokens_are_dropped_when_the_registration_ends() {
        use std::rc::Rc;
        let token = Rc::new(());
        let mut r = Registry::new(10);
        r.register(node("a", 6), 1, NOW, Rc::clone(&token)).unwrap();
        assert_eq!(Rc::strong_count(&token), 2);
        r.stop("a");
        assert_eq!(Rc::strong_count(&token), 1);
    }
}
