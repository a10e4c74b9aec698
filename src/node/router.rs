//! Routing: one `send` for local and remote receivers.

use super::NodeInner;
use super::SendError;
use super::gen_server::{ReplyTo, alias_of};
use std::sync::Arc;

use crate::conn::{OutQueue, QueueError};
use crate::proto::DistFlags;
use crate::proto::control::Control;
use crate::term::{self, Atom, Pid, Term};

/// What each queued control message is counted as beyond its payload: its
/// slot in the queue (the `Control` itself) and the allocations around it.
const CONTROL_COST: usize = 64 + std::mem::size_of::<Control>();

impl NodeInner {
    fn check_size(&self, msg: &Term) -> Result<usize, SendError> {
        let size = term::encoded_len(msg);
        if size > self.options.max_message_size {
            return Err(SendError::TooLarge { size, limit: self.options.max_message_size });
        }
        Ok(size + CONTROL_COST)
    }

    /// Sends to a pid; `wait` selects back-pressure (wait for room) over failing when busy.
    pub(crate) async fn send_to_pid(
        &self,
        from: Option<&Pid>,
        to: &Pid,
        msg: Term,
        wait: bool,
    ) -> Result<(), SendError> {
        if self.is_local(to) {
            if let Some(slot) = self.local_slot(to) {
                slot.deliver(msg);
            }
            return Ok(());
        }
        let cost = self.check_size(&msg)?;
        let control = Control::Send { from: from.cloned(), to: to.clone(), message: msg };
        self.queue_control(&to.node, control, cost, wait).await
    }

    /// Sends to a pid without ever waiting.
    pub(crate) fn try_send_to_pid(&self, from: Option<&Pid>, to: &Pid, msg: Term) -> Result<(), SendError> {
        if self.is_local(to) {
            if let Some(slot) = self.local_slot(to) {
                slot.deliver(msg);
            }
            return Ok(());
        }
        let cost = self.check_size(&msg)?;
        let queue = self.conns.queue_for(self, &to.node).map_err(|e| no_connection(&to.node, e.to_string()))?;
        match queue.try_push(Control::Send { from: from.cloned(), to: to.clone(), message: msg }, cost) {
            Ok(()) => Ok(()),
            Err((QueueError::Closed, _)) => Err(no_connection(&to.node, "the connection closed".into())),
            Err(_) => Err(SendError::Busy(to.node.to_string())),
        }
    }

    /// Sends to `{Name, Node}`.
    pub(crate) async fn send_to_name(
        &self,
        from: &Pid,
        name: &Atom,
        node: &str,
        msg: Term,
        wait: bool,
    ) -> Result<(), SendError> {
        if node == self.name.as_str() {
            if let Some(slot) = self.procs.whereis(name.as_str()).and_then(|p| self.local_slot(&p)) {
                slot.deliver(msg);
            }
            return Ok(());
        }
        let node = Atom::try_new(node).map_err(|e| no_connection_str(node, e.to_string()))?;
        let cost = self.check_size(&msg)?;
        let control = Control::RegSend { from: from.clone(), to: name.clone(), message: msg };
        self.queue_control(&node, control, cost, wait).await
    }

    async fn queue_control(&self, node: &Atom, control: Control, cost: usize, wait: bool) -> Result<(), SendError> {
        let queue = self.conns.queue_for(self, node).map_err(|e| no_connection(node, e.to_string()))?;
        let pushed =
            if wait { queue.push_wait(control, cost).await } else { queue.try_push(control, cost).map_err(|(e, _)| e) };
        match pushed {
            Ok(()) => Ok(()),
            Err(QueueError::Closed) => Err(no_connection(node, "the connection closed".into())),
            Err(_) => Err(SendError::Busy(node.to_string())),
        }
    }

    /// Queues a control message the node itself must send (signals, replies,
    /// monitor exits): never waits, never refused for being busy. If the node
    /// is unreachable the message is dropped, as Erlang drops it; the
    /// connection failure cleans up the links and monitors that concern it.
    /// A peer for which such messages pile up past
    /// `Limits::max_queued_control_bytes` is disconnected.
    pub(crate) fn send_control(&self, node: &Atom, control: Control) {
        match self.conns.queue_for(self, node) {
            Ok(queue) => self.push_control(node, &queue, control),
            Err(reason) => tracing::debug!(node = %node, %reason, "dropping a control message to an unreachable node"),
        }
    }

