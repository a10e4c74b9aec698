//! Incoming control messages: what each one does to the local node.
//!
//! The distribution firewall is applied here, to what a message reaches
//! rather than how it is addressed: a registered process is guarded the same
//! whether the peer names it or uses its pid, `rex` serves only the calls
//! the peer's rules allow however it is reached, and a peer that may not send
//! exit signals may not make a link (which would deliver one).

use super::NodeInner;
use super::limits::{PeerAccount, Resource};
use super::signals::ExitKind;
use super::table::Slot;
use crate::conn::{ConnError, Pause};
use crate::node::Policy;
use crate::proto::NodeName;
use crate::proto::control::{Control, ProcessRef};
use crate::term::{Atom, Pid, Term};

use std::sync::Arc;

impl NodeInner {
    /// Handles one control message from `peer`, whose holdings are counted
    /// in `account`. An error closes the connection.
    /// A message for a full mailbox is still delivered, and hands back a
    /// [`Pause`]: the connection reads nothing more until the process catches up.
    pub(crate) fn dispatch(
        &self,
        peer: &NodeName,
        account: &PeerAccount,
        control: Control,
    ) -> Result<Option<Pause>, ConnError> {
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
                if let Some(slot) = self.local_slot(&to) {
                    return Ok(self.deliver_from_peer(peer, account, &slot, None, message));
                }
            }
            Control::RegSend { from, to, message } => {
                from_peer(&from)?;
                match self.procs.whereis(to.as_str()).and_then(|p| self.local_slot(&p)) {
                    Some(slot) => return Ok(self.deliver_from_peer(peer, account, &slot, Some(&to), message)),
                    None => tracing::trace!(%peer, name = %to.as_str(), "dropping a message to an unregistered name"),
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
                if self.guarded() && !self.policy(peer).exit_signals {
                    // A link would deliver an exit signal (when the peer's
                    // process exits, or the connection drops): refused as if
                    // the process did not exist, which is what the peer sees
                    // for a dead pid.
                    tracing::warn!(%peer, to = ?to, "firewall: refused a link (exit_signals is not allowed)");
                    self.send_control(peer.atom(), Control::Exit { from: to, to: from, reason: Term::atom("noproc") });
                    return Ok(None);
                }
                self.remote_link(account, &from, &to)?;
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
                // Delivered only over a link that exists: one the peer was
                // allowed to make, or one a local process made itself.
                if let Some(slot) = self.local_slot(&to) {
                    self.deliver_exit(&slot, &from, reason, ExitKind::Link);
                }
            }
            Control::Exit2 { from, to, reason } => {
                from_peer(&from)?;
                if self.guarded() && !self.policy(peer).exit_signals {
                    tracing::warn!(%peer, reason = %reason.bounded(100), "firewall: dropped an exit signal");
                    return Ok(None);
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
                let guarded_name = match &target {
                    _ if !self.guarded() => None,
                    ProcessRef::Name(name) => Some(name.clone()),
                    ProcessRef::Pid(pid) => self.local_slot(pid).and_then(|slot| slot.state().name.clone()),
                };
                if let Some(name) = &guarded_name
                    && !self.name_allowed(peer, name)
                {
                    // A process the peer may not reach is, to it, a process nobody holds.
                    tracing::debug!(%peer, name = %name.as_str(), "firewall: a monitor of a guarded name fires noproc");
                    self.send_control(
                        peer.atom(),
                        Control::MonitorPExit { target, watcher: from, reference, reason: Term::atom("noproc") },
                    );
                    return Ok(None);
                }
                self.remote_monitor(account, &from, &target, &reference)?;
            }
            Control::DemonitorP { from, target, reference } => {
                from_peer(&from)?;
                self.remote_demonitor(&from, &target, &reference);
            }
            Control::MonitorPExit { target, watcher, reference, reason } => {
                if let ProcessRef::Pid(p) = &target {
                    from_peer(p)?;
                }
                self.remote_down(peer.atom(), &target, &watcher, &reference, reason);
            }
            Control::SpawnRequest { req_id, from, group_leader: _, module, function, arity, opts, args } => {
                from_peer(&from)?;
                let refusal =
                    if self.guarded() { self.spawn_refusal(peer, &module, &function, &args, &opts) } else { None };
                if let Some(why) = refusal {
                    tracing::warn!(%peer, module = %module.as_str(), function = %function.as_str(), why, "firewall: refused a spawn request");
                    self.send_control(
                        peer.atom(),
                        Control::SpawnReply { req_id, to: from, flags: 0, result: Term::atom("not_allowed") },
                    );
                    return Ok(None);
                }
                let request =
                    super::services::spawn::SpawnRequest { req_id, from, module, function, arity, opts, args };
                super::services::spawn::handle(self, account, request);
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
                // Checked as any message to that process: beamlink sends no
                // spawn requests, so this is never an answer it awaits.
                if let Some(slot) = self.local_slot(&to) {
                    return Ok(self.deliver_from_peer(peer, account, &slot, None, reply));
                }
            }
            Control::NodeLink => {}
        }
        Ok(None)
    }

