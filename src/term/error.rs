//! Decode errors: what was wrong with the input, and where.

use std::fmt;

/// Why decoding failed, and at which byte offset of the input.
///
/// Offsets count from the first byte given to the decoder (the version byte
/// when there is one). Inside a compressed term they count within the
/// decompressed bytes, plus the offset where the compressed data starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct DecodeError {
    /// The byte offset where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }
}

/// The kinds of bad input the decoder recognises. Each limit violation has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a fixed-size field.
    #[error("input ends early: {needed} more byte(s) needed")]
    UnexpectedEnd {
        /// How many more bytes the field needed.
        needed: usize,
    },
    /// A length or count field promises more than the input holds.
    #[error("length field says {length} but only {remaining} byte(s) remain")]
    LengthExceedsInput {
        /// The value of the length or count field (for counts, the minimum bytes they need).
        length: u64,
        /// How many bytes were left after the field.
        remaining: usize,
    },
    /// The first byte was not the version byte 131.
    #[error("bad version byte {found} (expected 131)")]
    BadVersion {
        /// The byte found.
        found: u8,
    },
    /// A tag byte that is not part of the External Term Format.
    #[error("unknown tag {tag}")]
    UnknownTag {
        /// The tag byte.
        tag: u8,
    },
    /// `ATOM_CACHE_REF` (82) inside a term; the atom cache is never negotiated.
    #[error("atom cache reference not allowed (the atom cache is not used)")]
    AtomCacheRefNotAllowed,
    /// A distribution header (68/69) inside a term.
    #[error("distribution header not allowed inside a term")]
    DistributionHeaderNotAllowed,
    /// A compressed term (tag 80) anywhere but at the top level.
    #[error("compressed term not allowed inside another term")]
    MisplacedCompressed,
    /// An atom of more than 255 characters.
    #[error("atom has {chars} characters; at most 255 allowed")]
    AtomTooLong {
        /// Its length in characters (or bytes, for over-long byte lengths).
        chars: usize,
    },
    /// A UTF-8 atom whose bytes are not valid UTF-8.
    #[error("atom text is not valid UTF-8")]
    InvalidAtomUtf8,
    /// The per-connection atom budget ([`AtomTable`](super::AtomTable)) is used up.
    #[error("atom budget of {limit} {} exceeded", match budget { super::AtomBudget::Count => "distinct atoms", _ => "bytes of atoms" })]
    AtomBudgetExceeded {
        /// The budget.
        limit: usize,
        /// Which budget: atoms or their bytes.
        budget: super::AtomBudget,
    },
    /// Terms nest deeper than [`DecodeLimits::max_depth`](super::DecodeLimits::max_depth).
    #[error("nesting deeper than the limit of {limit}")]
    DepthLimit {
        /// The limit.
        limit: usize,
    },
    /// The decoded term would occupy more than [`DecodeLimits::max_decoded_bytes`](super::DecodeLimits::max_decoded_bytes).
    #[error("decoded term would exceed the size limit of {limit} bytes")]
    DecodedSizeLimit {
        /// The limit.
        limit: usize,
    },
    /// A bignum longer than [`DecodeLimits::max_bignum_bytes`](super::DecodeLimits::max_bignum_bytes).
    #[error("bignum of {bytes} bytes exceeds the limit of {limit}")]
    BignumTooLarge {
        /// The bignum's byte length.
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// A bignum sign byte other than 0 or 1.
    #[error("bignum sign byte {sign} (expected 0 or 1)")]
    BadBignumSign {
        /// The byte found.
        sign: u8,
    },
    /// The zlib stream of a compressed term is corrupt.
    #[error("decompression failed: {reason}")]
    DecompressFailed {
        /// What the inflater reported.
        reason: String,
    },
    /// The compressed data inflated to a size other than the one declared.
    #[error("compressed term declared {declared} bytes but inflated to {actual}")]
    DecompressedSizeMismatch {
        /// The declared uncompressed size.
        declared: usize,
        /// What it inflated to (at least, when it inflated to more).
        actual: usize,
    },
    /// The declared uncompressed size is over [`DecodeLimits::max_decompressed_bytes`](super::DecodeLimits::max_decompressed_bytes).
    #[error("compressed term declares {declared} bytes; the limit is {limit}")]
    DecompressedTooLarge {
        /// The declared uncompressed size.
        declared: u64,
        /// The limit.
        limit: usize,
    },
    /// A NaN or infinite `NEW_FLOAT_EXT`, or `FLOAT_EXT` text that is not a finite number.
    #[error("invalid float")]
    InvalidFloat,
    /// `BIT_BINARY_EXT` with a bit count outside 1..=8, or bits on an empty binary.
    #[error("bad bit count {bits} for a bit string of {len} byte(s)")]
    BadBitCount {
        /// The bit count.
        bits: u8,
        /// The byte length.
        len: u32,
    },
    /// A reference with 0 or more than 5 words.
    #[error("reference has {words} words (1 to 5 allowed)")]
    BadReferenceLength {
        /// The word count.
        words: u16,
    },
    /// A map with the same key twice.
    #[error("map has a duplicate key")]
    DuplicateMapKey,
    /// Bytes left over after the term.
    #[error("{count} trailing byte(s) after the term")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A field that must hold a particular kind of term holds something else
    /// (a pid's node that is not an atom, a fun whose size field is wrong, ...).
    #[error("malformed {what}")]
    Malformed {
        /// What was expected.
        what: &'static str,
    },
}

impl fmt::Display for super::AtomBudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.budget {
            super::AtomBudget::Count => write!(f, "atom budget of {} distinct atoms exceeded", self.limit),
            _ => write!(f, "atom budget of {} bytes of atoms exceeded", self.limit),
        }
    }
}
