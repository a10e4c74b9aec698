//! Processes: a mailbox, selective receive, and the signals a process sends.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::mailbox::Mailbox;
use super::table::{MonitorTarget, Signal, Slot};
use super::{CallError, Node, NodeError, SendError};
use crate::term::{Atom, Pid, Reference, Term};

/// A process: a pid with a mailbox. Get one from [`Node::process`] (owned by
/// the caller; exits `normal` when dropped) or as the argument of the closure
/// given to [`Node::spawn`].
pub struct Process {
    node: Node,
    slot: Arc<Slot>,
    rx: Mailbox,
    saved: VecDeque<Term>,
    killed: Option<Term>,
    /// Tags of calls dropped before their reply came: a late reply is
    /// discarded on arrival (as OTP's aliases discard it). Oldest first, bounded.
    abandoned: VecDeque<Reference>,
    /// Handle processes clean up when dropped; spawned ones when their task ends.
    exits_on_drop: bool,
}

/// The process was killed by an exit signal; the reason is inside.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("process exited: {0}")]
pub struct Exited(pub Term);

/// What a process body returns, turned into its exit reason.
pub trait IntoExitReason {
    /// The exit reason.
    fn into_exit_reason(self) -> Term;
}

impl IntoExitReason for () {
    fn into_exit_reason(self) -> Term {
        Term::atom("normal")
    }
}

impl IntoExitReason for Result<(), Term> {
    fn into_exit_reason(self) -> Term {
        match self {
            Ok(()) => Term::atom("normal"),
            Err(reason) => reason,
        }
    }
}

impl IntoExitReason for Term {
    fn into_exit_reason(self) -> Term {
        self
    }
}

/// Runs a spawned process's exit when its task ends, however it ends: with
/// the body's result, by panic, or by abort (then the killer already exited it).
struct ExitGuard {
    node: Node,
    slot: Arc<Slot>,
    reason: Option<Term>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let reason = self
            .reason
            .take()
            .unwrap_or_else(|| if std::thread::panicking() { Term::atom("rust_panic") } else { Term::atom("killed") });
        self.node.inner.process_exit(&self.slot, reason);
    }
}

/// Spawns a process; `before_start` runs with the new pid before the body
/// (e.g. to register a name) and can refuse.
pub(crate) fn spawn<F, Fut>(
    node: Node,
    body: F,
    before_start: impl FnOnce(&Pid) -> Result<(), NodeError>,
) -> Result<Pid, NodeError>
where
    F: FnOnce(Process) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    let (slot, rx) = node.inner.procs.create(node.inner.name.atom(), node.inner.creation);
    let pid = slot.pid.clone();
    if let Err(e) = before_start(&pid) {
        node.inner.process_exit(&slot, Term::atom("normal"));
        return Err(e);
    }
    let process = Process {
        node: node.clone(),
        slot: slot.clone(),
        rx,
        saved: VecDeque::new(),
        killed: None,
        abandoned: VecDeque::new(),
        exits_on_drop: false,
    };
    let runtime = node.inner.runtime.clone();
    let guard = ExitGuard { node, slot: slot.clone(), reason: None };
    let task = runtime.spawn(async move {
        let mut guard = guard;
        let reason = body(process).await.into_exit_reason();
        guard.reason = Some(reason);
    });
    let mut state = slot.state();
    if state.alive {
        state.abort = Some(task.abort_handle());
    } else {
        task.abort();
    }
    Ok(pid)
}

impl Process {
    pub(crate) fn new_handle(node: Node) -> Process {
        let (slot, rx) = node.inner.procs.create(node.inner.name.atom(), node.inner.creation);
        Process {
            node,
            slot,
            rx,
            saved: VecDeque::new(),
            killed: None,
            abandoned: VecDeque::new(),
            exits_on_drop: true,
        }
    }

    /// This process's pid.
    pub fn pid(&self) -> &Pid {
        &self.slot.pid
    }

    /// The node the process runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Sends `msg` to `to`, local or remote: the same call either way. Local
    /// receivers get the term itself; remote ones a copy in the External Term
    /// Format. Waits while the connection's outgoing buffer is full.
    pub async fn send(&self, to: &Pid, msg: Term) -> Result<(), SendError> {
        self.node.inner.send_to_pid(Some(self.pid()), to, msg, true).await
    }

