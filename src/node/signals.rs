//! Exit signals, links and monitors, local and remote: what happens when a
//! process exits, is killed, or loses its peers' node.

use std::sync::Arc;

use super::NodeInner;
use super::limits::{Charge, PeerAccount, Resource};
use super::table::{Link, LinkState, MonitorOut, MonitorTarget, Signal, Slot, Watcher};
use crate::conn::ConnError;
use crate::proto::control::{Control, ProcessRef};
use crate::term::{Atom, Pid, Reference, Term};

/// Which kind of exit signal is being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// A linked process exited (or its node went away).
    Link,
    /// `exit(Pid, Reason)`.
    Exit2,
}

fn down_message(reference: &Reference, target: Term, reason: Term) -> Term {
    Term::Tuple(vec![Term::atom("DOWN"), Term::Ref(Box::new(reference.clone())), Term::atom("process"), target, reason])
}

fn exit_message(from: &Pid, reason: Term) -> Term {
    Term::Tuple(vec![Term::atom("EXIT"), Term::Pid(from.clone()), reason])
}

impl NodeInner {
    /// The local live slot for `pid`, if it is one of ours from this incarnation.
    pub(crate) fn local_slot(&self, pid: &Pid) -> Option<Arc<Slot>> {
        if !self.is_local(pid) || pid.creation != self.creation {
            return None;
        }
        self.procs.get(pid)
    }

    /// A process exits with `reason`: it leaves the table and its links and
    /// watchers get their signals. Runs at most once per process.
    pub(crate) fn process_exit(&self, slot: &Arc<Slot>, reason: Term) {
        let (links, watchers, monitors, name) = {
            let mut state = slot.state();
            if !state.alive {
                return;
            }
            state.alive = false;
            state.abort = None;
            state.node_monitors.clear();
            (
                std::mem::take(&mut state.links),
                std::mem::take(&mut state.watchers),
                std::mem::take(&mut state.monitors),
                state.name.take(),
            )
        };
        let me = &slot.pid;
        self.procs.remove(me, name.as_ref());
        for (peer, link) in links {
            if link.state == LinkState::Active {
                self.send_link_exit(me, &peer, reason.clone());
            }
        }
        for (reference, watcher) in watchers {
            let target = match &watcher.by_name {
                Some(name) => MonitorTarget::Name { name: name.clone(), node: self.name.atom().clone() },
                None => MonitorTarget::Pid(me.clone()),
            };
            self.send_down(&watcher.pid, &reference, &target, reason.clone());
        }
        for (reference, monitor) in monitors {
            self.drop_monitor_at_target(me, &reference, &monitor.target);
        }
    }

    /// Kills a process with `reason` (already transformed: `kill` becomes `killed`).
    pub(crate) fn kill(&self, slot: &Arc<Slot>, reason: Term) {
        let abort = {
            let mut state = slot.state();
            if !state.alive {
                return;
            }
            state.abort.take()
        };
        // Exit first, then wake and abort the task: the task's own exit (as
        // `killed` once aborted, or with its body's result once woken) can run
        // first on another worker thread, and links and monitors would hear
        // that instead of `reason`.
        self.process_exit(slot, reason.clone());
        let _ = slot.tx.send(Signal::Killed(reason));
        if let Some(task) = abort {
            task.abort();
        }
    }

    /// Delivers an exit signal from `from` to the local process `slot`.
    pub(crate) fn deliver_exit(&self, slot: &Arc<Slot>, from: &Pid, reason: Term, kind: ExitKind) {
        enum Outcome {
            Ignore,
            Message(Term),
            Kill(Term),
        }
        let outcome = {
            let mut state = slot.state();
            if !state.alive {
                return;
            }
            if kind == ExitKind::Link {
                match state.links.get(from).map(|l| l.state) {
                    Some(LinkState::Active) => {
                        state.links.remove(from);
                    }
                    // No link, or an unlink in progress: the signal no longer applies.
                    _ => return,
                }
            }
            if kind == ExitKind::Exit2 && reason.is_atom("kill") {
                Outcome::Kill(Term::atom("killed"))
            } else if state.trap_exit {
                Outcome::Message(exit_message(from, reason))
            } else if reason.is_atom("normal") {
                if kind == ExitKind::Exit2 && *from == slot.pid { Outcome::Kill(reason) } else { Outcome::Ignore }
            } else {
                Outcome::Kill(reason)
            }
        };
        match outcome {
            Outcome::Ignore => {}
            Outcome::Message(m) => slot.deliver(m),
            Outcome::Kill(r) => self.kill(slot, r),
        }
    }

