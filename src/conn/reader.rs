//! The reader task of a connection: splits frames, counts ticks, reassembles
//! and decodes packets, and hands each control message to the node in the
//! order it arrived.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{ConnError, Pause};
use crate::proto::control::Control;
use crate::proto::frame::FrameDecoder;
use crate::proto::packet::PacketDecoder;

/// The smallest read, and about what an idle connection's read buffer
/// shrinks back to. A busy connection gets larger reads within a few reads.
const MIN_READ: usize = 256;
/// An empty buffer with more room than this is given back once the reads
/// have come down to the smallest size.
const IDLE_KEEP: usize = 4096;
/// How far the read size grows while reads keep filling it, so that a busy
/// connection gets many packets per system call.
const BUSY_READ: usize = 256 * 1024;
/// No read reserves more than this at once.
const MAX_READ: usize = 4 << 20;

/// Runs until the peer closes, a packet is refused, or nothing (not even a
/// tick) arrives for `silence_limit`. Each decoded control message is passed
/// to `deliver`; when it returns an error the connection closes, and when it
/// returns a [`Pause`] nothing more is read until the pause completes (the
/// silence limit does not run meanwhile: the peer is not silent, we are not
/// listening). Each tick received is answered through the connection's
/// outgoing `queue`; once that queue is closed, it stops at its next read.
pub async fn run<R, F>(
    mut input: R,
    mut buf: BytesMut,
    frames: FrameDecoder,
    mut packets: PacketDecoder,
    silence_limit: Duration,
    mut deliver: F,
    handles: &super::Handles,
) -> Result<(), ConnError>
where
    R: AsyncRead + Unpin,
    F: FnMut(Control) -> Result<Option<Pause>, ConnError>,
{
    // The read size adapts: it doubles while reads fill it (a busy peer) and
    // halves while they come back mostly empty (a quiet one).
    let (queue, stats) = (&*handles.queue, &*handles.stats);
    let mut read_size = MIN_READ;
    let mut bytes_read = buf.len() as u64;
    loop {
        // A peer that keeps sending keeps this loop from ever waiting, so a
        // connection this node closed is noticed here too.
        if queue.is_closed() {
            return Err(ConnError::Local("connection closed".into()));
        }
        let (mut messages, mut ticks) = (0, 0);
        while let Some(frame) = frames.decode(&mut buf)? {
            if frame.is_empty() {
                // A tick: its arrival already counts as traffic; answer it.
                queue.tick_received();
                ticks += 1;
                continue;
            }
            if let Some(control) = packets.decode(frame)? {
                messages += 1;
                if let Some(pause) = deliver(control)? {
                    stats.received(std::mem::take(&mut bytes_read), std::mem::take(&mut messages), 0);
                    pause.await;
                }
            }
        }
        stats.received(std::mem::take(&mut bytes_read), messages, ticks);
        if buf.is_empty() && read_size == MIN_READ && buf.capacity() > IDLE_KEEP {
            buf = BytesMut::new();
        }
        let wanted = frames.wanted(&buf)?;
        if wanted > read_size {
            // A long frame gets room as its bytes arrive, never what its
            // header merely announces: when the next read would not fit, the
            // buffer grows to about twice what is already here, so a peer
            // that announces 100 MiB and trickles makes the node hold about
            // twice what it sent.
            if buf.capacity() - buf.len() < read_size {
                let room = wanted.min(buf.len().max(read_size)).min(MAX_READ);
                grow_exact(&mut buf, room);
            }
        } else {
            buf.reserve(read_size);
        }
        let read = tokio::time::timeout(silence_limit, input.read_buf(&mut buf))
            .await
            .map_err(|_| ConnError::TickTimeout(silence_limit))?
            .map_err(|e| ConnError::io("read", e))?;
        if read == 0 {
            return Err(ConnError::Closed);
        }
        bytes_read = read as u64;
        if read >= read_size {
            read_size = (read_size * 2).min(BUSY_READ);
        } else if read < read_size / 4 {
            read_size = (read_size / 2).max(MIN_READ);
        }
    }
}

/// Makes room for `room` more bytes with an allocation of exactly the size
/// needed, where `BytesMut::reserve` would round up to double the capacity.
fn grow_exact(buf: &mut BytesMut, room: usize) {
    let mut grown = BytesMut::with_capacity(buf.len() + room);
    grown.extend_from_slice(buf);
    *buf = grown;
}
