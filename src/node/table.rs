//! The process table: every live process's slot, and the registered names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::task::AbortHandle;

use super::limits::Charge;
use super::mailbox::{Mailbox, MailboxSender, mailbox};
use super::unread::{UnreadBytes, UnreadTicket};
use crate::term::{Atom, Pid, Reference, Term};

/// What a process's mailbox carries.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A message.
    Message(Term),
    /// A message from a peer, counted against the peer's unread bytes until
    /// the process takes it.
    FromPeer(Term, #[allow(dead_code, reason = "held for its Drop, which gives the bytes back")] UnreadTicket),
    /// The process was killed by an exit signal, with this reason.
    Killed(Term),
}

/// One side of a link, as OTP 26's link protocol tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Linked.
    Active,
    /// This process sent UNLINK_ID with this id and awaits the ack; exit
    /// signals over the link are ignored meanwhile.
    Unlinking(u64),
}

/// One link of a process: its state, and the peer's [`Charge`] when another
/// node made it.
#[derive(Debug)]
pub(crate) struct Link {
    pub state: LinkState,
    /// Counted against the peer that asked for the link; given back when the
    /// link goes, however it goes.
    pub _charge: Option<Charge>,
}

impl Link {
    /// An active link this node (one of its processes) made.
    pub fn own() -> Link {
        Link { state: LinkState::Active, _charge: None }
    }
}

/// A monitor this process holds on another.
#[derive(Clone, Debug)]
pub(crate) struct MonitorOut {
    /// The watched process as the monitor named it.
    pub target: MonitorTarget,
}

/// The target of a monitor, as it appears in the `'DOWN'` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MonitorTarget {
    /// A pid.
    Pid(Pid),
    /// A registered name on a node: `{Name, Node}` in the `'DOWN'` message.
    Name { name: Atom, node: Atom },
}

impl MonitorTarget {
    /// The node the target lives on.
    pub fn node(&self) -> &Atom {
        match self {
            MonitorTarget::Pid(p) => &p.node,
            MonitorTarget::Name { node, .. } => node,
        }
    }

    /// The term that identifies the target in a `'DOWN'` message.
    pub fn to_term(&self) -> Term {
        match self {
            MonitorTarget::Pid(p) => Term::Pid(p.clone()),
            MonitorTarget::Name { name, node } => Term::Tuple(vec![Term::Atom(name.clone()), Term::Atom(node.clone())]),
        }
    }
}

/// A process that monitors this one.
#[derive(Debug)]
pub(crate) struct Watcher {
    /// The watching process.
    pub pid: Pid,
    /// Set when the monitor was made by registered name.
    pub by_name: Option<Atom>,
    /// Counted against the peer whose process watches, if remote.
    pub _charge: Option<Charge>,
}

/// Everything about a process that signals change.
#[derive(Debug, Default)]
pub(crate) struct SlotState {
    pub alive: bool,
    pub trap_exit: bool,
    pub links: HashMap<Pid, Link>,
    pub monitors: HashMap<Reference, MonitorOut>,
    pub watchers: HashMap<Reference, Watcher>,
    pub node_monitors: HashMap<Atom, usize>,
    pub name: Option<Atom>,
    pub abort: Option<AbortHandle>,
}

/// A live process as the node sees it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub pid: Pid,
    pub tx: MailboxSender,
    state: Mutex<SlotState>,
    /// A shared service of the node (`net_kernel`, `rex`, the group leader,
    /// `echo`, `sink`): it answers whoever a message names, so the dispatcher
    /// lets a peer name only its own processes (see `dispatch.rs`).
    pub service: std::sync::atomic::AtomicBool,
}

impl Slot {
    /// Locks the process's signal state. Critical sections never panic, so a
    /// poisoned lock still holds consistent data.
    pub fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a message in the mailbox (dropped if the process is gone).
    pub fn deliver(&self, msg: Term) {
        self.tx.send(Signal::Message(msg));
    }