    /// A message from `peer` for the local process in `slot`, addressed by
    /// `name` or (with `None`) by pid: `rex` requests are served here, the
    /// mesh process hears only well-formed news, guarded names are checked,
    /// and the rest goes to the mailbox within its bound.
    fn deliver_from_peer(
        &self,
        peer: &NodeName,
        account: &PeerAccount,
        slot: &Arc<Slot>,
        name: Option<&Atom>,
        message: Term,
    ) -> Option<Pause> {
        if slot.service.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(to) = super::services::answer_address(&message)
            && to.node != *peer.atom()
        {
            // A service answers the pid a request names: a peer may name only
            // its own, or it could make the node write into any mailbox (or
            // dial a third node) through a service it may reach.
            tracing::warn!(%peer, to = ?to, "dropped a request whose answer would go to another node's or this node's process");
            return None;
        }
        let services = self.services.get();
        if services.is_some_and(|s| s.rex == slot.pid) {
            return self.rex_from_peer(peer, account, slot, message);
        }
        if self.guarded() {
            // The rule covers the process, however it was addressed.
            let by_pid = name.is_none();
            let held;
            let name = match name {
                Some(name) => Some(name),
                None => {
                    held = slot.state().name.clone();
                    held.as_ref()
                }
            };
            if let Some(name) = name
                && !self.name_allowed(peer, name)
            {
                tracing::warn!(%peer, name = %name.as_str(), by_pid, "firewall: dropped a message to a guarded process");
                return None;
            }
        }
        if services.is_some_and(|s| s.net_kernel == slot.pid)
            && let Some(call) = super::services::net_kernel::ping_answer(&message)
        {
            // The handshake proved the cookie; OTP answers `yes` unconditionally.
            self.service_reply(&slot.pid, &call.from, Term::atom("yes"));
            return None;
        }
        if services.is_some_and(|s| s.mesh.as_ref() == Some(&slot.pid))
            && !(account.mesh_member && super::mesh::admissible(peer, &message, self.limits.max_connections))
        {
            tracing::warn!(%peer, message = %message.bounded(120), "dropped a mesh message that does not fit the mesh protocol");
            return None;
        }
        slot.deliver_remote(message, self.limits.max_mailbox_messages, &account.unread)
    }

