//! A process's mailbox: an unbounded queue of signals with many senders and
//! one receiver.
//!
//! It allocates nothing until the first signal arrives, and gives its room
//! back after a burst. An idle process therefore costs little more than its
//! task: a general-purpose channel would allocate a block of slots up front
//! for each of a node's possibly hundreds of thousands of processes.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::table::Signal;

/// A queue that has grown past this many slots is released once it is empty.
const KEEP_CAPACITY: usize = 1024;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Signal>,
    /// The receiver's waker while it waits on an empty queue.
    waker: Option<Waker>,
    /// Set when the receiver is gone: signals sent after that are dropped.
    closed: bool,
    /// Set when a bounded send found the queue full, until the receiver reads.
    overflowing: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Critical sections never panic, so a poisoned lock holds consistent data.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side; clones share the mailbox.
#[derive(Debug, Clone)]
pub(crate) struct MailboxSender {
    shared: Arc<Shared>,
}

/// The receiving side, owned by the process. Dropping it closes the mailbox
/// and drops what it still holds.
#[derive(Debug)]
pub(crate) struct Mailbox {
    shared: Arc<Shared>,
}

/// A new, empty mailbox.
pub(crate) fn mailbox() -> (MailboxSender, Mailbox) {
    let shared = Arc::new(Shared::default());
    (MailboxSender { shared: shared.clone() }, Mailbox { shared })
}

/// What [`MailboxSender::send_bounded`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bounded {
    /// Queued (or dropped because the receiver is gone).
    Sent,
    /// Dropped: the queue was full, and this is the first drop since the
    /// receiver last read.
    FirstDropped,
    /// Dropped again.
    Dropped,
}

impl MailboxSender {
    /// [`MailboxSender::send`], unless the queue already holds `limit` signals.
    pub fn send_bounded(&self, signal: Signal, limit: usize) -> Bounded {
        let waker = {
            let mut state = self.shared.lock();
            if state.closed {
                return Bounded::Sent;
            }
            if state.queue.len() >= limit {
                let first = !state.overflowing;
                state.overflowing = true;
                drop(state);
                drop(signal);
                return if first { Bounded::FirstDropped } else { Bounded::Dropped };
            }
            state.queue.push_back(signal);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Bounded::Sent
    }

    /// Queues `signal` and wakes the receiver; false (and the signal is
    /// dropped) when the receiver is gone.
    pub fn send(&self, signal: Signal) -> bool {
        let waker = {
            let mut state = self.shared.lock();
            if state.closed {
                return false;
            }
            state.queue.push_back(signal);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

impl Mailbox {
    /// The next signal, waiting for one if the mailbox is empty.
    pub async fn recv(&mut self) -> Signal {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next signal if there is one.
    pub fn try_recv(&mut self) -> Option<Signal> {
        let mut state = self.shared.lock();
        let signal = state.queue.pop_front();
        state.overflowing = false;
        release_if_drained(&mut state);
        signal
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Signal> {
        let mut state = self.shared.lock();
        if let Some(signal) = state.queue.pop_front() {
            state.overflowing = false;
            release_if_drained(&mut state);
            return Poll::Ready(signal);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Gives back the room a burst left behind, once the queue is empty.
fn release_if_drained(state: &mut State) {
    if state.queue.is_empty() && state.queue.capacity() > KEEP_CAPACITY {
        state.queue = VecDeque::new();
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let left = {
            let mut state = self.shared.lock();
            state.closed = true;
            state.waker = None;
            std::mem::take(&mut state.queue)
        };
        // Dropped outside the lock: terms can be large.
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::Term;

    fn message(n: i64) -> Signal {
        Signal::Message(Term::from(n))
    }

    fn number(signal: Signal) -> i64 {
        match signal {
            Signal::Message(Term::Int(n)) => n,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn signals_arrive_in_order_from_every_sender() {
        let (tx, mut rx) = mailbox();
        let senders: Vec<_> = (0..4)
            .map(|s| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..1000 {
                        assert!(tx.send(message(s * 10_000 + i)));
                        if i % 100 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let mut last = [-1i64; 4];
        for _ in 0..4000 {
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.expect("a signal");
            let n = number(n);
            let (s, i) = ((n / 10_000) as usize, n % 10_000);
            assert!(i > last[s], "sender {s}: {i} after {}", last[s]);
            last[s] = i;
        }
        for s in senders {
            s.await.unwrap();
        }
        assert!(rx.try_recv().is_none());
        assert_eq!(last, [999; 4]);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken() {
        let (tx, mut rx) = mailbox();
        let waiter = tokio::spawn(async move { number(rx.recv().await) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        assert!(tx.send(message(7)));
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.expect("woken").unwrap();
        assert_eq!(got, 7);
    }

    #[test]
    fn an_idle_mailbox_holds_no_queue_and_a_drained_one_gives_its_room_back() {
        let (tx, mut rx) = mailbox();
        assert_eq!(tx.shared.lock().queue.capacity(), 0);
        for i in 0..10_000 {
            tx.send(message(i));
        }
        assert!(tx.shared.lock().queue.capacity() >= 10_000);
        for i in 0..10_000 {
            assert_eq!(rx.try_recv().map(number), Some(i));
        }
        assert!(rx.try_recv().is_none());
        assert_eq!(tx.shared.lock().queue.capacity(), 0);
        // A small queue keeps its room.
        for i in 0..10 {
            tx.send(message(i));
        }
        while rx.try_recv().is_some() {}
        assert!(tx.shared.lock().queue.capacity() >= 10);
    }

    #[test]
    fn a_bounded_send_drops_beyond_the_limit_until_the_receiver_reads() {
        let (tx, mut rx) = mailbox();
        assert_eq!(tx.send_bounded(message(1), 2), Bounded::Sent);
        assert_eq!(tx.send_bounded(message(2), 2), Bounded::Sent);
        assert_eq!(tx.send_bounded(message(3), 2), Bounded::FirstDropped);
        assert_eq!(tx.send_bounded(message(4), 2), Bounded::Dropped);
        assert!(tx.send(message(5)), "unbounded sends still go in");
        assert_eq!(rx.try_recv().map(number), Some(1));
        assert_eq!(rx.try_recv().map(number), Some(2));
        assert_eq!(tx.send_bounded(message(6), 2), Bounded::Sent, "reading made room");
        assert_eq!(tx.send_bounded(message(7), 2), Bounded::FirstDropped, "a new overflow is logged again");
        assert_eq!(rx.try_recv().map(number), Some(5));
        assert_eq!(rx.try_recv().map(number), Some(6));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn signals_sent_after_the_receiver_is_gone_are_dropped() {
        let (tx, rx) = mailbox();
        assert!(tx.send(message(0)));
        drop(rx);
        assert!(!tx.send(message(1)));
        assert!(tx.shared.lock().queue.is_empty(), "what was queued is dropped with the receiver");
    }
}