    /// Sends the exit signal of a broken link from `from` (local) to `to`.
    fn send_link_exit(&self, from: &Pid, to: &Pid, reason: Term) {
        if self.is_local(to) {
            if let Some(slot) = self.local_slot(to) {
                self.deliver_exit(&slot, from, reason, ExitKind::Link);
            }
        } else {
            self.send_control(&to.node.clone(), Control::Exit { from: from.clone(), to: to.clone(), reason });
        }
    }

    /// `exit(To, Reason)` from `from`.
    pub(crate) fn send_exit2(&self, from: &Pid, to: &Pid, reason: Term) {
        if self.is_local(to) {
            if let Some(slot) = self.local_slot(to) {
                self.deliver_exit(&slot, from, reason, ExitKind::Exit2);
            }
        } else {
            self.send_control(&to.node.clone(), Control::Exit2 { from: from.clone(), to: to.clone(), reason });
        }
    }

    /// Tells `watcher` (local or remote) that `target` is down.
    pub(crate) fn send_down(&self, watcher: &Pid, reference: &Reference, target: &MonitorTarget, reason: Term) {
        if self.is_local(watcher) {
            if let Some(slot) = self.local_slot(watcher) {
                let known = slot.state().monitors.remove(reference).is_some();
                if known {
                    slot.deliver(down_message(reference, target.to_term(), reason));
                }
            }
        } else {
            let target = match target {
                MonitorTarget::Pid(p) => ProcessRef::Pid(p.clone()),
                MonitorTarget::Name { name, .. } => ProcessRef::Name(name.clone()),
            };
            self.send_control(
                &watcher.node.clone(),
                Control::MonitorPExit { target, watcher: watcher.clone(), reference: reference.clone(), reason },
            );
        }
    }

    /// Removes the watcher entry a monitor left at its target.
    fn drop_monitor_at_target(&self, watcher: &Pid, reference: &Reference, target: &MonitorTarget) {
        if *target.node() == *self.name.atom() {
            let pid = match target {
                MonitorTarget::Pid(p) => Some(p.clone()),
                MonitorTarget::Name { name, .. } => self.procs.whereis(name.as_str()),
            };
            if let Some(slot) = pid.and_then(|p| self.local_slot(&p)) {
                slot.state().watchers.remove(reference);
            }
        } else {
            let to = match target {
                MonitorTarget::Pid(p) => ProcessRef::Pid(p.clone()),
                MonitorTarget::Name { name, .. } => ProcessRef::Name(name.clone()),
            };
            self.send_control(
                &target.node().clone(),
                Control::DemonitorP { from: watcher.clone(), target: to, reference: reference.clone() },
            );
        }
    }

    /// `link(Pid)` from the process in `slot`.
    pub(crate) fn link(&self, slot: &Arc<Slot>, to: &Pid) {
        let me = slot.pid.clone();
        if *to == me {
            return;
        }
        {
            let mut state = slot.state();
            if !state.alive {
                return;
            }
            state.links.insert(to.clone(), Link::own());
        }
        if self.is_local(to) {
            if let Some(other) = self.local_slot(to) {
                let mut st = other.state();
                if st.alive {
                    st.links.insert(me, Link::own());
                    return;
                }
            }
            self.deliver_exit(slot, to, Term::atom("noproc"), ExitKind::Link);
        } else {
            self.send_control(&to.node.clone(), Control::Link { from: me, to: to.clone() });
        }
    }

    /// `unlink(Pid)` from the process in `slot`.
    pub(crate) fn unlink(&self, slot: &Arc<Slot>, to: &Pid) {
        let me = slot.pid.clone();
        if self.is_local(to) {
            slot.state().links.remove(to);
            if let Some(other) = self.local_slot(to) {
                other.state().links.remove(&me);
            }
            return;
        }
        let id = loop {
            let id = rand::random::<u64>();
            if id != 0 {
                break id;
            }
        };
        {
            let mut state = slot.state();
            match state.links.get_mut(to) {
                Some(link) if link.state == LinkState::Active => link.state = LinkState::Unlinking(id),
                _ => return,
            }
        }
        self.send_control(&to.node.clone(), Control::UnlinkId { id, from: me, to: to.clone() });
    }

