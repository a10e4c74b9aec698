//! Funs: external (`fun M:F/A`) and local (closures, kept opaque).

use bytes::Bytes;

use super::Atom;

/// A fun value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fun {
    /// `fun Module:Function/Arity`, encoded as `EXPORT_EXT`.
    Export(ExportFun),
    /// A closure made on some node, encoded as `NEW_FUN_EXT`. It can only be
    /// called where its code is loaded, so a Rust node keeps it opaque and
    /// re-encodes it byte for byte.
    Local(LocalFun),
}

/// `fun Module:Function/Arity`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExportFun {
    /// The module.
    pub module: Atom,
    /// The function name.
    pub function: Atom,
    /// The arity.
    pub arity: u8,
}

/// A closure's encoding, kept exactly as received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalFun {
    /// The complete `NEW_FUN_EXT` encoding, starting with the tag byte `112`.
    pub encoded: Bytes,
    /// The module that defined the fun (read from the encoding, for display).
    pub module: Atom,
    /// The fun's arity.
    pub arity: u8,
    /// The fun's index within its module.
    pub index: u32,
    /// The fun's unique hash within its module.
    pub uniq: [u8; 16],
}
