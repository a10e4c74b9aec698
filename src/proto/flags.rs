//! Distribution capability flags, exchanged in the handshake.
//!
//! See [the distribution protocol, "Distribution Flags"](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#dflags).
//! Both sides advertise their flags; the connection uses the intersection,
//! and each side refuses a peer that lacks one of the flags it considers
//! mandatory.

use std::fmt;
use std::ops::{BitAnd, BitOr, Not};

/// A set of distribution flags (64 bits since OTP 23).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DistFlags(u64);

/// Every named flag with its OTP name, lowest bit first.
const NAMES: &[(DistFlags, &str)] = &[
    (DistFlags::PUBLISHED, "PUBLISHED"),
    (DistFlags::ATOM_CACHE, "ATOM_CACHE"),
    (DistFlags::EXTENDED_REFERENCES, "EXTENDED_REFERENCES"),
    (DistFlags::DIST_MONITOR, "DIST_MONITOR"),
    (DistFlags::FUN_TAGS, "FUN_TAGS"),
    (DistFlags::DIST_MONITOR_NAME, "DIST_MONITOR_NAME"),
    (DistFlags::HIDDEN_ATOM_CACHE, "HIDDEN_ATOM_CACHE"),
    (DistFlags::NEW_FUN_TAGS, "NEW_FUN_TAGS"),
    (DistFlags::EXTENDED_PIDS_PORTS, "EXTENDED_PIDS_PORTS"),
    (DistFlags::EXPORT_PTR_TAG, "EXPORT_PTR_TAG"),
    (DistFlags::BIT_BINARIES, "BIT_BINARIES"),
    (DistFlags::NEW_FLOATS, "NEW_FLOATS"),
    (DistFlags::UNICODE_IO, "UNICODE_IO"),
    (DistFlags::DIST_HDR_ATOM_CACHE, "DIST_HDR_ATOM_CACHE"),
    (DistFlags::SMALL_ATOM_TAGS, "SMALL_ATOM_TAGS"),
    (DistFlags::UTF8_ATOMS, "UTF8_ATOMS"),
    (DistFlags::MAP_TAG, "MAP_TAG"),
    (DistFlags::BIG_CREATION, "BIG_CREATION"),
    (DistFlags::SEND_SENDER, "SEND_SENDER"),
    (DistFlags::BIG_SEQTRACE_LABELS, "BIG_SEQTRACE_LABELS"),
    (DistFlags::EXIT_PAYLOAD, "EXIT_PAYLOAD"),
    (DistFlags::FRAGMENTS, "FRAGMENTS"),
    (DistFlags::HANDSHAKE_23, "HANDSHAKE_23"),
    (DistFlags::UNLINK_ID, "UNLINK_ID"),
    (DistFlags::MANDATORY_25_DIGEST, "MANDATORY_25_DIGEST"),
    (DistFlags::SPAWN, "SPAWN"),
    (DistFlags::NAME_ME, "NAME_ME"),
    (DistFlags::V4_NC, "V4_NC"),
    (DistFlags::ALIAS, "ALIAS"),
    (DistFlags::BEAMLINK_MESH, "BEAMLINK_MESH"),
];

