//! The writer task of a connection: encodes queued messages, interleaves the
//! fragments of long messages with short ones, batches everything into few
//! system calls, and ticks when there is nothing else to say.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::ConnError;
use super::queue::OutQueue;
use crate::proto::DistFlags;
use crate::proto::control::Control;
use crate::proto::frame::TICK;
use crate::proto::packet::{Fragments, PacketFormat, encode_message, encode_packet_into};

/// How the writer splits and batches.
#[derive(Clone, Copy, Debug)]
pub struct WriterConfig {
    /// The connection's packet format.
    pub format: PacketFormat,
    /// The negotiated flags (they decide each control message's form).
    pub flags: DistFlags,
    /// Body bytes per fragment (OTP uses 64 KiB).
    pub fragment_size: usize,
    /// Tick after this long without writing anything.
    pub tick_interval: Duration,
    /// Close the connection when one write makes no progress for this long.
    pub write_timeout: Duration,
}

/// Chunks shorter than this are copied into one buffer; longer ones are written in place.
const COALESCE_MAX: usize = 16 * 1024;
/// Bytes emitted per round before new work is taken from the queue, so a
/// long message cannot delay short ones (or ticks) by more than this much.
const ROUND_BUDGET: usize = 256 * 1024;
/// After this long with nothing to write, the writer (and the queue) give
/// back the room the last burst of messages left them, so an idle connection
/// holds no message buffers.
const IDLE_RELEASE: Duration = Duration::from_millis(500);
/// Most message bytes in the writer's hands at once; the rest wait in the
/// queue, where they count against its high-water mark (back-pressure).
const TAKE_BUDGET: usize = 1 << 20;

/// One message in the writer's hands, and the process it must stay in order with.
struct Pending {
    order_key: Option<(u32, u32)>,
    packets: Fragments,
    cost: usize,
}

/// Runs until the queue is closed or a write fails.
///
/// Each round takes up to [`TAKE_BUDGET`] bytes of queued messages. A short
/// message (up to [`COALESCE_MAX`]), when no long message is in progress, is
/// encoded straight into the output buffer (the fast path: no allocation per
/// message); others are encoded into chunks, their large binaries referenced
/// rather than copied, and sent one fragment at a time between other
/// senders' messages. Messages count against the queue's
/// high-water mark until they are written.
pub async fn run<W: AsyncWrite + Unpin>(
    mut out: W,
    queue: Arc<OutQueue>,
    config: WriterConfig,
    stats: Arc<super::stats::ConnStats>,
) -> Result<(), ConnError> {
    let mut taken: Vec<(Control, usize)> = Vec::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut pending_cost = 0usize;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut buf = BytesMut::new();
    let mut next_seq: u64 = 1;
    let mut last_write = Instant::now();
    loop {
        if queue.is_closed() {
            return Ok(());
        }
        let room = TAKE_BUDGET.saturating_sub(pending_cost);
        if room > 0 {
            queue.take_into(&mut taken, room);
        }
        let mut written_cost = 0;
        // Messages that go out: not those the peer does not support or that
        // cannot be encoded, which are dropped.
        let mut messages = 0u64;
        for (control, cost) in taken.drain(..) {
            if !control.understood_with(config.flags) {
                written_cost += cost;
                tracing::trace!(control = ?control.sender(), "not sent: the peer does not support it");
                continue;
            }
            // The fast path copies the message into the output buffer: right
            // for short messages, while long ones keep their binaries in place.
            if pending.is_empty() && cost <= COALESCE_MAX {
                written_cost += cost;
                match encode_packet_into(config.format, &control, config.flags, &mut buf) {
                    Ok(_) => messages += 1,
                    Err(e) => tracing::error!(error = %e, "dropping an outgoing message that cannot be encoded"),
                }
                continue;
            }
            let order_key = control.sender().map(|p| (p.id, p.serial));
            match encode_message(config.format, &control, config.flags) {
                Ok(body) => {
                    let packets = Fragments::new(config.format, body, next_seq, config.fragment_size);
                    if packets.is_fragmented() {
                        next_seq += 1;
                    }
                    pending_cost += cost;
                    pending.push_back(Pending { order_key, packets, cost });
                    messages += 1;
                }
                // The sender checked the size limit; anything else is a bug
                // in what was queued. Drop that message, keep the connection.
                Err(e) => {
                    written_cost += cost;
                    tracing::error!(error = %e, "dropping an outgoing message that cannot be encoded");
                }
            }
        }
        let tick_asked = queue.take_tick_request();
        if pending.is_empty() && buf.is_empty() {
            // Nothing was encoded (messages is 0): whatever was taken was dropped.
            queue.written(written_cost);
            if tick_asked {
                write_all(&mut out, &TICK, config.write_timeout).await?;
                stats.sent(TICK.len() as u64, 0, 1);
                queue.note_written();
                last_write = Instant::now();
                continue;
            }
            let idle_until = last_write + config.tick_interval;
            let holding = taken.capacity() + pending.capacity() + chunks.capacity() + buf.capacity() > 0;
            // Biased: queued work wins over a tick falling due at the same
            // moment (the data counts as traffic too), deterministically.
            tokio::select! {
                biased;
                _ = queue.wait_for_work() => continue,
                _ = tokio::time::sleep_until(last_write + IDLE_RELEASE), if holding => {
                    taken = Vec::new();
                    pending = VecDeque::new();
                    chunks = Vec::new();
                    buf = BytesMut::new();
                    queue.release_idle_room();
                    continue;
                }
                _ = tokio::time::sleep_until(idle_until) => {
                    write_all(&mut out, &TICK, config.write_timeout).await?;
                    stats.sent(TICK.len() as u64, 0, 1);
                    queue.note_written();
                    last_write = Instant::now();
                    continue;
                }
            }
        }
        if tick_asked {
            // Answer the tick as a tick even with data going out: the peer
            // may count ticks, not bytes.
            buf.extend_from_slice(&TICK);
        }
        let completed = emit_round(&mut pending, &mut chunks);
        pending_cost -= completed;
        let bytes = write_chunks(&mut out, &mut chunks, &mut buf, config.write_timeout).await?;
        stats.sent(bytes, messages, u64::from(tick_asked));
        queue.written(written_cost + completed);
        queue.note_written();
        last_write = Instant::now();
    }
}

