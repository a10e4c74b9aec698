//! [`Supervisor`]: OTP's supervision for Rust processes and [`GenServer`]s
//! (feature `serde`): restart strategies, restart intensity, restart types
//! and ordered shutdown, over links and exit signals as OTP's supervisor uses
//! them. Erlang sees a supervisor: `supervisor:which_children/1`,
//! `supervisor:count_children/1` and `gen_server:stop/1` work on it.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::gen_server::{GenCall, parse_system};
use super::server::{GenServer, StartError, Started, spawn_started, terminate_request, unknown_system_msg};
use super::{CallError, Exited, IntoExitReason, Node, Process};
use crate::term::{Atom, Pid, Term};

/// Which children restart when one exits and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only that child.
    OneForOne,
    /// Every child: the others are stopped (last started first), then all start again in order.
    OneForAll,
    /// That child and the ones started after it.
    RestForOne,
}

/// When a child that exited is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit: not after `normal`, `shutdown` or `{shutdown, _}`.
    Transient,
    /// Never; the child is forgotten when it exits.
    Temporary,
}

/// How a child is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// An exit signal `shutdown`, then `kill` if it has not exited within the time.
    Timeout(Duration),
    /// An exit signal `shutdown`, and as long as it takes (OTP's `infinity`,
    /// the default for a supervisor child).
    Infinity,
    /// An exit signal `kill` at once.
    BrutalKill,
}

type StartFn = Arc<dyn Fn(Node, Pid) -> Pin<Box<dyn Future<Output = Result<Pid, Term>> + Send>> + Send + Sync>;

/// One child of a [`Supervisor`]: how to start it, when to restart it, how to stop it.
#[derive(Clone)]
pub struct ChildSpec {
    id: Atom,
    start: StartFn,
    restart: Restart,
    shutdown: Shutdown,
    supervisor: bool,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("supervisor", &self.supervisor)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    fn new(id: &str, start: StartFn, supervisor: bool) -> ChildSpec {
        ChildSpec {
            id: Atom::try_new(id).unwrap_or_else(|_| Atom::new("child")),
            start,
            restart: Restart::Permanent,
            shutdown: if supervisor {
                Shutdown::Timeout(Duration::MAX)
            } else {
                Shutdown::Timeout(Duration::from_secs(5))
            },
            supervisor,
        }
    }

    /// A [`GenServer`] made by `make` at each start, registered as `name` if given.
    pub fn gen_server<S, F>(id: &str, name: Option<&str>, make: F) -> ChildSpec
    where
        S: GenServer,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let name: Option<Arc<str>> = name.map(Arc::from);
        ChildSpec::new(
            id,
            Arc::new(move |node: Node, parent: Pid| {
                let (make, name) = (make.clone(), name.clone());
                Box::pin(async move {
                    super::server::start(&node, make(), name.as_deref(), Some(parent)).await.map_err(start_failure)
                })
            }),
            false,
        )
    }

    /// A process running `body` (called again at each restart), linked to the
    /// supervisor. The next child starts once `body` has been called and has
    /// returned its future (what the closure does before its `async` block).
    pub fn process<F, Fut>(id: &str, body: F) -> ChildSpec
    where
        F: Fn(Process) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let body = Arc::new(body);
        ChildSpec::new(
            id,
            Arc::new(move |node: Node, parent: Pid| {
                let body = body.clone();
                Box::pin(async move {
                    let (linked, ready) = oneshot::channel();
                    let pid = node.spawn(move |me: Process| {
                        me.link(&parent);
                        // Calling `body` first runs its synchronous part before the next child starts.
                        let running = body(me);
                        let _ = linked.send(());
                        running
                    });
                    ready.await.map_err(|_| Term::atom("killed"))?;
                    Ok(pid)
                })
            }),
            false,
        )
    }

    /// A supervisor of its own, under this one.
    pub fn supervisor(id: &str, spec: Supervisor) -> ChildSpec {
        ChildSpec::new(
            id,
            Arc::new(move |node: Node, parent: Pid| {
                let spec = spec.clone();
                Box::pin(async move { start(&node, spec, None, Some(parent)).await.map_err(start_failure) })
            }),
            true,
        )
    }

    /// When the child restarts (default [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// How the child is stopped (default: `shutdown`, then `kill` after 5 s;
    /// a supervisor child is given all the time it needs).
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }
}