    /// Queues an answer to a request that came from `node`, on the
    /// connection it came over: when that connection is gone the answer is
    /// dropped, never a reason to dial (the caller's side has seen the
    /// connection fail and no longer waits for it; a peer cut off for
    /// crossing a limit is not called back).
    pub(crate) fn answer_control(&self, node: &Atom, control: Control) {
        match self.conns.up_queue(node) {
            Some(queue) => self.push_control(node, &queue, control),
            None => tracing::debug!(node = %node, "dropping an answer: the connection it was asked over is gone"),
        }
    }

    /// Queues `control` for `node` without waiting; a peer whose queue
    /// overflows is disconnected.
    fn push_control(&self, node: &Atom, queue: &Arc<OutQueue>, control: Control) {
        let cost = match &control {
            Control::Send { message, .. } | Control::RegSend { message, .. } | Control::AliasSend { message, .. } => {
                term::encoded_len(message) + CONTROL_COST
            }
            Control::Exit { reason, .. } | Control::Exit2 { reason, .. } | Control::MonitorPExit { reason, .. } => {
                term::encoded_len(reason) + CONTROL_COST
            }
            _ => CONTROL_COST,
        };
        if let Err(QueueError::Overflow { limit }) = queue.push(control, cost) {
            tracing::warn!(
                peer = %node,
                limit = "max_queued_control_bytes",
                bytes = limit,
                "disconnecting a peer that does not read what it asks for"
            );
            self.conns.close_peer(node, queue);
        }
    }

    /// An answer from a shared service (`rex`, `net_kernel`, `echo`, the
    /// group leader): queued for the receiver without ever waiting on its
    /// back-pressure, so one slow peer cannot delay the service for others,
    /// and only over a connection that is up (see [`NodeInner::answer_control`]).
    pub(crate) fn service_send(&self, from: &Pid, to: &Pid, msg: Term) {
        if self.is_local(to) {
            self.deliver_local(to, msg);
            return;
        }
        match self.check_size(&msg) {
            Ok(_) => {
                self.answer_control(&to.node, Control::Send { from: Some(from.clone()), to: to.clone(), message: msg })
            }
            Err(e) => tracing::warn!(to = ?to, error = %e, "a service dropped a reply it cannot send"),
        }
    }

    /// Sends to `{Name, Node}` from a shared service, queued as
    /// [`NodeInner::service_send`] queues.
    pub(crate) fn service_send_named(&self, from: &Pid, name: &Atom, node: &Atom, msg: Term) {
        match self.check_size(&msg) {
            Ok(_) => self.send_control(node, Control::RegSend { from: from.clone(), to: name.clone(), message: msg }),
            Err(e) => tracing::warn!(%node, error = %e, "a service dropped a message it cannot send"),
        }
    }

    /// A gen_server reply from a shared service, queued as [`NodeInner::service_send`] queues.
    pub(crate) fn service_reply(&self, from: &Pid, to: &ReplyTo, reply: Term) {
        let msg = Term::Tuple(vec![to.tag.clone(), reply]);
        match self.reply_alias(to) {
            Some(alias) => match self.check_size(&msg) {
                Ok(_) => {
                    self.answer_control(&to.pid.node, Control::AliasSend { from: from.clone(), alias, message: msg })
                }
                Err(e) => tracing::warn!(to = ?to.pid, error = %e, "a service dropped a reply it cannot send"),
            },
            None => self.service_send(from, &to.pid, msg),
        }
    }

    /// The alias to answer a call at: the tag carries one and the caller's
    /// node supports aliases.
    fn reply_alias(&self, to: &ReplyTo) -> Option<Term> {
        if self.is_local(&to.pid) {
            return None;
        }
        let alias = alias_of(&to.tag)?;
        self.conns.flags_of(&to.pid.node).is_some_and(|f| f.contains(DistFlags::ALIAS)).then_some(alias)
    }

    /// Replies to a gen_server call: to the caller's alias when the tag carries
    /// one and the caller's node supports aliases, otherwise to its pid.
    pub(crate) async fn reply(&self, from: &Pid, to: &ReplyTo, reply: Term) -> Result<(), SendError> {
        let msg = Term::Tuple(vec![to.tag.clone(), reply]);
        if let Some(alias) = self.reply_alias(to) {
            let cost = self.check_size(&msg)?;
            let control = Control::AliasSend { from: from.clone(), alias, message: msg };
            return self.queue_control(&to.pid.node, control, cost, true).await;
        }
        self.send_to_pid(Some(from), &to.pid, msg, true).await
    }
}

fn no_connection(node: &Atom, reason: String) -> SendError {
    SendError::NoConnection { node: node.to_string(), reason }
}

fn no_connection_str(node: &str, reason: String) -> SendError {
    SendError::NoConnection { node: node.to_string(), reason }
}
