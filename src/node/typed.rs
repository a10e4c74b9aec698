//! Typed messages (feature `serde`): send, receive and call with Rust types
//! that convert to and from terms by [`crate::term::to_term`]'s conventions.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CallError, Exited, Process, SendError};
use crate::term::{ConvertError, Pid, Term, from_term, to_term};

/// Receiving a typed message failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The process was killed by an exit signal.
    #[error(transparent)]
    Exited(#[from] Exited),
    /// The next message does not fit the type; it is taken from the mailbox
    /// and returned here, so that a peer's stray messages cannot pile up.
    #[error("a message that does not fit: {error}")]
    Unfit {
        /// The message as it came.
        message: Term,
        /// Why it does not fit.
        #[source]
        error: ConvertError,
    },
}

impl Process {
    /// Sends `msg` converted to a term ([`Process::send`] for Rust types).
    pub async fn send_as<T: ?Sized + Serialize>(&self, to: &Pid, msg: &T) -> Result<(), SendError> {
        self.send(to, outgoing(msg)?).await
    }

    /// Sends `msg` converted to a term to the process registered as `name` on `node`.
    pub async fn send_named_as<T: ?Sized + Serialize>(&self, name: &str, node: &str, msg: &T) -> Result<(), SendError> {
        self.send_named(name, node, outgoing(msg)?).await
    }

    /// The next message as a `T`, waiting as long as it takes. A message that
    /// does not fit is returned in [`RecvError::Unfit`], not left behind.
    ///
    /// Cancel-safe: dropped before it returns (in `tokio::select!`, say), it
    /// has taken no message.
    pub async fn recv_as<T: DeserializeOwned>(&mut self) -> Result<T, RecvError> {
        let message = self.recv().await?;
        fit(message)
    }

    /// [`Process::recv_as`] waiting at most `timeout`; `Ok(None)` when nothing came.
    pub async fn recv_as_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<Option<T>, RecvError> {
        match self.recv_timeout(timeout).await? {
            Some(message) => fit(message).map(Some),
            None => Ok(None),
        }
    }

    /// Answers a gen_server call with a typed reply (see [`super::GenCall`]).
    pub async fn reply_as<T: ?Sized + Serialize>(&self, to: &super::ReplyTo, reply: &T) -> Result<(), SendError> {
        self.reply(to, outgoing(reply)?).await
    }

    /// `gen_server:call/3` with a typed request and reply.
    pub async fn call_as<Req, Reply>(&mut self, to: &Pid, request: &Req, timeout: Duration) -> Result<Reply, CallError>
    where
        Req: ?Sized + Serialize,
        Reply: DeserializeOwned,
    {
        let request = outgoing(request)?;
        fit_reply(self.call(to, request, timeout).await?)
    }

    /// `gen_server:call({Name, Node}, Request, Timeout)` with a typed request and reply.
    pub async fn call_named_as<Req, Reply>(
        &mut self,
        name: &str,
        node: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Reply, CallError>
    where
        Req: ?Sized + Serialize,
        Reply: DeserializeOwned,
    {
        let request = outgoing(request)?;
        fit_reply(self.call_named(name, node, request, timeout).await?)
    }
}

/// A typed value as the term to send; one that cannot be a term is [`SendError::NotATerm`].
pub(crate) fn outgoing<T: ?Sized + Serialize>(value: &T) -> Result<Term, SendError> {
    to_term(value).map_err(SendError::NotATerm)
}

fn fit<T: DeserializeOwned>(message: Term) -> Result<T, RecvError> {
    from_term(&message).map_err(|error| RecvError::Unfit { message, error })
}

fn fit_reply<T: DeserializeOwned>(reply: Term) -> Result<T, CallError> {
    from_term(&reply).map_err(|error| CallError::UnfitReply { reply, error })
}
