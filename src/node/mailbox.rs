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
    /// A sender waiting for room (see [`MailboxSender::room`]), woken when
    /// the queue is down to `low_water` or the receiver is gone.
    room_waker: Option<Waker>,
    low_water: usize,
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

impl MailboxSender {
    /// [`MailboxSender::send`], reporting whether the queue now holds `limit`
    /// signals or more: then the sender should wait for [`MailboxSender::room`]
    /// before sending more. Nothing is dropped.
    pub fn send_counted(&self, signal: Signal, limit: usize) -> bool {
        let (waker, full) = {
            let mut state = self.shared.lock();
            if state.closed {
                return false;
            }
            state.queue.push_back(signal);
            (state.waker.take(), state.queue.len() >= limit)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        full
    }

    /// Waits until the queue holds at most `low_water` signals, or the
    /// receiver is gone.
    pub async fn room(&self, low_water: usize) {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.closed || state.queue.len() <= low_water {
                return Poll::Ready(());
            }
            state.low_water = low_water;
            state.room_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
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
        wake_room(&mut state);
        release_if_drained(&mut state);
        signal
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Signal> {
        let mut state = self.shared.lock();
        if let Some(signal) = state.queue.pop_front() {
            wake_room(&mut state);
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

/// Wakes a sender waiting for room once the queue is down to its low water.
fn wake_room(state: &mut State) {
    if state.room_waker.is_some()
        && state.queue.len() <= state.low_water
        && let Some(waker) = state.room_waker.take()
    {
        waker.wake();
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
            if let Some(waker) = state.room_waker.take() {
                waker.wake();
            }
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

    #[tokio::test]
    async fn a_full_mailbox_asks_its_sender_to_wait_and_loses_nothing() {
        let (tx, mut rx) = mailbox();
        assert!(!tx.send_counted(message(1), 3));
        assert!(!tx.send_counted(message(2), 3));
        assert!(tx.send_counted(message(3), 3), "full at the limit");
        assert!(tx.send_counted(message(4), 3), "still queued when full");
        let waiter = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.room(1).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no room yet");
        assert_eq!(rx.try_recv().map(number), Some(1));
        assert_eq!(rx.try_recv().map(number), Some(2));
        assert!(!waiter.is_finished(), "two left, above the low water");
        assert_eq!(rx.try_recv().map(number), Some(3));
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.expect("woken").unwrap();
        assert_eq!(rx.try_recv().map(number), Some(4), "nothing was dropped");
        // A receiver that goes away releases a waiting sender too.
        for i in 0..5 {
            tx.send_counted(message(i), 3);
        }
        let waiter = tokio::spawn(async move { tx.room(0).await });
        drop(rx);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.expect("released").unwrap();
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