    /// [`Process::send`] that never waits: fails with [`SendError::Busy`]
    /// when the connection's outgoing buffer is full.
    pub fn try_send(&self, to: &Pid, msg: Term) -> Result<(), SendError> {
        self.node.inner.try_send_to_pid(Some(self.pid()), to, msg)
    }

    /// Sends `msg` to the process registered as `name` on `node` (this node's
    /// own name for a local one): Erlang's `{Name, Node} ! Msg`.
    pub async fn send_named(&self, name: &str, node: &str, msg: Term) -> Result<(), SendError> {
        let name =
            Atom::try_new(name).map_err(|e| SendError::NoConnection { node: node.into(), reason: e.to_string() })?;
        self.node.inner.send_to_name(self.pid(), &name, node, msg, true).await
    }

    /// Sends `msg` to the local process registered as `name`; dropped if there is none.
    pub fn send_local_named(&self, name: &str, msg: Term) {
        if let Some(pid) = self.node.whereis(name)
            && let Some(slot) = self.node.inner.procs.get(&pid)
        {
            slot.deliver(msg);
        }
    }

    /// The next message, waiting as long as it takes.
    pub async fn recv(&mut self) -> Result<Term, Exited> {
        if let Some(msg) = self.saved.pop_front() {
            return Ok(msg);
        }
        self.next_signal().await
    }