impl DistFlags {
    /// The node is visible (appears in `nodes()`); absent for hidden nodes.
    pub const PUBLISHED: DistFlags = DistFlags(0x1);
    /// Obsolete atom cache.
    pub const ATOM_CACHE: DistFlags = DistFlags(0x2);
    /// Extended references (mandatory since OTP 25).
    pub const EXTENDED_REFERENCES: DistFlags = DistFlags(0x4);
    /// Distributed monitors: MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT.
    pub const DIST_MONITOR: DistFlags = DistFlags(0x8);
    /// Fun tags (mandatory since OTP 25).
    pub const FUN_TAGS: DistFlags = DistFlags(0x10);
    /// Monitors by registered name.
    pub const DIST_MONITOR_NAME: DistFlags = DistFlags(0x20);
    /// Obsolete hidden atom cache.
    pub const HIDDEN_ATOM_CACHE: DistFlags = DistFlags(0x40);
    /// New fun tags (mandatory since OTP 25).
    pub const NEW_FUN_TAGS: DistFlags = DistFlags(0x80);
    /// Extended pids and ports (mandatory since OTP 25).
    pub const EXTENDED_PIDS_PORTS: DistFlags = DistFlags(0x100);
    /// EXPORT_EXT (mandatory since OTP 25).
    pub const EXPORT_PTR_TAG: DistFlags = DistFlags(0x200);
    /// Bit binaries (mandatory since OTP 25).
    pub const BIT_BINARIES: DistFlags = DistFlags(0x400);
    /// NEW_FLOAT_EXT (mandatory since OTP 25).
    pub const NEW_FLOATS: DistFlags = DistFlags(0x800);
    /// Unicode in the I/O protocol.
    pub const UNICODE_IO: DistFlags = DistFlags(0x1000);
    /// The distribution header with an atom cache.
    pub const DIST_HDR_ATOM_CACHE: DistFlags = DistFlags(0x2000);
    /// SMALL_ATOM_EXT tags.
    pub const SMALL_ATOM_TAGS: DistFlags = DistFlags(0x4000);
    /// UTF-8 atoms (mandatory since OTP 25).
    pub const UTF8_ATOMS: DistFlags = DistFlags(0x10000);
    /// MAP_EXT (mandatory since OTP 25).
    pub const MAP_TAG: DistFlags = DistFlags(0x20000);
    /// 32-bit creation values (mandatory since OTP 25).
    pub const BIG_CREATION: DistFlags = DistFlags(0x40000);
    /// SEND_SENDER control messages.
    pub const SEND_SENDER: DistFlags = DistFlags(0x80000);
    /// Large sequential-trace labels.
    pub const BIG_SEQTRACE_LABELS: DistFlags = DistFlags(0x100000);
    /// PAYLOAD_EXIT* control messages (exit reasons as payload).
    pub const EXIT_PAYLOAD: DistFlags = DistFlags(0x400000);
    /// Fragmented messages; implies the distribution header format.
    pub const FRAGMENTS: DistFlags = DistFlags(0x800000);
    /// The version 6 handshake (mandatory since OTP 25).
    pub const HANDSHAKE_23: DistFlags = DistFlags(0x1000000);
    /// The UNLINK_ID link protocol (mandatory since OTP 26).
    pub const UNLINK_ID: DistFlags = DistFlags(0x2000000);
    /// Stands for all eleven flags mandatory since OTP 25.
    pub const MANDATORY_25_DIGEST: DistFlags = DistFlags(0x4000000);
    /// SPAWN_REQUEST / SPAWN_REPLY (needed by `erpc` and so `rpc:call` since OTP 25).
    pub const SPAWN: DistFlags = DistFlags(1 << 32);
    /// Dynamic node names.
    pub const NAME_ME: DistFlags = DistFlags(2 << 32);
    /// 32-bit pid fields, 64-bit ports, longer references (mandatory since OTP 26).
    pub const V4_NC: DistFlags = DistFlags(4 << 32);
    /// Process aliases: ALIAS_SEND.
    pub const ALIAS: DistFlags = DistFlags(8 << 32);
    /// beamlink's own capability, not an OTP flag: the node is a visible
    /// beamlink node that takes part in the beamlink mesh. Only peers that
    /// advertise it are sent mesh messages, so an Erlang node, a C node,
    /// `erl_call` or jinterface never receives anything it did not ask for.
    /// Bit 60 is far above every flag OTP assigns (the highest in OTP 29 is
    /// below bit 40); OTP, libei and jinterface ignore flags they do not know,
    /// and since connections use the flags both sides have, it appears in a
    /// connection's flags only between two beamlink nodes.
    pub const BEAMLINK_MESH: DistFlags = DistFlags(1 << 60);

    /// The eleven flags OTP 25 requires of every peer.
    pub const MANDATORY_25: DistFlags = DistFlags(
        Self::EXTENDED_REFERENCES.0
            | Self::FUN_TAGS.0
            | Self::EXTENDED_PIDS_PORTS.0
            | Self::NEW_FUN_TAGS.0
            | Self::EXPORT_PTR_TAG.0
            | Self::BIT_BINARIES.0
            | Self::NEW_FLOATS.0
            | Self::UTF8_ATOMS.0
            | Self::MAP_TAG.0
            | Self::BIG_CREATION.0
            | Self::HANDSHAKE_23.0,
    );

    /// What OTP 26 and 27 require: the OTP 25 set plus V4_NC and UNLINK_ID.
    /// beamlink requires the same of its peers, so every peer it accepts can
    /// also talk to current OTP.
    pub const MANDATORY: DistFlags = DistFlags(Self::MANDATORY_25.0 | Self::V4_NC.0 | Self::UNLINK_ID.0);

