//! Incoming control messages: what each one does to the local node.

use super::NodeInner;
use super::signals::ExitKind;
use crate::conn::ConnError;
use crate::proto::NodeName;
use crate::proto::control::{Control, ProcessRef};
use crate::term::{Pid, Term};

impl NodeInner {
    /// Handles one control message from `peer`. An error closes the connection.
    pub(crate) fn dispatch(&self, peer: &NodeName, control: Control) -> Result<(), ConnError> {
        let from_peer = |pid: &Pid| -> Result<(), ConnError> {
            if pid.node == *peer.atom() {
                Ok(())
            } else {
                Err(ConnError::Local(format!("{peer} sent a signal on behalf of a process of {}", pid.node.as_str())))
            }
        };
        match control {
            Control::Send { to, message, .. } => self.deliver_local(&to, message),
            Control::RegSend { from, to, message } => {
                from_peer(&from)?;
                if let Some(slot) = self.procs.whereis(to.as_str()).and_then(|p| self.local_slot(&p)) {
                    slot.deliver(message);
                }
            }
            Control::AliasSend { from, alias, message } => {
                from_peer(&from)?;
                // Aliases are not issued by this node; OTP also drops messages to unknown aliases.
                tracing::trace!(%peer, alias = %alias.bounded(80), "dropping a message to an unknown alias");
                drop(message);
            }
            Control::Link { from, to } => {
                from_peer(&from)?;
                self.remote_link(&from, &to);
            }
            Control::Unlink { from, to } => {
                from_peer(&from)?;
                self.remote_unlink(&from, &to);
            }
            Control::UnlinkId { id, from, to } => {
                from_peer(&from)?;
                self.remote_unlink_id(id, &from, &to);
            }
            Control::UnlinkIdAck { id, from, to } => {
                from_peer(&from)?;
                self.remote_unlink_ack(id, &from, &to);
            }
            Control::Exit { from, to, reason } => {
                from_peer(&from)?;
                if let Some(slot) = self.local_slot(&to) {
                    self.deliver_exit(&slot, &from, reason, ExitKind::Link);
                }
            }
            Control::Exit2 { from, to, reason } => {
                from_peer(&from)?;
                if let Some(slot) = self.local_slot(&to) {
                    self.deliver_exit(&slot, &from, reason, ExitKind::Exit2);
                }
            }
            Control::GroupLeader { from, .. } => {
                from_peer(&from)?;
                // Rust processes have no group leader to change.
            }
            Control::MonitorP { from, target, reference } => {
                from_peer(&from)?;
                self.remote_monitor(&from, &target, &reference);
            }
            Control::DemonitorP { from, target, reference } => {
                from_peer(&from)?;
                self.remote_demonitor(&target, &reference);
            }
            Control::MonitorPExit { target, watcher, reference, reason } => {
                if let ProcessRef::Pid(p) = &target {
                    from_peer(p)?;
                }
                self.remote_down(peer.atom(), &target, &watcher, &reference, reason);
            }
            Control::SpawnRequest { req_id, from, group_leader, module, function, arity, opts, args } => {
                from_peer(&from)?;
                let request = super::services::spawn::SpawnRequest {
                    req_id,
                    from,
                    group_leader,
                    module,
                    function,
                    arity,
                    opts,
                    args,
                };
                super::services::spawn::handle(self, request);
            }
            Control::SpawnReply { req_id, to, flags: _, result } => {
                let reply = match result {
                    Term::Pid(pid) => Term::Tuple(vec![
                        Term::atom("spawn_reply"),
                        Term::Ref(Box::new(req_id)),
                        Term::atom("ok"),
                        Term::Pid(pid),
                    ]),
                    error => Term::Tuple(vec![
                        Term::atom("spawn_reply"),
                        Term::Ref(Box::new(req_id)),
                        Term::atom("error"),
                        error,
                    ]),
                };
                self.deliver_local(&to, reply);
            }
            Control::NodeLink => {}
        }
        Ok(())
    }

    /// Puts a message in a local mailbox; dropped if the process is gone or
    /// belongs to an earlier incarnation of this node.
    pub(crate) fn deliver_local(&self, to: &Pid, message: Term) {
        if let Some(slot) = self.local_slot(to) {
            slot.deliver(message);
        }
    }
}