/// Emits up to [`ROUND_BUDGET`] bytes of packets: whole short messages, and
/// one fragment at a time of long ones, keeping each sender's messages in
/// order. Returns the cost of the messages it finished.
fn emit_round(pending: &mut VecDeque<Pending>, chunks: &mut Vec<Bytes>) -> usize {
    let mut completed = 0;
    let any_fragmented = pending.iter().any(|p| !p.packets.is_done() && p.packets.is_fragmented());
    if !any_fragmented {
        // Short messages only: all of them, in order.
        while let Some(mut p) = pending.pop_front() {
            while p.packets.next_packet(chunks) > 0 {}
            completed += p.cost;
        }
        return completed;
    }
    let mut budget = ROUND_BUDGET;
    // Senders with an unfinished message earlier in the list: their later
    // messages wait. The writer holds at most TAKE_BUDGET bytes, so this
    // list stays short.
    let mut blocked: Vec<Option<(u32, u32)>> = Vec::new();
    let mut i = 0;
    while i < pending.len() && budget > 0 {
        let key = pending[i].order_key;
        if blocked.contains(&key) {
            i += 1;
            continue;
        }
        let emitted = pending[i].packets.next_packet(chunks);
        budget = budget.saturating_sub(emitted);
        if pending[i].packets.is_done() {
            if let Some(p) = pending.remove(i) {
                completed += p.cost;
            }
        } else {
            // The rest of this message, and everything its sender sent after
            // it, waits for the next round.
            blocked.push(key);
            i += 1;
        }
    }
    completed
}

/// Runs one write or flush, failing when it makes no progress within `limit`.
async fn progress<T>(
    limit: Duration,
    what: &'static str,
    io: impl Future<Output = std::io::Result<T>>,
) -> Result<T, ConnError> {
    match tokio::time::timeout(limit, io).await {
        Ok(done) => done.map_err(|e| ConnError::io(what, e)),
        Err(_) => Err(ConnError::WriteTimeout(limit)),
    }
}

async fn write_all<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8], limit: Duration) -> Result<(), ConnError> {
    progress(limit, "write", out.write_all(bytes)).await?;
    progress(limit, "flush", out.flush()).await
}

