//! Runs the sans-IO handshake over a transport's byte stream (the role of
//! OTP's `dist_util`, shared by every carrier).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::ConnError;
use crate::proto::NodeName;
use crate::proto::frame::{FrameDecoder, LengthPrefix, encode_frame};
use crate::proto::handshake::{
    AcceptDecision, Acceptor, AcceptorEvent, Established, HandshakeConfig, HandshakeError, Initiator, InitiatorEvent,
    PeerHello,
};
use crate::transport::BoxStream;

/// The largest handshake message accepted: names are at most 255 bytes, so
/// every legitimate message is far smaller.
const MAX_HANDSHAKE_MESSAGE: usize = 2048;

/// A framed stream during the handshake, with an overall deadline.
struct FramedHandshake<'a> {
    stream: &'a mut BoxStream,
    framing: LengthPrefix,
    decoder: FrameDecoder,
    buf: BytesMut,
    deadline: Instant,
    timeout: Duration,
}

impl<'a> FramedHandshake<'a> {
    fn new(stream: &'a mut BoxStream, framing: LengthPrefix, timeout: Duration) -> Self {
        FramedHandshake {
            stream,
            framing,
            decoder: FrameDecoder::handshake(framing, MAX_HANDSHAKE_MESSAGE),
            buf: BytesMut::with_capacity(512),
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    async fn recv(&mut self) -> Result<Bytes, ConnError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(frame);
            }
            let read = tokio::time::timeout_at(self.deadline, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| ConnError::HandshakeTimeout(self.timeout))?;
            if read.map_err(|e| ConnError::io("handshake read", e))? == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    async fn send(&mut self, msg: &[u8]) -> Result<(), ConnError> {
        let mut out = BytesMut::with_capacity(msg.len() + 4);
        encode_frame(self.framing, msg, &mut out)?;
        tokio::time::timeout_at(self.deadline, self.stream.write_all(&out))
            .await
            .map_err(|_| ConnError::HandshakeTimeout(self.timeout))?
            .map_err(|e| ConnError::io("handshake write", e))
    }

    /// Sends queued messages, best effort after a failure (so a refusal reaches the peer).
    async fn flush(&mut self, mut next: impl FnMut() -> Option<Vec<u8>>) -> Result<(), ConnError> {
        while let Some(msg) = next() {
            self.send(&msg).await?;
        }
        self.stream.flush().await.map_err(|e| ConnError::io("handshake flush", e))
    }

    /// Bytes the peer sent after its last handshake message (connected-mode data).
    fn into_leftover(self) -> BytesMut {
        self.buf
    }
}

/// Dials: runs the initiating side. `has_live_connection` answers the peer's
/// `alive` question (true when this node still has a live connection to it);
/// it is asked at most once and may wait for what it needs to know.
/// Returns the outcome and any bytes already read past the handshake.
pub async fn initiate<F, Fut>(
    stream: &mut BoxStream,
    framing: LengthPrefix,
    config: std::sync::Arc<HandshakeConfig>,
    peer: NodeName,
    timeout: Duration,
    has_live_connection: F,
) -> Result<(Established, BytesMut), ConnError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut io = FramedHandshake::new(stream, framing, timeout);
    let mut hs = Initiator::new(config, peer);
    let mut has_live_connection = Some(has_live_connection);
    io.flush(|| hs.poll_transmit()).await?;
    loop {
        let msg = match io.recv().await {
            Err(ConnError::Closed) if hs.awaiting_ack() => {
                return Err(HandshakeError::ClosedAfterReply { peer: hs.peer().clone() }.into());
            }
            other => other?,
        };
        let event = hs.handle(&msg);
        let answer = match (&event, has_live_connection.take()) {
            (Ok(InitiatorEvent::AliveQuestion), Some(ask)) => Some(hs.answer_alive(!ask().await)),
            (Ok(InitiatorEvent::AliveQuestion), None) => {
                Some(Err(HandshakeError::OutOfTurn("a second alive status arrived")))
            }
            _ => None,
        };
        io.flush(|| hs.poll_transmit()).await?;
        if let Some(answer) = answer {
            answer?;
        }
        if let InitiatorEvent::Established(est) = event? {
            return Ok((est, io.into_leftover()));
        }
    }
}

/// Accepts: runs the accepting side. `decide` is asked once, with the
/// initiator's name and flags, which status to answer.
pub async fn accept(
    stream: &mut BoxStream,
    framing: LengthPrefix,
    config: std::sync::Arc<HandshakeConfig>,
    timeout: Duration,
    decide: impl FnOnce(&PeerHello) -> AcceptDecision,
) -> Result<(Established, BytesMut), ConnError> {
    let mut io = FramedHandshake::new(stream, framing, timeout);
    let mut hs = Acceptor::new(config);
    let mut decide = Some(decide);
    loop {
        let msg = io.recv().await?;
        let event = hs.handle(&msg);
        let decision = match (&event, decide.take()) {
            (Ok(AcceptorEvent::Decide(hello)), Some(decide)) => Some(hs.decide(decide(hello))),
            (Ok(AcceptorEvent::Decide(_)), None) => Some(Err(HandshakeError::OutOfTurn("a second send_name arrived"))),
            _ => None,
        };
        // Flush even on failure: a `not_allowed` or `nok` status must reach the peer.
        let flushed = io.flush(|| hs.poll_transmit()).await;
        if let Some(decision) = decision {
            decision?;
        }
        match event? {
            AcceptorEvent::Established(est) => {
                flushed?;
                return Ok((est, io.into_leftover()));
            }
            _ => flushed?,
        }
    }
}
