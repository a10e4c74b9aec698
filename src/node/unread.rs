//! The bytes of one peer's messages that wait unread in local mailboxes.
//!
//! Each message from a peer carries an [`UnreadTicket`] for its estimated
//! size until its process takes it from the mailbox. When a peer's tickets
//! reach the limit, its connection reads nothing more until half of them
//! are given back: what a peer makes this node hold in mailboxes is bounded
//! however many processes it writes to, and nothing it sent is dropped.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// One peer's unread bytes, shared by its connection and its tickets.
#[derive(Debug)]
pub(crate) struct UnreadBytes {
    held: AtomicUsize,
    limit: usize,
    /// Woken when `held` falls to half the limit.
    drained: Notify,
}

/// The bytes of one message waiting in a mailbox; given back on drop.
#[derive(Debug)]
pub(crate) struct UnreadTicket {
    account: Arc<UnreadBytes>,
    bytes: usize,
}

impl UnreadBytes {
    /// An account that pauses its peer at `limit` bytes.
    pub fn new(limit: usize) -> Arc<UnreadBytes> {
        Arc::new(UnreadBytes { held: AtomicUsize::new(0), limit, drained: Notify::new() })
    }

    fn low_water(&self) -> usize {
        self.limit / 2
    }

    /// Counts `bytes` more, with whether the peer is now at its limit (then
    /// its connection should wait for [`UnreadBytes::drained`]).
    pub fn charge(self: &Arc<UnreadBytes>, bytes: usize) -> (UnreadTicket, bool) {
        let before = self.held.fetch_add(bytes, Ordering::AcqRel);
        let full = before.saturating_add(bytes) >= self.limit;
        (UnreadTicket { account: self.clone(), bytes }, full)
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Waits until at most half the limit is held.
    pub async fn drained(&self) {
        loop {
            let mut notified = pin!(self.drained.notified());
            notified.as_mut().enable();
            if self.held() <= self.low_water() {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for UnreadTicket {
    fn drop(&mut self) {
        let account = &self.account;
        let before = account.held.fetch_sub(self.bytes, Ordering::AcqRel);
        let low = account.low_water();
        if before > low && before - self.bytes <= low {
            account.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_account_waits_until_half_is_given_back() {
        let account = UnreadBytes::new(100);
        let (a, full) = account.charge(40);
        assert!(!full);
        let (b, full) = account.charge(60);
        assert!(full, "at the limit");
        let waiter = tokio::spawn({
            let account = account.clone();
            async move { account.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "100 bytes held");
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "60 bytes held, above half");
        drop(b);
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken").unwrap();
        assert_eq!(account.held(), 0);
    }
}