/// Writes what `small` holds, then the chunks: short chunks are copied
/// together, long ones written in place, with vectored writes where the
/// stream supports them. Returns the bytes written.
async fn write_chunks<W: AsyncWrite + Unpin>(
    out: &mut W,
    chunks: &mut Vec<Bytes>,
    small: &mut BytesMut,
    limit: Duration,
) -> Result<u64, ConnError> {
    let mut batch: Vec<Bytes> = Vec::with_capacity(chunks.len() + 1);
    for chunk in chunks.drain(..) {
        if chunk.len() < COALESCE_MAX {
            small.extend_from_slice(&chunk);
        } else {
            if !small.is_empty() {
                batch.push(small.split().freeze());
            }
            batch.push(chunk);
        }
    }
    if !small.is_empty() {
        batch.push(small.split().freeze());
    }
    let total: u64 = batch.iter().map(|b| b.len() as u64).sum();
    let mut index = 0;
    let mut offset = 0;
    while index < batch.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&batch[index][offset..])
            .chain(batch[index + 1..].iter().map(|b| &b[..]))
            .take(64)
            .map(IoSlice::new)
            .collect();
        let mut written = progress(limit, "write", out.write_vectored(&slices)).await?;
        if written == 0 {
            return Err(ConnError::io("write", std::io::ErrorKind::WriteZero.into()));
        }
        while written > 0 && index < batch.len() {
            let left = batch[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    progress(limit, "flush", out.flush()).await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::control::ProcessRef;
    use crate::term::{Atom, Pid, Reference};
    use tokio::io::AsyncReadExt;

    /// What the writer puts on the wire for `controls`, with `flags`
    /// negotiated, and what it counted.
    async fn wire(controls: Vec<Control>, flags: DistFlags) -> (Vec<u8>, crate::conn::Counters) {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let queue = Arc::new(OutQueue::new(usize::MAX, usize::MAX));
        for c in controls {
            queue.push(c, 64).unwrap();
        }
        let config = WriterConfig {
            format: PacketFormat::for_flags(flags),
            flags,
            fragment_size: 1 << 16,
            tick_interval: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(10),
        };
        let stats = Arc::new(super::super::stats::ConnStats::default());
        let writer = tokio::spawn(run(ours, queue.clone(), config, stats.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        queue.close();
        writer.await.unwrap().unwrap();
        let mut out = Vec::new();
        theirs.read_to_end(&mut out).await.unwrap();
        (out, stats.snapshot())
    }

    fn encoded(control: &Control, flags: DistFlags) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_packet_into(PacketFormat::for_flags(flags), control, flags, &mut buf).unwrap();
        buf.to_vec()
    }

    #[tokio::test]
    async fn monitors_are_not_sent_to_a_peer_without_the_flags_for_them() {
        let node = Atom::new("a@h");
        let pid = Pid::new(node.clone(), 1, 0, 1);
        let reference = Reference::new(node, 1, &[1, 2, 3]).unwrap();
        let by_name = Control::MonitorP {
            from: pid.clone(),
            target: ProcessRef::Name(Atom::new("rex")),
            reference: reference.clone(),
        };
        let by_pid = Control::MonitorP { from: pid.clone(), target: ProcessRef::Pid(pid.clone()), reference };
        let message = Control::Send { from: None, to: pid, message: crate::term::Term::atom("hello") };
        let libei = DistFlags::MANDATORY | DistFlags::DIST_MONITOR;
        let (out, counted) = wire(vec![by_name.clone(), by_pid.clone(), message.clone()], libei).await;
        let expected = [encoded(&by_pid, libei), encoded(&message, libei)].concat();
        assert_eq!(out, expected, "the name monitor is kept local, the pid monitor and the message go out");
        assert_eq!((counted.messages_out, counted.bytes_out), (2, out.len() as u64), "what went out is counted");
        let jinterface = DistFlags::MANDATORY;
        let (out, counted) = wire(vec![by_name, by_pid, message.clone()], jinterface).await;
        assert_eq!(out, encoded(&message, jinterface), "no monitor at all without DIST_MONITOR");
        assert_eq!(counted.messages_out, 1, "the monitors kept back are not counted as sent");
    }
}
