//! Incoming control messages: what each one does to the local node.

use super::NodeInner;
use super::signals::ExitKind;
use crate::conn::ConnError;
use crate::node::Policy;
use crate::proto::NodeName;
use crate::proto::control::{Control, ProcessRef};
use crate::term::{Atom, Pid, Term};

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
            Control::Send { from, to, message } => {
                if let Some(from) = &from {
                    from_peer(from)?;
                }
                self.deliver_local(&to, message)
            }
            Control::RegSend { from, to, message } => {
                from_peer(&from)?;
                if !self.firewall_open() && !self.regsend_allowed(peer, &from, &to, &message) {
                    return Ok(());
                }
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
                if !self.firewall_open() && !self.policy(peer).exit_signals {
                    tracing::warn!(%peer, reason = %reason.bounded(100), "firewall: dropped an exit signal");
                    return Ok(());
                }
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
            Control::SpawnRequest { req_id, from, group_leader: _, module, function, arity, opts, args } => {
                from_peer(&from)?;
                if let Some((m, f)) =
                    (!self.firewall_open()).then(|| self.spawn_denied(peer, &module, &function, &args)).flatten()
                {
                    tracing::warn!(%peer, module = %m, function = %f, "firewall: refused a spawn request");
                    self.send_control(
                        peer.atom(),
                        Control::SpawnReply { req_id, to: from, flags: 0, result: Term::atom("not_allowed") },
                    );
                    return Ok(());
                }
                let request =
                    super::services::spawn::SpawnRequest { req_id, from, module, function, arity, opts, args };
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

    fn firewall_open(&self) -> bool {
        self.firewall_open.load(std::sync::atomic::Ordering::Acquire)
    }

    fn policy(&self, peer: &NodeName) -> Policy {
        self.firewall.read().unwrap_or_else(|p| p.into_inner()).policy_for(peer.as_str()).clone()
    }

    /// Checks a spawn request against the peer's policy: `Some((module,
    /// function))` naming what was refused, `None` when it may run.
    fn spawn_denied(&self, peer: &NodeName, module: &Atom, function: &Atom, args: &Term) -> Option<(String, String)> {
        let firewall = self.firewall.read().unwrap_or_else(|p| p.into_inner()).clone();
        let policy = firewall.policy_for(peer.as_str());
        let args = args.as_list().unwrap_or(&[]);
        let target = match (module.as_str(), function.as_str(), args) {
            ("erpc", "execute_call", [_, Term::Atom(m), Term::Atom(f), _]) => (m.clone(), f.clone(), true),
            ("erpc", "execute_cast", [Term::Atom(m), Term::Atom(f), _]) => (m.clone(), f.clone(), true),
            _ => (module.clone(), function.clone(), false),
        };
        let (m, f, via_erpc) = target;
        let allowed = (via_erpc || policy.spawn) && policy.rpc.allows(m.as_str(), f.as_str());
        (!allowed).then(|| (m.as_str().to_string(), f.as_str().to_string()))
    }

    /// Checks a message to a registered name against the peer's policy;
    /// calls through `rex` are checked per function and refused calls answered.
    fn regsend_allowed(&self, peer: &NodeName, from: &Pid, to: &Atom, message: &Term) -> bool {
        let firewall = self.firewall.read().unwrap_or_else(|p| p.into_inner()).clone();
        let policy = firewall.policy_for(peer.as_str());
        // `rex` is an rpc endpoint: the rpc rule governs it, per function.
        if to.as_str() != "rex" {
            if !policy.names.allows(to.as_str()) {
                tracing::warn!(%peer, name = %to.as_str(), "firewall: dropped a message to a registered name");
                return false;
            }
            return true;
        }
        if policy.rpc == crate::node::RpcRule::All {
            return true;
        }
        let Some(call) = super::services::rpc::RexRequest::parse(message) else { return true };
        if policy.rpc.allows(call.module.as_str(), call.function.as_str()) {
            return true;
        }
        tracing::warn!(%peer, module = %call.module.as_str(), function = %call.function.as_str(), "firewall: refused an rpc call");
        let refusal =
            Term::Tuple(vec![Term::atom("badrpc"), Term::Tuple(vec![Term::atom("EXIT"), Term::atom("not_allowed")])]);
        if let Some(reply) = call.reply_message(refusal) {
            let rex = self.procs.whereis("rex").unwrap_or_else(|| from.clone());
            self.send_control(
                peer.atom(),
                Control::Send { from: Some(rex), to: call.reply_to.clone(), message: reply },
            );
        }
        false
    }

    /// Puts a message in a local mailbox; dropped if the process is gone or
    /// belongs to an earlier incarnation of this node.
    pub(crate) fn deliver_local(&self, to: &Pid, message: Term) {
        if let Some(slot) = self.local_slot(to) {
            slot.deliver(message);
        }
    }
}
