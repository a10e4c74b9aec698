//! Incoming handshakes under way, by the node name each claims.
//!
//! An incoming attempt holds no connection-table entry until it has
//! authenticated, so that a peer without the cookie can keep no one out.
//! That leaves two races that OTP's pre-authentication entry prevents, both
//! ending with a connection up at one end that the other end drops or
//! replaces, which looks like the node going down:
//!
//! - this node accepts a peer's attempt, then starts its own dial to the
//!   same peer before that attempt completes;
//! - this node's dial is asked `alive` (the peer has a connection up) in the
//!   moment between the peer's end of that connection coming up and ours,
//!   and wrongly answers that it has none.
//!
//! So every incoming attempt the node answers with a status that lets it go
//! on (`ok`, `ok_simultaneous`, `alive`) claims the peer's name until it
//! ends, and a dial waits for the claims on its peer's name to end, bounded
//! by the handshake timeout, before it starts and before it answers `alive`.
//! An attempt that completes takes the dial's place and the dial stops. A
//! claim delays only this node's own dial to that name, by one handshake
//! time at most each time; it refuses no one.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::term::Atom;

/// The names incoming handshakes claim, with how many claim each.
#[derive(Debug, Default)]
pub(crate) struct IncomingClaims {
    counts: Mutex<HashMap<Atom, usize>>,
    /// Woken whenever a claim ends.
    ended: Notify,
}

/// One incoming handshake's claim on a name; ends when dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    claims: Arc<IncomingClaims>,
    name: Atom,
}

impl IncomingClaims {
    fn lock(&self) -> MutexGuard<'_, HashMap<Atom, usize>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an incoming handshake claiming `name` until the claim drops.
    pub fn claim(self: &Arc<Self>, name: &Atom) -> Claim {
        *self.lock().entry(name.clone()).or_insert(0) += 1;
        Claim { claims: self.clone(), name: name.clone() }
    }

    /// Whether an incoming handshake claims `name` now.
    pub fn is_claimed(&self, name: &Atom) -> bool {
        self.lock().contains_key(name)
    }

    /// Waits until no incoming handshake claims `name`.
    pub async fn settled(&self, name: &Atom) {
        loop {
            let mut ended = pin!(self.ended.notified());
            ended.as_mut().enable();
            if !self.is_claimed(name) {
                return;
            }
            ended.await;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        {
            let mut counts = self.claims.lock();
            if let Some(n) = counts.get_mut(&self.name) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&self.name);
                }
            }
        }
        self.claims.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_name_is_settled_once_every_claim_on_it_has_ended() {
        let claims = Arc::new(IncomingClaims::default());
        let (alice, bob) = (Atom::new("alice@host"), Atom::new("bob@host"));
        let first = claims.claim(&alice);
        let second = claims.claim(&alice);
        let _other = claims.claim(&bob);
        let waiter = tokio::spawn({
            let (claims, alice) = (claims.clone(), alice.clone());
            async move { claims.settled(&alice).await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one claim on alice is left");
        drop(second);
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("settled").unwrap();
        assert!(!claims.is_claimed(&alice));
        assert!(claims.is_claimed(&bob), "claims on other names are apart");
    }
}