    /// A message from `peer` to `rex` (whose reply-to, like every shared
    /// service's, is already known to be on the peer). Calls and casts are
    /// checked against the rpc rule and count against the peer's running
    /// requests; anything else goes to the `rex` process.
    fn rex_from_peer(&self, peer: &NodeName, account: &PeerAccount, rex: &Arc<Slot>, message: Term) -> Option<Pause> {
        let Some(request) = super::services::rpc::RexRequest::parse(&message) else {
            return rex.deliver_remote(message, self.limits.max_mailbox_messages, &account.unread);
        };
        if self.guarded() {
            let policy = self.policy(peer);
            if !policy.rpc.allows(request.module.as_str(), request.function.as_str()) {
                tracing::warn!(%peer, module = %request.module.as_str(), function = %request.function.as_str(), "firewall: refused an rpc call");
                self.answer_rex(peer, &request, Term::atom("not_allowed"));
                return None;
            }
        }
        let Some(charge) = account.charge(Resource::Request, &self.limits) else {
            tracing::warn!(%peer, limit = "max_requests_per_peer", "refused an rpc call: too many of the peer's requests are running");
            self.answer_rex(peer, &request, Term::atom("system_limit"));
            return None;
        };
        let inner = self.self_ref.upgrade()?;
        super::services::rpc::serve(super::Node { inner }, rex.pid.clone(), request, Some(charge));
        None
    }

    /// Answers a refused rex request with `{badrpc, {'EXIT', Reason}}`, sent
    /// from no process so that the refusal does not name `rex`'s pid.
    fn answer_rex(&self, peer: &NodeName, request: &super::services::rpc::RexRequest, reason: Term) {
        let refusal = Term::Tuple(vec![Term::atom("badrpc"), Term::Tuple(vec![Term::atom("EXIT"), reason])]);
        if let Some(reply) = request.reply_message(refusal) {
            self.answer_control(
                peer.atom(),
                Control::Send { from: None, to: request.reply_to.clone(), message: reply },
            );
        }
    }

    /// Whether the firewall restricts anyone: the per-message checks are
    /// skipped when it allows everything to everyone.
    fn guarded(&self) -> bool {
        !self.firewall_open.load(std::sync::atomic::Ordering::Acquire)
    }

    fn policy(&self, peer: &NodeName) -> Policy {
        self.firewall.read().unwrap_or_else(|p| p.into_inner()).policy_for(peer.as_str()).clone()
    }

    /// Whether `peer` may reach the process registered as `name`. `rex` is
    /// governed by the rpc rule instead, call by call (in `rex_from_peer`),
    /// so that a refused call is answered `not_allowed` rather than left to
    /// time out: it is always reachable, and serves only what the rule allows.
    fn name_allowed(&self, peer: &NodeName, name: &Atom) -> bool {
        if name.as_str() == "rex" {
            return true;
        }
        let firewall = self.firewall.read().unwrap_or_else(|p| p.into_inner()).clone();
        firewall.policy_for(peer.as_str()).names.allows(name.as_str())
    }

    /// Checks a spawn request against the peer's policy: why it is refused,
    /// or `None` when it may run.
    fn spawn_refusal(
        &self,
        peer: &NodeName,
        module: &Atom,
        function: &Atom,
        args: &Term,
        opts: &Term,
    ) -> Option<&'static str> {
        let firewall = self.firewall.read().unwrap_or_else(|p| p.into_inner()).clone();
        let policy = firewall.policy_for(peer.as_str());
        let args = args.as_list().unwrap_or(&[]);
        let (m, f, via_erpc) = match (module.as_str(), function.as_str(), args) {
            ("erpc", "execute_call", [_, Term::Atom(m), Term::Atom(f), _]) => (m, f, true),
            ("erpc", "execute_cast", [Term::Atom(m), Term::Atom(f), _]) => (m, f, true),
            _ => (module, function, false),
        };
        if !via_erpc && !policy.spawn {
            return Some("spawn is not allowed");
        }
        if !policy.rpc.allows(m.as_str(), f.as_str()) {
            return Some("the rpc rule does not allow the function");
        }
        let links = opts.as_list().unwrap_or(&[]).iter().any(|o| o.is_atom("link"));
        if links && !policy.exit_signals {
            return Some("a linked spawn needs exit_signals");
        }
        None
    }

    /// Puts a message in a local mailbox; dropped if the process is gone or
    /// belongs to an earlier incarnation of this node.
    pub(crate) fn deliver_local(&self, to: &Pid, message: Term) {
        if let Some(slot) = self.local_slot(to) {
            slot.deliver(message);
        }
    }
}