    /// `monitor(process, Target)` from the process in `slot`.
    pub(crate) fn monitor(&self, slot: &Arc<Slot>, target: MonitorTarget) -> Reference {
        let reference = self.make_ref();
        let me = slot.pid.clone();
        {
            let mut state = slot.state();
            if !state.alive {
                return reference;
            }
            state.monitors.insert(reference.clone(), MonitorOut { target: target.clone() });
        }
        if *target.node() == *self.name.atom() {
            let (pid, by_name) = match &target {
                MonitorTarget::Pid(p) => (Some(p.clone()), None),
                MonitorTarget::Name { name, .. } => (self.procs.whereis(name.as_str()), Some(name.clone())),
            };
            if let Some(other) = pid.and_then(|p| self.local_slot(&p)) {
                let mut st = other.state();
                if st.alive {
                    st.watchers.insert(reference.clone(), Watcher { pid: me, by_name, _charge: None });
                    return reference;
                }
            }
            self.send_down(&slot.pid, &reference, &target, Term::atom("noproc"));
        } else {
            let to = match &target {
                MonitorTarget::Pid(p) => ProcessRef::Pid(p.clone()),
                MonitorTarget::Name { name, .. } => ProcessRef::Name(name.clone()),
            };
            self.send_control(
                &target.node().clone(),
                Control::MonitorP { from: me, target: to, reference: reference.clone() },
            );
        }
        reference
    }

    /// `demonitor(Ref)` from the process in `slot`.
    pub(crate) fn demonitor(&self, slot: &Arc<Slot>, reference: &Reference) {
        let removed = slot.state().monitors.remove(reference);
        if let Some(monitor) = removed {
            self.drop_monitor_at_target(&slot.pid, reference, &monitor.target);
        }
    }

    /// `monitor_node(Node, true)` from the process in `slot`.
    pub(crate) fn monitor_node(self: &Arc<Self>, slot: &Arc<Slot>, node: &str) {
        let Ok(atom) = Atom::try_new(node) else {
            slot.deliver(Term::Tuple(vec![
                Term::atom("nodedown"),
                Term::atom(node.chars().take(255).collect::<String>().as_str()),
            ]));
            return;
        };
        *slot.state().node_monitors.entry(atom.clone()).or_insert(0) += 1;
        if atom == *self.name.atom() {
            return;
        }
        // Connect if needed; a failure delivers `nodedown` through the usual cleanup.
        self.ensure_connection(&atom);
    }

    /// A remote process asked to link to the local `to`. The link counts
    /// against the peer's `account` and the process's limit; crossing either
    /// disconnects the peer.
    pub(crate) fn remote_link(&self, account: &PeerAccount, from: &Pid, to: &Pid) -> Result<(), ConnError> {
        if let Some(slot) = self.local_slot(to) {
            let mut st = slot.state();
            if st.alive {
                if st.links.contains_key(from) {
                    return Ok(());
                }
                let charge = self.charge_for(account, Resource::Link)?;
                if st.links.len() >= self.limits.max_remote_links_per_process {
                    return Err(per_process_limit("max_remote_links_per_process", to, st.links.len()));
                }
                st.links.insert(from.clone(), Link { state: LinkState::Active, _charge: Some(charge) });
                return Ok(());
            }
        }
        self.send_control(
            &from.node.clone(),
            Control::Exit { from: to.clone(), to: from.clone(), reason: Term::atom("noproc") },
        );
        Ok(())
    }

    /// One more of `what` for the peer, or the error that disconnects it.
    pub(crate) fn charge_for(&self, account: &PeerAccount, what: Resource) -> Result<Charge, ConnError> {
        account.charge(what, &self.limits).ok_or_else(|| ConnError::Limit {
            limit: what.limit_name(),
            detail: format!("{} held at once", account.held(what)),
        })
    }

    /// A remote process unlinked from the local `to` (UNLINK_ID): remove and acknowledge.
    pub(crate) fn remote_unlink_id(&self, id: u64, from: &Pid, to: &Pid) {
        if let Some(slot) = self.local_slot(to) {
            let mut st = slot.state();
            if st.links.get(from).is_some_and(|l| l.state == LinkState::Active) {
                st.links.remove(from);
            }
        }
        self.send_control(&from.node.clone(), Control::UnlinkIdAck { id, from: to.clone(), to: from.clone() });
    }

    /// The peer acknowledged our UNLINK_ID.
    pub(crate) fn remote_unlink_ack(&self, id: u64, from: &Pid, to: &Pid) {
        if let Some(slot) = self.local_slot(to) {
            let mut st = slot.state();
            if st.links.get(from).is_some_and(|l| l.state == LinkState::Unlinking(id)) {
                st.links.remove(from);
            }
        }
    }

    /// Old-style UNLINK (op 4).
    pub(crate) fn remote_unlink(&self, from: &Pid, to: &Pid) {
        if let Some(slot) = self.local_slot(to) {
            slot.state().links.remove(from);
        }
    }