    /// Puts a message from another node in the mailbox, counted against
    /// that peer's `unread` bytes until the process takes it. When the
    /// mailbox then holds `limit` messages or more, or the peer's unread
    /// bytes reach their limit, returns a future that waits until both are
    /// down to half: the connection it came from stops reading until then
    /// (back-pressure, as a busy distribution port in OTP), so what the peer
    /// makes this node hold stays bounded and nothing is dropped.
    pub fn deliver_remote(&self, msg: Term, limit: usize, unread: &Arc<UnreadBytes>) -> Option<crate::conn::Pause> {
        let (ticket, peer_full) = unread.charge(crate::term::memory_estimate(&msg));
        let mailbox_full = self.tx.send_counted(Signal::FromPeer(msg, ticket), limit);
        if !mailbox_full && !peer_full {
            return None;
        }
        let tx = mailbox_full.then(|| self.tx.clone());
        if mailbox_full {
            tracing::debug!(pid = ?self.pid, limit, "pausing reads from a peer: the mailbox is full (max_mailbox_messages)");
        }
        if peer_full {
            tracing::debug!(
                held = unread.held(),
                "pausing reads from a peer: its messages wait unread (max_unread_bytes_per_peer)"
            );
        }
        let unread = peer_full.then(|| unread.clone());
        Some(Box::pin(async move {
            if let Some(tx) = tx {
                tx.room(limit / 2).await;
            }
            if let Some(unread) = unread {
                unread.drained().await;
            }
        }))
    }
}

/// The table of live processes and registered names.
#[derive(Debug, Default)]
pub(crate) struct ProcessTable {
    slots: RwLock<HashMap<u32, Arc<Slot>>>,
    names: RwLock<HashMap<Atom, Pid>>,
    counter: AtomicU64,
}

/// Pid numbers wrap after this many, bumping the serial (as OTP's 28-bit numbers do).
const PID_NUMBERS: u64 = 1 << 28;

impl ProcessTable {
    /// Makes a new live process slot and its mailbox receiver.
    pub fn create(&self, node: &Atom, creation: u32) -> (Arc<Slot>, Mailbox) {
        let (tx, rx) = mailbox();
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            // Numbers start at 1 and skip those still in use after a wrap.
            let id = (n % PID_NUMBERS) as u32 + 1;
            let serial = (n / PID_NUMBERS) as u32;
            if slots.contains_key(&id) {
                continue;
            }
            let pid = Pid::new(node.clone(), id, serial, creation);
            let slot = Arc::new(Slot {
                pid,
                tx: tx.clone(),
                state: Mutex::new(SlotState { alive: true, ..SlotState::default() }),
                service: Default::default(),
            });
            slots.insert(id, slot.clone());
            return (slot, rx);
        }
    }

    /// The live process with this pid (which must be local: node and creation
    /// are checked by the caller).
    pub fn get(&self, pid: &Pid) -> Option<Arc<Slot>> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        slots.get(&pid.id).filter(|s| s.pid.serial == pid.serial).cloned()
    }

    /// Removes a process (and its name).
    pub fn remove(&self, pid: &Pid, name: Option<&Atom>) {
        if let Some(name) = name {
            let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
            if names.get(name) == Some(pid) {
                names.remove(name);
            }
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        if slots.get(&pid.id).is_some_and(|s| s.pid.serial == pid.serial) {
            slots.remove(&pid.id);
        }
    }

    /// Registers `name` for `pid`; false if the name is taken.
    pub fn register(&self, name: Atom, pid: Pid) -> bool {
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if names.contains_key(&name) {
            return false;
        }
        names.insert(name, pid);
        true
    }

    /// Removes a registration; returns the pid it named.
    pub fn unregister(&self, name: &Atom) -> Option<Pid> {
        self.names.write().unwrap_or_else(|p| p.into_inner()).remove(name)
    }

    /// The pid registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// All registered names.
    pub fn registered(&self) -> Vec<Atom> {
        self.names.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// Every live process.
    pub fn all(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// How many processes are alive.
    pub fn len(&self) -> usize {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}
