//! Connected-mode packets: the pass-through format, the distribution header
//! format, and fragments.
//!
//! See [the distribution protocol, "Distribution Header"](https://www.erlang.org/doc/apps/erts/erl_ext_dist.html#distribution-header).
//! Which format a connection uses in BOTH directions follows from the
//! negotiated flags: with neither DIST_HDR_ATOM_CACHE nor FRAGMENTS a packet is
//! `112, 131 Control [, 131 Payload]`; with either, it is `131, 68, 0, Control
//! [, Payload]` (bare terms, no atom-cache references since beamlink does not
//! negotiate the cache), and long messages may be split into fragments
//! `131, 69, Seq, FragId, 0, ...` followed by `131, 70, Seq, FragId, ...` with
//! FragId counting down to 1.
//!
//! [`PacketDecoder`] reassembles and decodes incoming packets under limits;
//! [`encode_message`] and [`Fragments`] produce outgoing ones.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::DistFlags;
use super::control::{Control, ControlError};
use crate::term::{self, DecodeError, Decoder, EncodeError};

/// The pass-through tag that starts a packet without a distribution header.
pub const PASS_THROUGH: u8 = 112;
/// DISTRIBUTION_HEADER: a whole message.
const DIST_HEADER: u8 = 68;
/// DIST_FRAG_HEADER: the first fragment.
const DIST_FRAG_HEADER: u8 = 69;
/// DIST_FRAG_CONT: a later fragment.
const DIST_FRAG_CONT: u8 = 70;

/// The packet format of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketFormat {
    /// `112` + versioned terms.
    PassThrough,
    /// The distribution header (`131, 68`), with fragments when FRAGMENTS was negotiated.
    Header {
        /// Whether long messages may be split.
        fragments: bool,
    },
}

impl PacketFormat {
    /// The format the negotiated flags call for.
    pub fn for_flags(flags: DistFlags) -> PacketFormat {
        if flags.contains(DistFlags::FRAGMENTS) || flags.contains(DistFlags::DIST_HDR_ATOM_CACHE) {
            PacketFormat::Header { fragments: flags.contains(DistFlags::FRAGMENTS) }
        } else {
            PacketFormat::PassThrough
        }
    }
}

/// Limits on what one peer may make this node hold while reassembling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Fragment sequences open at once.
    pub max_open_sequences: usize,
    /// Bytes held across all open sequences.
    pub max_reassembly_bytes: usize,
}

impl Default for ReassemblyLimits {
    /// 64 open sequences (OTP opens one per sending process with a large
    /// message in flight) and 256 MiB held.
    fn default() -> Self {
        ReassemblyLimits { max_open_sequences: 64, max_reassembly_bytes: 256 << 20 }
    }
}

/// A packet the decoder refused; the connection must be closed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The first bytes are not a known packet start for this connection's format.
    #[error("bad packet start {found:02x?} for the {format:?} format")]
    BadStart {
        /// The bytes found.
        found: Vec<u8>,
        /// The connection's format.
        format: PacketFormat,
    },
    /// Atom-cache references, which beamlink does not negotiate.
    #[error("packet uses {0} atom-cache references, but the atom cache was not negotiated")]
    AtomCache(u8),
    /// A packet ended inside its header.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Fragment protocol violation.
    #[error("fragment error: {0}")]
    Fragment(String),
    /// A reassembly limit was crossed.
    #[error("reassembly limit crossed: {detail} ({limit})")]
    Limit {
        /// The name of the limit, as in `beamlink::node::Limits`.
        limit: &'static str,
        /// What happened.
        detail: String,
    },
    /// A term did not decode.
    #[error("bad term in {part}: {source}")]
    Term {
        /// Control or payload.
        part: &'static str,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
    /// Bytes left after the payload.
    #[error("{0} bytes after the payload term")]
    Trailing(usize),
    /// The control message is malformed.
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// An unfinished fragmented message: its parts so far, joined once complete.
struct Sequence {
    next_frag: u64,
    parts: Vec<Bytes>,
    len: usize,
}

/// Fragments shorter than this are copied out of the read buffer instead of
/// referenced, so a peer sending many tiny fragments cannot pin whole read
/// buffers with them.
const PIN_MIN: usize = 16 * 1024;

impl Sequence {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        self.parts.push(if data.len() < PIN_MIN { Bytes::copy_from_slice(&data) } else { data });
    }

    /// The whole message: one copy into a buffer of exactly its size.
    fn join(mut self) -> Bytes {
        if self.parts.len() == 1 {
            return self.parts.pop().unwrap_or_default();
        }
        let mut all = BytesMut::with_capacity(self.len);
        for part in &self.parts {
            all.put_slice(part);
        }
        all.freeze()
    }
}

