//! The outgoing queue of one connection: many senders, one writer.
//!
//! Senders push control messages (with their payload) and never block on
//! the socket; the writer takes everything queued at once and writes it in
//! as few system calls as it can. The queue counts the bytes it holds so
//! that senders can wait for room (back-pressure) instead of growing memory
//! without bound when the peer is slow.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::proto::control::Control;

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The connection is gone (or never came up).
    #[error("the connection is closed")]
    Closed,
    /// The queue holds more than its limit; try again later or wait.
    #[error("the connection's outgoing buffer is full")]
    Full,
    /// Messages the node queues itself (signals, replies) for this peer
    /// already hold more than their bound: the peer reads too slowly for
    /// what it asks, and is to be disconnected.
    #[error("the node's own messages to this peer hold more than {limit} bytes")]
    Overflow {
        /// The bound (`Limits::max_queued_control_bytes`).
        limit: usize,
    },
}

/// One queued message, its cost, and whether the node queued it itself.
struct Item {
    control: Control,
    cost: usize,
    own: bool,
}

struct Inner {
    items: VecDeque<Item>,
    /// The part of the queued cost that the node's own messages make up
    /// (bounded by `own_limit`); counted until the writer takes them.
    own_bytes: usize,
    /// Bytes accepted and not yet written: queued, or taken by the writer
    /// and still in its hands. Senders wait on this, so a writer that has
    /// taken a lot does not make room for more until it has written it.
    bytes: usize,
}

/// A connection's outgoing queue.
pub struct OutQueue {
    inner: Mutex<Inner>,
    closed: AtomicBool,
    /// The reader saw a tick: answer it (OTP ticks a hidden peer only when it
    /// has read nothing from it, and expects an answer).
    tick_requested: AtomicBool,
    /// The writer wrote something since the last tick arrived.
    wrote_since_tick: AtomicBool,
    /// Wakes the writer when something is queued.
    work: Notify,
    /// Wakes senders waiting for room.
    room: Notify,
    /// Above this many queued bytes, waiting senders wait and `try_push` fails.
    high_water: usize,
    /// Most bytes of the node's own messages held for the peer at once.
    own_limit: usize,
}

impl std::fmt::Debug for OutQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutQueue")
            .field("queued_bytes", &self.queued_bytes())
            .field("closed", &self.is_closed())
            .field("high_water", &self.high_water)
            .finish()
    }
}