/// A child's failed start as the reason the supervisor reports: `init`'s
/// reason, or `{bad_name, Why}` when the name could not be registered.
fn start_failure(e: StartError) -> Term {
    match e {
        StartError::Init(reason) => reason,
        StartError::Name(e) => Term::Tuple(vec![Term::atom("bad_name"), Term::binary(e.to_string().into_bytes())]),
    }
}

/// A supervisor: its strategy, its restart intensity, and its children in
/// start order. Start it with [`Node::start_supervisor`].
///
/// More than `max_restarts` restarts within `period` (OTP's defaults: 1 in
/// 5 s) and the supervisor stops its children, last started first, and
/// exits with `shutdown`.
///
/// ```no_run
/// use std::time::Duration;
/// use beamlink::node::{ChildSpec, Node, Restart, Strategy, Supervisor};
///
/// # async fn run(node: Node) -> Result<(), Box<dyn std::error::Error>> {
/// let tree = Supervisor::new(Strategy::OneForOne)
///     .intensity(3, Duration::from_secs(10))
///     .child(ChildSpec::process("ticker", |mut me| async move {
///         while let Ok(_msg) = me.recv().await {}
///     }))
///     .child(ChildSpec::process("once", |_me| async {}).restart(Restart::Transient));
/// let sup = node.start_supervisor(tree, Some("my_sup")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    children: Vec<ChildSpec>,
}

impl Supervisor {
    /// A supervisor with no children and OTP's default intensity (1 restart in 5 s).
    pub fn new(strategy: Strategy) -> Supervisor {
        Supervisor { strategy, max_restarts: 1, period: Duration::from_secs(5), children: Vec::new() }
    }

    /// At most `max_restarts` restarts within `period`.
    pub fn intensity(mut self, max_restarts: usize, period: Duration) -> Supervisor {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Adds a child, started after the ones before it.
    pub fn child(mut self, spec: ChildSpec) -> Supervisor {
        self.children.push(spec);
        self
    }
}

/// A running supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorRef {
    pid: Pid,
}

/// One child as [`SupervisorRef::which_children`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: Atom,
    /// Its pid; `None` while it is not running.
    pub pid: Option<Pid>,
    /// True for a supervisor child.
    pub supervisor: bool,
}