    /// A remote process asked to monitor a local one. The monitor counts
    /// against the peer's `account` and the process's limit.
    pub(crate) fn remote_monitor(
        &self,
        account: &PeerAccount,
        from: &Pid,
        target: &ProcessRef,
        reference: &Reference,
    ) -> Result<(), ConnError> {
        let (pid, by_name) = match target {
            ProcessRef::Pid(p) => (Some(p.clone()), None),
            ProcessRef::Name(n) => (self.procs.whereis(n.as_str()), Some(n.clone())),
        };
        if let Some(slot) = pid.and_then(|p| self.local_slot(&p)) {
            let mut st = slot.state();
            if st.alive {
                if st.watchers.contains_key(reference) {
                    return Ok(());
                }
                let charge = self.charge_for(account, Resource::Monitor)?;
                if st.watchers.len() >= self.limits.max_remote_monitors_per_process {
                    return Err(per_process_limit("max_remote_monitors_per_process", &slot.pid, st.watchers.len()));
                }
                st.watchers.insert(reference.clone(), Watcher { pid: from.clone(), by_name, _charge: Some(charge) });
                return Ok(());
            }
        }
        self.send_control(
            &from.node.clone(),
            Control::MonitorPExit {
                target: target.clone(),
                watcher: from.clone(),
                reference: reference.clone(),
                reason: Term::atom("noproc"),
            },
        );
        Ok(())
    }

    /// A remote process (`from`) stopped monitoring a local one. Only the
    /// watcher that made the monitor can remove it: references are not secrets.
    pub(crate) fn remote_demonitor(&self, from: &Pid, target: &ProcessRef, reference: &Reference) {
        let pid = match target {
            ProcessRef::Pid(p) => Some(p.clone()),
            ProcessRef::Name(n) => self.procs.whereis(n.as_str()),
        };
        if let Some(slot) = pid.and_then(|p| self.local_slot(&p)) {
            let mut st = slot.state();
            if st.watchers.get(reference).is_some_and(|w| w.pid == *from) {
                st.watchers.remove(reference);
            }
        }
        // A name monitor whose process has since exited has nothing left to remove.
    }

    /// A remote process that a local one monitors exited.
    pub(crate) fn remote_down(
        &self,
        peer: &Atom,
        target: &ProcessRef,
        watcher: &Pid,
        reference: &Reference,
        reason: Term,
    ) {
        let target = match target {
            ProcessRef::Pid(p) => MonitorTarget::Pid(p.clone()),
            ProcessRef::Name(name) => MonitorTarget::Name { name: name.clone(), node: peer.clone() },
        };
        // A peer fires only the monitors our processes hold on its own
        // processes, for the target they name: never one on a third node's.
        let Some(slot) = self.local_slot(watcher) else { return };
        let matches = slot.state().monitors.get(reference).is_some_and(|m| m.target == target);
        if matches {
            self.send_down(watcher, reference, &target, reason);
        }
    }

    /// The connection to `node` is gone (or never came up): every local link
    /// to its processes breaks with `noconnection`, every monitor of them
    /// fires `noconnection`, its monitors of ours are forgotten, and node
    /// monitors get `{nodedown, Node}`.
    pub(crate) fn node_down_cleanup(&self, node: &Atom) {
        let noconnection = Term::atom("noconnection");
        for slot in self.procs.all() {
            let (broken_links, fired, node_monitor_count) = {
                let mut st = slot.state();
                if !st.alive {
                    continue;
                }
                let broken: Vec<Pid> = st.links.keys().filter(|p| p.node == *node).cloned().collect();
                let mut links = Vec::new();
                for p in broken {
                    if let Some(link) = st.links.remove(&p) {
                        links.push((p, link.state));
                    }
                }
                let fired_refs: Vec<Reference> =
                    st.monitors.iter().filter(|(_, m)| *m.target.node() == *node).map(|(r, _)| r.clone()).collect();
                let mut fired = Vec::new();
                for r in fired_refs {
                    if let Some(m) = st.monitors.remove(&r) {
                        fired.push((r, m.target));
                    }
                }
                st.watchers.retain(|_, w| w.pid.node != *node);
                let count = st.node_monitors.remove(node).unwrap_or(0);
                (links, fired, count)
            };
            for (reference, target) in fired {
                slot.deliver(down_message(&reference, target.to_term(), noconnection.clone()));
            }
            for _ in 0..node_monitor_count {
                slot.deliver(Term::Tuple(vec![Term::atom("nodedown"), Term::Atom(node.clone())]));
            }
            for (peer, state) in broken_links {
                if state != LinkState::Active {
                    continue;
                }
                let trap = slot.state().trap_exit;
                if trap {
                    slot.deliver(exit_message(&peer, noconnection.clone()));
                } else {
                    self.kill(&slot, noconnection.clone());
                }
            }
        }
    }
}

fn per_process_limit(limit: &'static str, pid: &Pid, held: usize) -> ConnError {
    ConnError::Limit { limit, detail: format!("process {pid:?} already holds {held}") }
}
