//! Connections: the generic driver that runs the handshake over any
//! transport's stream, then a reader and a writer task per peer (the role of
//! OTP's `dist_util` connection loop, shared by every carrier).
//!
//! - [`handshake`]: [`handshake::initiate`] and [`handshake::accept`] drive the
//!   sans-IO state machines of [`crate::proto::handshake`] over a stream.
//! - [`queue`]: a connection's outgoing queue (many senders, one writer, back-pressure).
//! - [`start`]: runs an established connection until it fails or is closed.
//! - [`stats`]: its counters of bytes, messages and ticks each way.

pub mod handshake;
pub mod queue;
mod reader;
pub mod stats;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;

pub use queue::{OutQueue, QueueError};
pub use stats::{ConnStats, Counters};

use crate::proto::DistFlags;
use crate::proto::control::Control;
use crate::proto::frame::{FrameDecoder, FrameError};
use crate::proto::handshake::HandshakeError;
use crate::proto::packet::{PacketDecoder, PacketError, PacketFormat, ReassemblyLimits};
use crate::term::{AtomTable, DecodeLimits, Decoder};
use crate::transport::BoxStream;

/// Why a connection (or its handshake) ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// A socket error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// The handshake did not finish in time.
    #[error("the handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// A write made no progress for too long: the peer does not read.
    #[error("a write to the peer made no progress for {0:?} (write_timeout)")]
    WriteTimeout(Duration),
    /// The peer asked for more than this node may hold for it.
    #[error("the peer crossed {limit}: {detail}")]
    Limit {
        /// The limit's name in `beamlink::node::Limits`.
        limit: &'static str,
        /// What was counted.
        detail: String,
    },
    /// Nothing, not even a tick, arrived for too long.
    #[error("no data or tick from the peer for {0:?} (net_ticktime)")]
    TickTimeout(Duration),
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A frame was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A packet was refused.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The transport refused (e.g. the certificate does not match the name).
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// This node closed the connection.
    #[error("closed by this node: {0}")]
    Local(String),
    /// The peer's address could not be found (EPMD, the host name); boxed,
    /// to keep the error small on the paths that run per message.
    #[error(transparent)]
    Resolve(Box<crate::transport::ResolveError>),
    /// Finding or reaching the peer took longer than the connect timeout.
    #[error("{what} took longer than {after:?}")]
    SetupTimeout {
        /// What was being done, e.g. "looking up a@host".
        what: String,
        /// The bound that expired.
        after: Duration,
    },
}

impl From<crate::transport::ResolveError> for ConnError {
    fn from(e: crate::transport::ResolveError) -> ConnError {
        ConnError::Resolve(Box::new(e))
    }
}

impl ConnError {
    /// An I/O error with what was being done.
    pub fn io(context: &'static str, source: std::io::Error) -> ConnError {
        ConnError::Io { context, source }
    }

    /// The limit the peer crossed, by its name in `beamlink::node::Limits`
    /// (or in `DecodeLimits` for the decoder's own), when that is why the
    /// connection ended.
    pub fn limit(&self) -> Option<&'static str> {
        use crate::term::DecodeErrorKind as K;
        match self {
            ConnError::Frame(FrameError::TooLarge { .. }) => Some("max_frame_size"),
            ConnError::HandshakeTimeout(_) => Some("handshake_timeout"),
            ConnError::WriteTimeout(_) => Some("write_timeout"),
            ConnError::Limit { limit, .. } => Some(limit),
            ConnError::Packet(PacketError::Limit { limit, .. }) => Some(limit),
            ConnError::Packet(PacketError::Term { source, .. }) => match source.kind {
                K::DepthLimit { .. } => Some("max_term_depth"),
                K::DecodedSizeLimit { .. } => Some("max_decoded_bytes"),
                K::AtomBudgetExceeded { budget: crate::term::AtomBudget::Count, .. } => {
                    Some("max_atoms_per_connection")
                }
                K::AtomBudgetExceeded { .. } => Some("max_atom_bytes_per_connection"),
                K::BignumTooLarge { .. } => Some("max_bignum_bytes"),
                K::DecompressedTooLarge { .. } => Some("max_decompressed_bytes"),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What the node hands back for a message it cannot take in yet (a full
/// mailbox): the reader stops reading from the peer until it completes.
pub type Pause = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Settings and limits for connected mode.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// OTP's `net_ticktime`: a peer silent this long is declared down, and
    /// this node ticks every quarter of it when it has nothing else to send.
    pub ticktime: Duration,
    /// Largest packet accepted (before reassembly).
    pub max_frame: usize,
    /// Limits on decoding each term.
    pub decode_limits: DecodeLimits,
    /// Distinct atoms one peer may introduce.
    pub max_atoms: usize,
    /// Bytes those atoms may occupy (see [`AtomTable::with_max_bytes`]).
    pub max_atom_bytes: usize,
    /// Longest a write may make no progress before the connection is closed.
    pub write_timeout: Duration,
    /// Limits on fragment reassembly.
    pub reassembly: ReassemblyLimits,
    /// Body bytes per outgoing fragment. OTP uses 64 KiB; beamlink defaults
    /// to 256 KiB, so a 64 KiB message (plus its control term) still travels
    /// as one packet and is decoded in place, while a long message holds up
    /// others on the same connection for at most one fragment (about 0.1 ms
    /// on loopback). Peers accept any fragment size.
    pub fragment_size: usize,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            ticktime: Duration::from_secs(60),
            max_frame: 128 << 20,
            decode_limits: DecodeLimits::default(),
            max_atoms: 1 << 20,
            max_atom_bytes: 32 << 20,
            write_timeout: Duration::from_secs(60),
            reassembly: ReassemblyLimits::default(),
            fragment_size: 256 * 1024,
        }
    }
}

/// A running connection: close it, or learn when it ends through the
/// `on_down` callback given to [`start`].
#[derive(Debug)]
pub struct Running {
    queue: Arc<OutQueue>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Closes the connection: queued messages are dropped, both tasks end,
    /// and `on_down` runs with [`ConnError::Local`].
    pub fn close(&self) {
        self.queue.close();
        let _ = self.closing.send(true);
    }
}

type OnDown = Box<dyn FnOnce(ConnError) + Send>;

/// What a running connection shares with the node: its outgoing queue and
/// its counters.
#[derive(Clone)]
pub struct Handles {
    /// The outgoing queue the writer drains.
    pub queue: Arc<OutQueue>,
    /// The counters the reader and writer keep.
    pub stats: Arc<ConnStats>,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("queued_bytes", &self.queue.queued_bytes())
            .field("counters", &self.stats.snapshot())
            .finish()
    }
}

