//! Process identifiers, ports and references: the values that name things on a node.

use super::Atom;

/// A process identifier. Unique across a cluster: it carries the node it
/// lives on and that node's creation (which changes when the node restarts).
///
/// Encoded as `NEW_PID_EXT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Atom,
    /// The process number on that node.
    pub id: u32,
    /// The serial that distinguishes reuses of `id`.
    pub serial: u32,
    /// The node's creation when the process was made.
    pub creation: u32,
}

impl Pid {
    /// Makes a pid from its parts.
    pub fn new(node: Atom, id: u32, serial: u32, creation: u32) -> Pid {
        Pid { node, id, serial, creation }
    }
}

/// A port identifier. Ports are node-local I/O objects; a Rust node only
/// carries them through unchanged.
///
/// Encoded as `NEW_PORT_EXT` when the id fits in 32 bits, `V4_PORT_EXT` otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    /// The node the port lives on.
    pub node: Atom,
    /// The port number.
    pub id: u64,
    /// The node's creation.
    pub creation: u32,
}

/// The most 32-bit words a reference carries (`NEWER_REFERENCE_EXT` allows 5 under V4_NC).
pub const MAX_REFERENCE_WORDS: usize = 5;

/// A reference: a value unique across the cluster, used to tag calls and monitors.
///
/// Encoded as `NEWER_REFERENCE_EXT`. OTP makes references of 3 words; under
/// the V4_NC flag up to 5 words may appear, and their contents are opaque.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The node that made the reference.
    pub node: Atom,
    /// The node's creation when the reference was made.
    pub creation: u32,
    words: [u32; MAX_REFERENCE_WORDS],
    len: u8,
}

impl Reference {
    /// Makes a reference from 1 to 5 words; `None` for any other count.
    pub fn new(node: Atom, creation: u32, id: &[u32]) -> Option<Reference> {
        if id.is_empty() || id.len() > MAX_REFERENCE_WORDS {
            return None;
        }
        let mut words = [0u32; MAX_REFERENCE_WORDS];
        words[..id.len()].copy_from_slice(id);
        Some(Reference { node, creation, words, len: id.len() as u8 })
    }

    /// The reference's words, as they appear on the wire.
    pub fn id(&self) -> &[u32] {
        &self.words[..self.len as usize]
    }
}