    /// The flags beamlink advertises: everything it implements. PUBLISHED is
    /// added separately for visible nodes.
    pub const DEFAULT: DistFlags = DistFlags(
        Self::MANDATORY.0
            | Self::MANDATORY_25_DIGEST.0
            | Self::DIST_MONITOR.0
            | Self::DIST_MONITOR_NAME.0
            | Self::SMALL_ATOM_TAGS.0
            | Self::SEND_SENDER.0
            | Self::EXIT_PAYLOAD.0
            | Self::FRAGMENTS.0
            | Self::SPAWN.0
            | Self::ALIAS.0,
    );

    /// Flags from their wire value.
    pub const fn from_bits(bits: u64) -> DistFlags {
        DistFlags(bits)
    }

    /// The wire value.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: DistFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags of `required` that are not set in `self`.
    pub const fn missing(self, required: DistFlags) -> DistFlags {
        DistFlags(required.0 & !self.0)
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` with the OTP 25 digest expanded into the flags it stands for,
    /// as OTP does before checking mandatory flags.
    pub const fn expand_digest(self) -> DistFlags {
        if self.0 & Self::MANDATORY_25_DIGEST.0 != 0 { DistFlags(self.0 | Self::MANDATORY_25.0) } else { self }
    }

    /// The OTP names of the flags that are set (unknown bits as hex).
    pub fn names(self) -> Vec<String> {
        let mut left = self.0;
        let mut out = Vec::new();
        for (flag, name) in NAMES {
            if left & flag.0 != 0 {
                out.push((*name).to_string());
                left &= !flag.0;
            }
        }
        if left != 0 {
            out.push(format!("UNKNOWN<{left:#x}>"));
        }
        out
    }
}

impl BitOr for DistFlags {
    type Output = DistFlags;
    fn bitor(self, rhs: DistFlags) -> DistFlags {
        DistFlags(self.0 | rhs.0)
    }
}

impl BitAnd for DistFlags {
    type Output = DistFlags;
    fn bitand(self, rhs: DistFlags) -> DistFlags {
        DistFlags(self.0 & rhs.0)
    }
}

impl Not for DistFlags {
    type Output = DistFlags;
    fn not(self) -> DistFlags {
        DistFlags(!self.0)
    }
}

impl fmt::Debug for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistFlags({:#x}: {})", self.0, self.names().join("|"))
    }
}

impl fmt::Display for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_25_matches_otp() {
        // erts_internal:get_dflags() on OTP 25.2.3 reports 0x1070F94 as mandatory.
        assert_eq!(DistFlags::MANDATORY_25.bits(), 0x1070F94);
    }

    #[test]
    fn default_is_the_recommended_hidden_set_plus_fragments() {
        assert_eq!(DistFlags::DEFAULT.bits(), 0x0000_000D_074F_4FBC | DistFlags::FRAGMENTS.bits());
        assert!(DistFlags::DEFAULT.contains(DistFlags::MANDATORY));
        assert!(!DistFlags::DEFAULT.contains(DistFlags::PUBLISHED));
        assert!(!DistFlags::DEFAULT.contains(DistFlags::DIST_HDR_ATOM_CACHE));
    }

    #[test]
    fn digest_stands_for_the_25_set() {
        let peer = DistFlags::MANDATORY_25_DIGEST | DistFlags::V4_NC | DistFlags::UNLINK_ID;
        assert!(peer.missing(DistFlags::MANDATORY).bits() != 0);
        assert!(peer.expand_digest().missing(DistFlags::MANDATORY).is_empty());
    }

    #[test]
    fn names_missing_flags() {
        let otp25 = DistFlags::from_bits(0x0000_000D_07DF_7FBD);
        assert!(otp25.missing(DistFlags::MANDATORY).is_empty());
        let old = DistFlags::MANDATORY_25;
        assert_eq!(old.missing(DistFlags::MANDATORY).names(), vec!["UNLINK_ID", "V4_NC"]);
        assert_eq!(DistFlags::from_bits(1 << 61).names(), vec!["UNKNOWN<0x2000000000000000>"]);
        assert_eq!(DistFlags::from_bits(1 << 60).names(), vec!["BEAMLINK_MESH"]);
    }
}