impl SupervisorRef {
    /// The supervisor's pid.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// The children, in start order (`supervisor:which_children/1`).
    pub async fn which_children(&self, from: &mut Process, timeout: Duration) -> Result<Vec<ChildInfo>, CallError> {
        let reply = from.call(&self.pid, Term::atom("which_children"), timeout).await?;
        let Some(list) = reply.as_list() else { return Err(CallError::Unexpected(reply.to_string())) };
        // OTP lists the children last started first.
        let mut out: Vec<ChildInfo> = list
            .iter()
            .filter_map(|entry| match entry.as_tuple()? {
                [Term::Atom(id), pid, kind, _] => Some(ChildInfo {
                    id: id.clone(),
                    pid: pid.as_pid().cloned(),
                    supervisor: kind.is_atom("supervisor"),
                }),
                _ => None,
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// Stops the supervisor and its children, last started first, and waits
    /// for it (`gen_server:stop/3` with `shutdown`).
    pub async fn stop(&self, from: &mut Process, timeout: Duration) -> Result<(), CallError> {
        let request = Term::Tuple(vec![Term::atom("terminate"), Term::atom("shutdown")]);
        from.call_labelled("system", &self.pid, request, timeout).await.map(|_| ())
    }
}

impl Node {
    /// Starts `spec`'s supervisor (registered as `name` if given) and its
    /// children in order; returns when all have started. A child that fails
    /// to start stops the ones before it, and the start fails with
    /// `{shutdown, {failed_to_start_child, Id, Reason}}`.
    pub async fn start_supervisor(&self, spec: Supervisor, name: Option<&str>) -> Result<SupervisorRef, StartError> {
        start(self, spec, name, None).await.map(|pid| SupervisorRef { pid })
    }
}

async fn start(node: &Node, spec: Supervisor, name: Option<&str>, parent: Option<Pid>) -> Result<Pid, StartError> {
    spawn_started(node, name, move |me, started| run(spec, me, parent, started)).await
}

struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
}

/// The supervisor process.
struct Running {
    me: Process,
    strategy: Strategy,
    max_restarts: usize,
    period: Duration,
    children: Vec<Child>,
    restarts: VecDeque<Instant>,
}

async fn run(spec: Supervisor, me: Process, parent: Option<Pid>, started: Started) -> Term {
    me.trap_exit(true);
    if let Some(parent) = &parent {
        me.link(parent);
    }
    let children = spec.children.into_iter().map(|spec| Child { spec, pid: None }).collect();
    let mut sup = Running {
        me,
        strategy: spec.strategy,
        max_restarts: spec.max_restarts,
        period: spec.period,
        children,
        restarts: VecDeque::new(),
    };
    for i in 0..sup.children.len() {
        if let Err(reason) = sup.start_child(i).await {
            sup.stop_children(0..i).await;
            let id = Term::Atom(sup.children[i].spec.id.clone());
            let why = Term::Tuple(vec![
                Term::atom("shutdown"),
                Term::Tuple(vec![Term::atom("failed_to_start_child"), id, reason]),
            ]);
            let _ = started.send(Err(why.clone()));
            return why;
        }
    }
    let _ = started.send(Ok(()));
    loop {
        let msg = match sup.me.recv().await {
            Ok(msg) => msg,
            Err(Exited(reason)) => return reason,
        };
        if let Some(reason) = sup.handle(msg, parent.as_ref()).await {
            return reason;
        }
    }
}

impl Running {
    async fn start_child(&mut self, i: usize) -> Result<(), Term> {
        let child = &mut self.children[i];
        let pid = (child.spec.start)(self.me.node().clone(), self.me.pid().clone()).await?;
        child.pid = Some(pid);
        Ok(())
    }

    /// Handles one message; `Some(reason)` when the supervisor is to exit.
    async fn handle(&mut self, msg: Term, parent: Option<&Pid>) -> Option<Term> {
        if let Some(call) = GenCall::parse(&msg) {
            let reply = self.answer(&call.request);
            let _ = self.me.reply(&call.from, reply).await;
            return None;
        }
        if let Some(GenCall { from, request }) = parse_system(&msg) {
            return match terminate_request(&request) {
                Some(reason) => {
                    self.stop_children(0..self.children.len()).await;
                    let _ = self.me.reply(&from, Term::atom("ok")).await;
                    Some(reason)
                }
                None => {
                    let _ = self.me.reply(&from, unknown_system_msg(&request)).await;
                    None
                }
            };
        }
        match msg.as_tuple() {
            Some([exit, Term::Pid(from), reason]) if exit.is_atom("EXIT") => {
                if Some(from) == parent {
                    self.stop_children(0..self.children.len()).await;
                    return Some(reason.clone());
                }
                let i = self.children.iter().position(|c| c.pid.as_ref() == Some(from))?;
                self.child_exited(i, reason).await
            }
            _ => None,
        }
    }

    /// `which_children` and `count_children`, in OTP's forms.
    fn answer(&self, request: &Term) -> Term {
        let kind = |c: &Child| Term::atom(if c.spec.supervisor { "supervisor" } else { "worker" });
        if request.is_atom("which_children") {
            let entries = self.children.iter().rev().map(|c| {
                let pid = c.pid.clone().map(Term::Pid).unwrap_or_else(|| Term::atom("undefined"));
                Term::Tuple(vec![Term::Atom(c.spec.id.clone()), pid, kind(c), Term::nil()])
            });
            return Term::List(entries.collect());
        }
        if request.is_atom("count_children") {
            let count = |f: &dyn Fn(&Child) -> bool| Term::from(self.children.iter().filter(|c| f(c)).count() as u64);
            let pair = |k: &str, v: Term| Term::Tuple(vec![Term::atom(k), v]);
            return Term::List(vec![
                pair("specs", Term::from(self.children.len() as u64)),
                pair("active", count(&|c| c.pid.is_some())),
                pair("supervisors", count(&|c| c.spec.supervisor)),
                pair("workers", count(&|c| !c.spec.supervisor)),
            ]);
        }
        Term::Tuple(vec![Term::atom("error"), Term::Tuple(vec![Term::atom("unsupported"), request.clone()])])
    }

    async fn child_exited(&mut self, i: usize, reason: &Term) -> Option<Term> {
        self.children[i].pid = None;
        let restart = match self.children[i].spec.restart {
            Restart::Permanent => true,
            Restart::Transient => !is_clean_exit(reason),
            Restart::Temporary => false,
        };
        if !restart {
            if self.children[i].spec.restart == Restart::Temporary {
                self.children.remove(i);
            }
            return None;
        }
        let range = match self.strategy {
            Strategy::OneForOne => i..i + 1,
            Strategy::OneForAll => 0..self.children.len(),
            Strategy::RestForOne => i..self.children.len(),
        };
        self.stop_children(range.clone()).await;
        loop {
            if self.too_many_restarts() {
                tracing::error!(supervisor = ?self.me.pid(), "reached the maximum restart intensity; shutting down");
                self.stop_children(0..self.children.len()).await;
                return Some(Term::atom("shutdown"));
            }
            let mut failed = false;
            for j in range.clone() {
                if let Err(why) = self.start_child(j).await {
                    tracing::warn!(supervisor = ?self.me.pid(), child = %self.children[j].spec.id.as_str(), reason = %why.bounded(200), "a child failed to restart");
                    failed = true;
                    break;
                }
            }
            if !failed {
                return None;
            }
            self.stop_children(range.clone()).await;
        }
    }

    /// Records a restart; true when that makes more than allowed within the period.
    fn too_many_restarts(&mut self) -> bool {
        let now = Instant::now();
        self.restarts.push_back(now);
        while self.restarts.front().is_some_and(|t| now.duration_since(*t) > self.period) {
            self.restarts.pop_front();
        }
        self.restarts.len() > self.max_restarts
    }

    /// Stops the running children in `range`, last started first.
    async fn stop_children(&mut self, range: std::ops::Range<usize>) {
        for i in range.rev() {
            if let Some(pid) = self.children[i].pid.take() {
                let shutdown = self.children[i].spec.shutdown;
                self.stop_child(&pid, shutdown).await;
            }
        }
    }

    async fn stop_child(&mut self, pid: &Pid, shutdown: Shutdown) {
        let exited = |m: &Term| match m.as_tuple() {
            Some([exit, Term::Pid(from), _]) if exit.is_atom("EXIT") && from == pid => Some(()),
            _ => None,
        };
        let grace = match shutdown {
            Shutdown::Timeout(grace) => Some(Some(grace)),
            Shutdown::Infinity => Some(None),
            Shutdown::BrutalKill => None,
        };
        if let Some(wait) = grace {
            self.me.exit(pid, Term::atom("shutdown"));
            if let Ok(Some(())) = self.me.receive(wait, exited).await {
                return;
            }
        }
        self.me.exit(pid, Term::atom("kill"));
        let _ = self.me.receive(Some(Duration::from_secs(5)), exited).await;
    }
}

/// `normal`, `shutdown` or `{shutdown, _}`: exits a transient child is not restarted after.
fn is_clean_exit(reason: &Term) -> bool {
    reason.is_atom("normal")
        || reason.is_atom("shutdown")
        || matches!(reason.as_tuple(), Some([tag, _]) if tag.is_atom("shutdown"))
}
