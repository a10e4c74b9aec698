//! The reader task of a connection: splits frames, counts ticks, reassembles
//! and decodes packets, and hands each control message to the node in the
//! order it arrived.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ConnError;
use crate::proto::control::Control;
use crate::proto::frame::FrameDecoder;
use crate::proto::packet::PacketDecoder;

/// Reads are at least this large, so many small packets cost one system call.
const MIN_READ: usize = 64 * 1024;
/// Reads never reserve more than this ahead of data actually received.
const MAX_READ: usize = 4 << 20;

/// Runs until the peer closes, a packet is refused, or nothing (not even a
/// tick) arrives for `silence_limit`. Each decoded control message is passed
/// to `deliver`; when it returns an error the connection closes. Each tick
/// received is answered through `on_tick`.
pub async fn run<R, F, T>(
    mut input: R,
    mut buf: BytesMut,
    frames: FrameDecoder,
    mut packets: PacketDecoder,
    silence_limit: Duration,
    mut deliver: F,
    on_tick: T,
) -> Result<(), ConnError>
where
    R: AsyncRead + Unpin,
    F: FnMut(Control) -> Result<(), ConnError>,
    T: Fn(),
{
    loop {
        while let Some(frame) = frames.decode(&mut buf)? {
            if frame.is_empty() {
                // A tick: its arrival already counts as traffic; answer it.
                on_tick();
                continue;
            }
            if let Some(control) = packets.decode(frame)? {
                deliver(control)?;
            }
        }
        let wanted = frames.wanted(&buf)?.clamp(MIN_READ, MAX_READ);
        buf.reserve(wanted);
        let read = tokio::time::timeout(silence_limit, input.read_buf(&mut buf))
            .await
            .map_err(|_| ConnError::TickTimeout(silence_limit))?
            .map_err(|e| ConnError::io("read", e))?;
        if read == 0 {
            return Err(ConnError::Closed);
        }
    }
}
