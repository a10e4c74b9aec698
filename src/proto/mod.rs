//! The distribution protocol's sans-IO core: no sockets, no tokio.
//!
//! - [`flags`]: capability flags and the mandatory sets.
//! - [`name`]: node names, short and long.
//! - [`handshake`]: the version 6 handshake state machines.
//! - [`frame`]: length-prefixed framing (2- or 4-byte) and ticks.
//! - [`control`]: control messages, normalised across their old and new forms.
//! - [`packet`]: connected-mode packets: pass-through, distribution header, fragments.
//!
//! Each part is fed bytes and returns values or bytes to send; the async
//! drivers in [`crate::conn`] do the I/O.

pub mod control;
pub mod flags;
pub mod frame;
pub mod handshake;
pub mod name;
pub mod packet;

pub use flags::DistFlags;
pub use name::{ModeMismatch, NameError, NameMode, NodeName};