/// Runs an established connection: a writer task draining `queue` and a
/// reader task passing each control message to `deliver`, until either
/// fails or [`Running::close`] is called. `on_down` runs exactly once, with
/// the first reason.
pub fn start(
    stream: BoxStream,
    leftover: BytesMut,
    flags: DistFlags,
    handles: Handles,
    config: &ConnConfig,
    deliver: impl FnMut(Control) -> Result<Option<Pause>, ConnError> + Send + 'static,
    on_down: impl FnOnce(ConnError) + Send + 'static,
) -> Running {
    let Handles { queue, stats } = handles;
    let format = PacketFormat::for_flags(flags);
    let (read_half, write_half) = tokio::io::split(stream);
    let (closing, mut closed) = tokio::sync::watch::channel(false);
    let on_down: Arc<Mutex<Option<OnDown>>> = Arc::new(Mutex::new(Some(Box::new(on_down))));
    let finish = {
        let queue = queue.clone();
        let closing = closing.clone();
        let on_down = on_down.clone();
        move |reason: ConnError| {
            queue.close();
            let _ = closing.send(true);
            let callback = on_down.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(callback) = callback {
                callback(reason);
            }
        }
    };

    let writer_config = writer::WriterConfig {
        format,
        flags,
        fragment_size: config.fragment_size,
        tick_interval: config.ticktime / 4,
        write_timeout: config.write_timeout,
    };
    let writer_queue = queue.clone();
    let writer_stats = stats.clone();
    let writer_finish = finish.clone();
    let mut writer_closed = closed.clone();
    tokio::spawn(async move {
        // A write to a peer that does not read can wait up to the write
        // timeout; a connection closed meanwhile (a limit crossed, the
        // reader gone) stops it at once, so that the socket is released.
        let reason = tokio::select! {
            biased;
            r = writer::run(write_half, writer_queue, writer_config, writer_stats) => match r {
                Ok(()) => ConnError::Local("connection closed".into()),
                Err(e) => e,
            },
            _ = writer_closed.wait_for(|c| *c) => ConnError::Local("connection closed".into()),
        };
        writer_finish(reason);
    });

    let terms = Decoder::new(config.decode_limits.clone())
        .with_atom_table(AtomTable::new(config.max_atoms).with_max_bytes(config.max_atom_bytes));
    let packets = PacketDecoder::new(format, terms, config.reassembly);
    let frames = FrameDecoder::connected(config.max_frame);
    let silence = config.ticktime;
    let reader_handles = Handles { queue: queue.clone(), stats };
    tokio::spawn(async move {
        let read = reader::run(read_half, leftover, frames, packets, silence, deliver, &reader_handles);
        // Biased (here and in the writer): when both branches are ready the
        // first one wins, rather than one picked by the runtime's random
        // generator, so a connection behaves the same way every time under a
        // seeded simulation. The peer's own reason is the more useful one.
        let reason = tokio::select! {
            biased;
            r = read => match r { Ok(()) => ConnError::Closed, Err(e) => e },
            _ = closed.wait_for(|c| *c) => ConnError::Local("connection closed".into()),
        };
        finish(reason);
    });
    Running { queue, closing }
}