    /// The next message, or `None` after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Term>, Exited> {
        if let Some(msg) = self.saved.pop_front() {
            return Ok(Some(msg));
        }
        match tokio::time::timeout(timeout, self.next_signal()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Selective receive: the first message (in arrival order) for which
    /// `matcher` returns `Some`, waiting at most `timeout` (`None` waits
    /// forever). Messages that do not match stay in the mailbox, in order.
    pub async fn receive<T>(
        &mut self,
        timeout: Option<Duration>,
        mut matcher: impl FnMut(&Term) -> Option<T>,
    ) -> Result<Option<T>, Exited> {
        if let Some(pos) = self.saved.iter().position(|m| matcher(m).is_some())
            && let Some(msg) = self.saved.remove(pos)
            && let Some(v) = matcher(&msg)
        {
            return Ok(Some(v));
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let msg = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.next_signal()).await {
                    Ok(r) => r?,
                    Err(_) => return Ok(None),
                },
                None => self.next_signal().await?,
            };
            if let Some(v) = matcher(&msg) {
                return Ok(Some(v));
            }
            self.saved.push_back(msg);
        }
    }

    async fn next_signal(&mut self) -> Result<Term, Exited> {
        if let Some(reason) = &self.killed {
            return Err(Exited(reason.clone()));
        }
        loop {
            match self.rx.recv().await {
                Signal::Message(m) | Signal::FromPeer(m, _) if self.is_late_reply(&m) => {}
                Signal::Message(m) | Signal::FromPeer(m, _) => return Ok(m),
                Signal::Killed(reason) => {
                    self.killed = Some(reason.clone());
                    return Err(Exited(reason));
                }
            }
        }
    }

    /// True for (and forgets) the reply to a call that was dropped while it waited.
    fn is_late_reply(&mut self, msg: &Term) -> bool {
        if self.abandoned.is_empty() {
            return false;
        }
        let Some(tag) = reply_tag(msg) else { return false };
        match self.abandoned.iter().position(|r| r == tag) {
            Some(i) => {
                self.abandoned.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether exit signals arrive as `{'EXIT', From, Reason}` messages
    /// instead of killing this process (`process_flag(trap_exit, Bool)`).
    pub fn trap_exit(&self, on: bool) {
        self.slot.state().trap_exit = on;
    }

    /// Links this process to `pid` (local or remote).
    pub fn link(&self, pid: &Pid) {
        self.node.inner.link(&self.slot, pid);
    }

    /// Removes the link to `pid`.
    pub fn unlink(&self, pid: &Pid) {
        self.node.inner.unlink(&self.slot, pid);
    }

    /// Monitors `pid`: a `{'DOWN', Ref, process, Pid, Reason}` message comes
    /// when it exits (`noproc` if it does not exist, `noconnection` if its
    /// node goes away).
    pub fn monitor(&self, pid: &Pid) -> Reference {
        self.node.inner.monitor(&self.slot, MonitorTarget::Pid(pid.clone()))
    }

    /// Monitors the process registered as `name` on `node`; the `'DOWN'`
    /// message names it `{Name, Node}`.
    pub fn monitor_named(&self, name: &str, node: &str) -> Reference {
        let target = match (Atom::try_new(name), Atom::try_new(node)) {
            (Ok(name), Ok(node)) => MonitorTarget::Name { name, node },
            _ => MonitorTarget::Name { name: Atom::new("invalid"), node: Atom::new("invalid@invalid") },
        };
        self.node.inner.monitor(&self.slot, target)
    }

    /// Removes a monitor; a `'DOWN'` message already received stays.
    pub fn demonitor(&self, reference: &Reference) {
        self.node.inner.demonitor(&self.slot, reference);
    }

    /// Removes a monitor and any `'DOWN'` message for it still in the mailbox
    /// (`demonitor(Ref, [flush])`).
    pub fn demonitor_flush(&mut self, reference: &Reference) {
        self.demonitor(reference);
        while let Some(signal) = self.rx.try_recv() {
            match signal {
                Signal::Message(m) | Signal::FromPeer(m, _) => self.saved.push_back(m),
                Signal::Killed(reason) => self.killed = Some(reason),
            }
        }
        self.saved.retain(|m| !is_down_for(m, reference));
    }

    /// Asks to get `{nodedown, Node}` when the connection to `node` goes
    /// down (`monitor_node(Node, true)`); connects if needed.
    pub fn monitor_node(&self, node: &str) {
        self.node.inner.monitor_node(&self.slot, node);
    }

    /// Asks for `{nodeup, Node}` and `{nodedown, Node}` messages whenever a
    /// connection comes up or goes down (`net_kernel:monitor_nodes(true)`),
    /// or stops them.
    pub fn monitor_nodes(&self, on: bool) {
        self.node.inner.watch_nodes(self.pid(), on);
    }

    /// Sends an exit signal to `pid` (`exit(Pid, Reason)`).
    pub fn exit(&self, pid: &Pid, reason: Term) {
        self.node.inner.send_exit2(self.pid(), pid, reason);
    }

    /// Registers this process under `name`.
    pub fn register(&self, name: &str) -> Result<(), NodeError> {
        self.node.register(name, self.pid())
    }

    /// A reference unique across the cluster.
    pub fn make_ref(&self) -> Reference {
        self.node.make_ref()
    }

    /// `gen_server:call/3` to a pid: monitors it, sends
    /// `{'$gen_call', {Self, Ref}, Request}`, and waits for `{Ref, Reply}`.
    pub async fn call(&mut self, to: &Pid, request: Term, timeout: Duration) -> Result<Term, CallError> {
        self.call_labelled("$gen_call", to, request, timeout).await
    }

    /// A call whose message is `{Label, {Self, Ref}, Request}`: `system` for
    /// `sys` requests such as `{terminate, Reason}`.
    pub(crate) async fn call_labelled(
        &mut self,
        label: &str,
        to: &Pid,
        request: Term,
        timeout: Duration,
    ) -> Result<Term, CallError> {
        let mref = self.monitor(to);
        let call = super::gen_server::call_message(label, self.pid(), &mref, request);
        let mut pending = PendingCall::new(self, mref);
        if let Err(e) = pending.process.send(to, call).await {
            return Err(pending.fail(send_failed(e, Term::Pid(to.clone()))));
        }
        pending.await_reply(timeout).await
    }

    /// `gen_server:call({Name, Node}, Request, Timeout)`.
    pub async fn call_named(
        &mut self,
        name: &str,
        node: &str,
        request: Term,
        timeout: Duration,
    ) -> Result<Term, CallError> {
        let mref = self.monitor_named(name, node);
        let call = super::gen_server::call_message("$gen_call", self.pid(), &mref, request);
        let mut pending = PendingCall::new(self, mref);
        if let Err(e) = pending.process.send_named(name, node, call).await {
            let callee = Term::Tuple(vec![Term::atom(name), Term::atom(node)]);
            return Err(pending.fail(send_failed(e, callee)));
        }
        pending.await_reply(timeout).await
    }

    /// Answers a gen_server call received from anywhere (see [`super::GenCall`]).
    pub async fn reply(&self, to: &super::ReplyTo, reply: Term) -> Result<(), SendError> {
        self.node.inner.reply(self.pid(), to, reply).await
    }
}

/// A gen_server call waiting for its reply. Dropped before the reply came
/// (the caller's future cancelled), it removes the monitor and marks the tag
/// so that a late reply is discarded instead of left in the mailbox.
struct PendingCall<'a> {
    process: &'a mut Process,
    mref: Reference,
    done: bool,
}

/// How many dropped calls' tags a process remembers; older late replies are
/// kept as ordinary messages.
const ABANDONED_CALLS_KEPT: usize = 1024;

impl<'a> PendingCall<'a> {
    fn new(process: &'a mut Process, mref: Reference) -> PendingCall<'a> {
        PendingCall { process, mref, done: false }
    }

    fn fail(&mut self, e: CallError) -> CallError {
        self.done = true;
        self.process.demonitor_flush(&self.mref);
        e
    }

    async fn await_reply(&mut self, timeout: Duration) -> Result<Term, CallError> {
        let tag = Term::Ref(Box::new(self.mref.clone()));
        let outcome = self
            .process
            .receive(Some(timeout), |m| match m.as_tuple() {
                Some([t, reply]) if *t == tag => Some(Ok(reply.clone())),
                Some([down, r, _, target, reason]) if down.is_atom("DOWN") && *r == tag => {
                    Some(Err(down_to_error(target, reason)))
                }
                _ => None,
            })
            .await;
        self.done = true;
        match outcome.map_err(|Exited(r)| CallError::CallerExited(r))? {
            Some(Ok(reply)) => {
                self.process.demonitor_flush(&self.mref);
                Ok(reply)
            }
            Some(Err(e)) => Err(e),
            None => {
                self.process.demonitor_flush(&self.mref);
                Err(CallError::Timeout(timeout))
            }
        }
    }
}

impl Drop for PendingCall<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.process.demonitor_flush(&self.mref);
        // The flush may have moved the reply into the saved messages already.
        let before = self.process.saved.len();
        let tag = &self.mref;
        self.process.saved.retain(|m| reply_tag(m) != Some(tag));
        if self.process.saved.len() < before {
            return;
        }
        let abandoned = &mut self.process.abandoned;
        if abandoned.len() == ABANDONED_CALLS_KEPT {
            abandoned.pop_front();
        }
        abandoned.push_back(self.mref.clone());
    }
}