/// Turns incoming packets into control messages, reassembling fragments.
pub struct PacketDecoder {
    format: PacketFormat,
    terms: Decoder,
    limits: ReassemblyLimits,
    sequences: HashMap<u64, Sequence>,
    held: usize,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("format", &self.format)
            .field("sequences", &self.sequences.len())
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

fn read_u64(buf: &[u8], at: usize, what: &'static str) -> Result<u64, PacketError> {
    let b = buf.get(at..at + 8).ok_or(PacketError::Truncated(what))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

impl PacketDecoder {
    /// A decoder for a connection of `format`, decoding terms with `terms`.
    pub fn new(format: PacketFormat, terms: Decoder, limits: ReassemblyLimits) -> PacketDecoder {
        PacketDecoder { format, terms, limits, sequences: HashMap::new(), held: 0 }
    }

    /// Bytes currently held in open fragment sequences.
    pub fn reassembly_bytes(&self) -> usize {
        self.held
    }

    /// Decodes one packet (without its length prefix, never a tick). Returns
    /// `None` when the packet was a fragment of a message not yet complete.
    pub fn decode(&mut self, packet: Bytes) -> Result<Option<Control>, PacketError> {
        match (self.format, packet.first(), packet.get(1)) {
            (PacketFormat::PassThrough, Some(&PASS_THROUGH), _) => self.decode_body(packet.slice(1..), true).map(Some),
            (PacketFormat::Header { .. }, Some(&term::VERSION_MAGIC), Some(&DIST_HEADER)) => {
                let refs = *packet.get(2).ok_or(PacketError::Truncated("distribution header"))?;
                if refs != 0 {
                    return Err(PacketError::AtomCache(refs));
                }
                self.decode_body(packet.slice(3..), false).map(Some)
            }
            (PacketFormat::Header { fragments: true }, Some(&term::VERSION_MAGIC), Some(&DIST_FRAG_HEADER)) => {
                self.first_fragment(packet)
            }
            (PacketFormat::Header { fragments: true }, Some(&term::VERSION_MAGIC), Some(&DIST_FRAG_CONT)) => {
                self.continuation(packet)
            }
            _ => Err(PacketError::BadStart { found: packet.iter().take(2).copied().collect(), format: self.format }),
        }
    }

    fn first_fragment(&mut self, packet: Bytes) -> Result<Option<Control>, PacketError> {
        let seq = read_u64(&packet, 2, "fragment header")?;
        let frag = read_u64(&packet, 10, "fragment header")?;
        let refs = *packet.get(18).ok_or(PacketError::Truncated("fragment header"))?;
        if refs != 0 {
            return Err(PacketError::AtomCache(refs));
        }
        let data = packet.slice(19..);
        if frag == 0 {
            return Err(PacketError::Fragment(format!("sequence {seq} starts with fragment id 0")));
        }
        if frag == 1 {
            return self.decode_body(data, false).map(Some);
        }
        if self.sequences.contains_key(&seq) {
            return Err(PacketError::Fragment(format!("sequence {seq} started twice")));
        }
        if self.sequences.len() >= self.limits.max_open_sequences {
            return Err(PacketError::Limit {
                limit: "max_fragment_sequences",
                detail: format!("more than {} fragment sequences open at once", self.limits.max_open_sequences),
            });
        }
        self.hold(data.len())?;
        let mut sequence = Sequence { next_frag: frag - 1, parts: Vec::new(), len: 0 };
        sequence.push(data);
        self.sequences.insert(seq, sequence);
        Ok(None)
    }

    fn continuation(&mut self, packet: Bytes) -> Result<Option<Control>, PacketError> {
        let seq = read_u64(&packet, 2, "fragment continuation")?;
        let frag = read_u64(&packet, 10, "fragment continuation")?;
        let data = packet.slice(18..);
        let expected = match self.sequences.get(&seq) {
            Some(s) => s.next_frag,
            None => return Err(PacketError::Fragment(format!("continuation of unknown sequence {seq}"))),
        };
        if frag != expected {
            return Err(PacketError::Fragment(format!("sequence {seq}: fragment {frag} arrived, {expected} expected")));
        }
        self.hold(data.len())?;
        let done = {
            let s = self.sequences.get_mut(&seq).ok_or_else(|| PacketError::Fragment("sequence vanished".into()))?;
            s.push(data);
            s.next_frag -= 1;
            s.next_frag == 0
        };
        if !done {
            return Ok(None);
        }
        let s = self.sequences.remove(&seq).ok_or_else(|| PacketError::Fragment("sequence vanished".into()))?;
        self.held -= s.len;
        self.decode_body(s.join(), false).map(Some)
    }

    fn hold(&mut self, n: usize) -> Result<(), PacketError> {
        if self.held + n > self.limits.max_reassembly_bytes {
            return Err(PacketError::Limit {
                limit: "max_reassembly_bytes",
                detail: format!("more than {} bytes held in fragment reassembly", self.limits.max_reassembly_bytes),
            });
        }
        self.held += n;
        Ok(())
    }

    fn decode_body(&mut self, body: Bytes, versioned: bool) -> Result<Control, PacketError> {
        let (control, used) = self
            .terms
            .decode_prefix(&body, versioned)
            .map_err(|source| PacketError::Term { part: "control", source })?;
        let rest = body.slice(used..);
        let payload = if rest.is_empty() {
            None
        } else {
            let (payload, used) = self
                .terms
                .decode_prefix(&rest, versioned)
                .map_err(|source| PacketError::Term { part: "payload", source })?;
            if used != rest.len() {
                return Err(PacketError::Trailing(rest.len() - used));
            }
            Some(payload)
        };
        Ok(Control::decode(control, payload)?)
    }
}

/// An encoding sink that keeps large binaries as separate chunks, so a big
/// payload is written from the sender's own buffer without being copied.
#[derive(Debug, Default)]
pub struct ChunkSink {
    chunks: Vec<Bytes>,
    current: BytesMut,
    len: usize,
}

/// Binaries at least this long are referenced, not copied.
const ZERO_COPY_MIN: usize = 16 * 1024;

impl ChunkSink {
    /// An empty sink.
    pub fn new() -> ChunkSink {
        ChunkSink::default()
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The written bytes as a list of chunks.
    pub fn into_chunks(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
        self.chunks
    }
}

impl term::EncodeSink for ChunkSink {
    fn put_u8(&mut self, b: u8) {
        BufMut::put_u8(&mut self.current, b);
        self.len += 1;
    }

    fn put_slice(&mut self, s: &[u8]) {
        BufMut::put_slice(&mut self.current, s);
        self.len += s.len();
    }

    fn put_bytes(&mut self, b: &Bytes) {
        if b.len() < ZERO_COPY_MIN {
            return term::EncodeSink::put_slice(self, b);
        }
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
        self.chunks.push(b.clone());
        self.len += b.len();
    }
}

/// Encodes one control message (and its payload) as the body of a message
/// in `format`, without packet headers: the caller wraps it with
/// [`Fragments`]. Large binaries in the payload are referenced, not copied.
pub fn encode_message(format: PacketFormat, control: &Control, flags: DistFlags) -> Result<ChunkSink, EncodeError> {
    let mut sink = ChunkSink::new();
    encode_body(format, control, flags, &mut sink)?;
    Ok(sink)
}

fn encode_body<S: term::EncodeSink + ?Sized>(
    format: PacketFormat,
    control: &Control,
    flags: DistFlags,
    sink: &mut S,
) -> Result<(), EncodeError> {
    let versioned = format == PacketFormat::PassThrough;
    let payload = control.encode_into(flags, versioned, sink)?;
    match (payload, versioned) {
        (Some(p), true) => term::encode_into(p, sink),
        (Some(p), false) => term::encode_bare_into(p, sink),
        (None, _) => Ok(()),
    }
}

/// Appends one whole message as a single packet — length prefix, packet
/// header, control, payload — straight into `out`, with no intermediate
/// buffer: the fast path for messages that need no fragmenting. Returns the
/// packet's size. On error `out` is left as it was.
pub fn encode_packet_into(
    format: PacketFormat,
    control: &Control,
    flags: DistFlags,
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let start = out.len();
    out.put_u32(0);
    match format {
        PacketFormat::PassThrough => out.put_u8(PASS_THROUGH),
        PacketFormat::Header { .. } => out.put_slice(&[term::VERSION_MAGIC, DIST_HEADER, 0]),
    }
    if let Err(e) = encode_body(format, control, flags, out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - 4;
    let Ok(len32) = u32::try_from(len) else {
        out.truncate(start);
        return Err(EncodeError::TooLong { what: "packet", len });
    };
    out[start..start + 4].copy_from_slice(&len32.to_be_bytes());
    Ok(len + 4)
}

/// The packets of one outgoing message, produced one at a time so a writer
/// can put other messages between the fragments of a long one.
#[derive(Debug)]
pub struct Fragments {
    format: PacketFormat,
    seq: u64,
    chunks: std::collections::VecDeque<Bytes>,
    remaining: usize,
    next_frag: u64,
    first: bool,
    fragment_size: usize,
}

impl Fragments {
    /// Splits an encoded message into packets of at most `fragment_size`
    /// body bytes (when the format allows fragments), numbering the
    /// sequence `seq`.
    pub fn new(format: PacketFormat, body: ChunkSink, seq: u64, fragment_size: usize) -> Fragments {
        let remaining = body.len();
        let fragment_size = fragment_size.max(1);
        let count = match format {
            PacketFormat::Header { fragments: true } if remaining > fragment_size => remaining.div_ceil(fragment_size),
            _ => 1,
        };
        Fragments {
            format,
            seq,
            chunks: body.into_chunks().into(),
            remaining,
            next_frag: count as u64,
            first: true,
            fragment_size,
        }
    }

    /// Whether more than one packet will be needed.
    pub fn is_fragmented(&self) -> bool {
        self.first && self.next_frag > 1
    }

    /// Whether every packet has been produced.
    pub fn is_done(&self) -> bool {
        !self.first && self.next_frag == 0
    }

    /// Appends the next packet to `out` as a list of byte chunks: the 4-byte
    /// length, the packet header, then the body slice. Returns the packet's
    /// size in bytes, 0 when there are no more packets.
    pub fn next_packet(&mut self, out: &mut Vec<Bytes>) -> usize {
        if self.is_done() {
            return 0;
        }
        let mut header = BytesMut::with_capacity(32);
        let body_len = if self.next_frag > 1 { self.fragment_size } else { self.remaining };
        match (self.format, self.first, self.next_frag) {
            (PacketFormat::PassThrough, _, _) => header.put_u8(PASS_THROUGH),
            (PacketFormat::Header { .. }, true, 1) => header.put_slice(&[term::VERSION_MAGIC, DIST_HEADER, 0]),
            (PacketFormat::Header { .. }, true, n) => {
                header.put_slice(&[term::VERSION_MAGIC, DIST_FRAG_HEADER]);
                header.put_u64(self.seq);
                header.put_u64(n);
                header.put_u8(0);
            }
            (PacketFormat::Header { .. }, false, n) => {
                header.put_slice(&[term::VERSION_MAGIC, DIST_FRAG_CONT]);
                header.put_u64(self.seq);
                header.put_u64(n);
            }
        }
        let packet_len = 4 + header.len() + body_len;
        let mut frame = BytesMut::with_capacity(4 + header.len());
        frame.put_u32((header.len() + body_len) as u32);
        frame.put_slice(&header);
        out.push(frame.freeze());
        let mut left = body_len;
        while left > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else { break };
            if chunk.len() > left {
                let rest = chunk.split_off(left);
                self.chunks.push_front(rest);
            }
            left -= chunk.len();
            out.push(chunk);
        }
        self.remaining -= body_len;
        self.first = false;
        self.next_frag -= 1;
        packet_len
    }
}

#[cfg(test)]
mod tests;