impl OutQueue {
    /// A queue that pushes back above `high_water` bytes and holds at most
    /// `own_limit` bytes of the node's own messages (see [`OutQueue::push`]).
    pub fn new(high_water: usize, own_limit: usize) -> OutQueue {
        OutQueue {
            inner: Mutex::new(Inner { items: VecDeque::new(), own_bytes: 0, bytes: 0 }),
            closed: AtomicBool::new(false),
            tick_requested: AtomicBool::new(false),
            wrote_since_tick: AtomicBool::new(false),
            work: Notify::new(),
            room: Notify::new(),
            high_water,
            own_limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a push or a drain), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message the node sends itself (signals, replies, monitor
    /// exits), regardless of the high-water mark: a shared service never
    /// waits on one peer's back-pressure. These messages are bounded apart:
    /// when they already hold `own_limit` bytes, the push fails with
    /// [`QueueError::Overflow`] and the caller disconnects the peer. One
    /// message is always taken when none is held, however large. `cost` is
    /// the message's approximate size.
    pub fn push(&self, control: Control, cost: usize) -> Result<(), QueueError> {
        if self.is_closed() {
            return Err(QueueError::Closed);
        }
        {
            let mut inner = self.lock();
            if inner.own_bytes > 0 && inner.own_bytes + cost > self.own_limit {
                return Err(QueueError::Overflow { limit: self.own_limit });
            }
            inner.own_bytes += cost;
            inner.bytes += cost;
            inner.items.push_back(Item { control, cost, own: true });
        }
        self.work.notify_one();
        Ok(())
    }

    /// Queues a message unless the queue is above its high-water mark. A
    /// refused message comes back with the error, so the caller can retry
    /// without a copy.
    #[allow(clippy::result_large_err)]
    pub fn try_push(&self, control: Control, cost: usize) -> Result<(), (QueueError, Control)> {
        if self.is_closed() {
            return Err((QueueError::Closed, control));
        }
        {
            let mut inner = self.lock();
            if inner.bytes > self.high_water {
                return Err((QueueError::Full, control));
            }
            inner.bytes += cost;
            inner.items.push_back(Item { control, cost, own: false });
        }
        self.work.notify_one();
        Ok(())
    }

    /// Queues a message, first waiting while the queue is above its high-water mark.
    pub async fn push_wait(&self, mut control: Control, cost: usize) -> Result<(), QueueError> {
        loop {
            let room = self.room.notified();
            match self.try_push(control, cost) {
                Ok(()) => return Ok(()),
                Err((QueueError::Full, c)) => {
                    control = c;
                    room.await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Gives back the room an empty queue kept from its last burst.
    pub fn release_idle_room(&self) {
        let mut inner = self.lock();
        if inner.items.is_empty() {
            inner.items = VecDeque::new();
        }
    }

    /// Moves queued messages into `out` (the writer's side), oldest first,
    /// until their costs add up to at least `budget` (at least one message
    /// when any is queued). Their bytes still count against the high-water
    /// mark until the writer reports them written with [`OutQueue::written`].
    /// Returns the total cost taken.
    pub fn take_into(&self, out: &mut Vec<(Control, usize)>, budget: usize) -> usize {
        let mut inner = self.lock();
        let mut taken = 0;
        while taken < budget {
            let Some(Item { control, cost, own }) = inner.items.pop_front() else { break };
            if own {
                inner.own_bytes -= cost;
            }
            taken += cost;
            out.push((control, cost));
        }
        taken
    }

    /// The writer wrote messages whose costs add up to `cost`: make room and
    /// wake senders waiting for it.
    pub fn written(&self, cost: usize) {
        if cost == 0 {
            return;
        }
        let below = {
            let mut inner = self.lock();
            inner.bytes = inner.bytes.saturating_sub(cost);
            inner.bytes <= self.high_water
        };
        if below {
            self.room.notify_waiters();
        }
    }

    /// Whether messages are waiting to be taken.
    pub fn has_queued(&self) -> bool {
        !self.lock().items.is_empty()
    }

    /// A tick arrived from the peer. It is answered unless this side wrote
    /// something since the previous tick arrived: a peer that ticks because it
    /// read nothing (OTP does that towards hidden nodes, at its own tick rate)
    /// hears from us at least every other tick, and two beamlink nodes never
    /// answer each other's answers.
    pub fn tick_received(&self) {
        if !self.wrote_since_tick.swap(false, Ordering::AcqRel) {
            self.request_tick();
        }
    }

    /// The writer wrote something.
    pub fn note_written(&self) {
        self.wrote_since_tick.store(true, Ordering::Release);
    }

    /// Asks the writer to send a tick.
    pub fn request_tick(&self) {
        if !self.tick_requested.swap(true, Ordering::AcqRel) {
            self.work.notify_one();
        }
    }

    /// Takes a pending tick request.
    pub fn take_tick_request(&self) -> bool {
        self.tick_requested.swap(false, Ordering::AcqRel)
    }

    /// Waits until something may have been queued.
    pub async fn wait_for_work(&self) {
        self.work.notified().await
    }

    /// Bytes accepted and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Closes the queue: pushes fail from now on, queued messages are dropped,
    /// waiting senders and the writer wake.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        {
            let mut inner = self.lock();
            inner.items.clear();
            inner.bytes = 0;
            inner.own_bytes = 0;
        }
        self.work.notify_one();
        self.room.notify_waiters();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_queue_gives_back_the_room_of_a_burst_and_keeps_what_is_queued() {
        let queue = OutQueue::new(usize::MAX, usize::MAX);
        for _ in 0..10_000 {
            queue.push(Control::NodeLink, 1).unwrap();
        }
        let mut taken = Vec::new();
        assert_eq!(queue.take_into(&mut taken, usize::MAX), 10_000);
        queue.written(10_000);
        assert!(queue.lock().items.capacity() >= 10_000);
        queue.release_idle_room();
        assert_eq!(queue.lock().items.capacity(), 0, "the burst's room is given back");

        for _ in 0..3 {
            queue.push(Control::NodeLink, 1).unwrap();
        }
        queue.release_idle_room();
        taken.clear();
        assert_eq!(queue.take_into(&mut taken, usize::MAX), 3, "a queue with messages in it keeps them");
    }

    #[test]
    fn the_nodes_own_messages_are_bounded_apart_from_back_pressure() {
        let queue = OutQueue::new(10, 100);
        // Far above the high-water mark: the node's own messages still go in...
        for _ in 0..10 {
            queue.push(Control::NodeLink, 10).unwrap();
        }
        // ...up to their own bound.
        assert_eq!(queue.push(Control::NodeLink, 10), Err(QueueError::Overflow { limit: 100 }));
        assert!(queue.try_push(Control::NodeLink, 1).is_err(), "back-pressured senders see the queue full");
        let mut taken = Vec::new();
        queue.take_into(&mut taken, 50);
        queue.push(Control::NodeLink, 10).unwrap();
        // One message larger than the bound is taken when none is held.
        let big = OutQueue::new(10, 100);
        big.push(Control::NodeLink, 1000).unwrap();
        assert!(big.push(Control::NodeLink, 1).is_err());
    }
}