/// The tag of a message shaped as a call's reply, `{Ref, Reply}`.
fn reply_tag(msg: &Term) -> Option<&Reference> {
    match msg.as_tuple()? {
        [Term::Ref(r), _] => Some(r),
        _ => None,
    }
}

fn is_down_for(msg: &Term, reference: &Reference) -> bool {
    matches!(msg.as_tuple(), Some([down, Term::Ref(r), ..]) if down.is_atom("DOWN") && **r == *reference)
}

/// A call whose request could not be sent. An unreachable node is
/// `noconnection` however the failure shows itself: the connection attempt
/// fails before the request is queued, or the DOWN of the call's monitor
/// comes first.
fn send_failed(e: SendError, callee: Term) -> CallError {
    match e {
        SendError::NoConnection { .. } => CallError::NoConnection { callee, cause: Some(e) },
        other => CallError::Send(other),
    }
}

fn down_to_error(target: &Term, reason: &Term) -> CallError {
    if reason.is_atom("noproc") {
        CallError::NoProc(target.clone())
    } else if reason.is_atom("noconnection") {
        CallError::NoConnection { callee: target.clone(), cause: None }
    } else {
        CallError::Exit(reason.clone())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exits_on_drop {
            let reason = self.killed.clone().unwrap_or_else(|| Term::atom("normal"));
            self.node.inner.process_exit(&self.slot, reason);
        }
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Process({:?})", self.slot.pid)
    }
}
