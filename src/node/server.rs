//! [`GenServer`]: a gen_server written in Rust, with typed requests, replies
//! and casts (feature `serde`). Erlang and Elixir call it with
//! `gen_server:call/2,3` and `GenServer.call/2,3` as they call their own.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::gen_server::{GenCall, ReplyTo, parse_cast, parse_system};
use super::typed::outgoing;
use super::{CallError, Exited, Node, NodeError, Process, SendError};
use crate::term::{ConvertError, Pid, Term, from_term, to_term};

/// What a call handler decides.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome<R> {
    /// Reply now and go on: `{reply, Reply, State}`.
    Reply(R),
    /// Go on without replying now; reply later with [`Process::reply_as`]:
    /// `{noreply, State}`.
    NoReply,
    /// Stop with `reason`, replying first if there is a reply: `{stop, Reason, Reply, State}`.
    Stop {
        /// The exit reason.
        reason: Term,
        /// The reply to send before stopping.
        reply: Option<R>,
    },
}

/// What a cast or info handler decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Go on: `{noreply, State}`.
    Continue,
    /// Stop with this exit reason (`normal` for a clean stop).
    Stop(Term),
}

/// A gen_server written in Rust: the value is the state, and each handler
/// gets the server's own [`Process`] to send, monitor, link or reply from.
///
/// Calls (`{'$gen_call', From, Request}`) whose request fits [`GenServer::Call`]
/// go to [`GenServer::handle_call`]; one that does not fit is answered with
/// [`GenServer::bad_request`] and the server goes on. Casts
/// (`{'$gen_cast', Msg}`) that fit [`GenServer::Cast`] go to
/// [`GenServer::handle_cast`], others are dropped (and logged). `sys:get_state/1`
/// is answered with [`GenServer::state`]. An `'EXIT'` from the parent (a
/// [`Supervisor`](super::Supervisor)) stops the server with its reason. Every
/// other message goes to [`GenServer::handle_info`].
///
/// ```no_run
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use beamlink::node::{CallOutcome, GenServer, Node, Process, ReplyTo};
///
/// struct Counter(i64);
///
/// #[derive(Deserialize)]
/// enum Request { Add(i64), Get }
///
/// impl GenServer for Counter {
///     type Call = Request;
///     type Reply = i64;
///     type Cast = ();
///
///     async fn handle_call(&mut self, request: Request, _from: &ReplyTo, _me: &mut Process) -> CallOutcome<i64> {
///         if let Request::Add(n) = request {
///             self.0 += n;
///         }
///         CallOutcome::Reply(self.0)
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let node = Node::builder("a@localhost").cookie("secret").start().await?;
/// let counter = node.start_gen_server(Counter(0), Some("counter")).await?;
/// // From Erlang: gen_server:call({counter, 'a@localhost'}, {add, 2}) =:= 2.
/// let mut me = node.process();
/// let n: i64 = counter.call(&mut me, &beamlink::term::parse("{add, 2}")?, Duration::from_secs(5)).await?;
/// assert_eq!(n, 2);
/// # Ok(()) }
/// ```
pub trait GenServer: Send + Sized + 'static {
    /// The requests of calls.
    type Call: DeserializeOwned + Send;
    /// The replies to calls.
    type Reply: Serialize + Send;
    /// The messages of casts.
    type Cast: DeserializeOwned + Send;

    /// Runs before the server takes messages; an error stops it with that
    /// reason, and the start fails with it.
    fn init(&mut self, me: &mut Process) -> impl Future<Output = Result<(), Term>> + Send {
        let _ = me;
        async { Ok(()) }
    }

    /// Handles a call.
    fn handle_call(
        &mut self,
        request: Self::Call,
        from: &ReplyTo,
        me: &mut Process,
    ) -> impl Future<Output = CallOutcome<Self::Reply>> + Send;

    /// Handles a cast. The default ignores it.
    fn handle_cast(&mut self, msg: Self::Cast, me: &mut Process) -> impl Future<Output = Outcome> + Send {
        let _ = (msg, me);
        async { Outcome::Continue }
    }

    /// Handles any other message. The default ignores it.
    fn handle_info(&mut self, msg: Term, me: &mut Process) -> impl Future<Output = Outcome> + Send {
        let _ = (msg, me);
        async { Outcome::Continue }
    }

    /// Runs when the server stops by its own decision or its parent's exit
    /// (not when it is killed outright).
    fn terminate(&mut self, reason: &Term, me: &mut Process) -> impl Future<Output = ()> + Send {
        let _ = (reason, me);
        async {}
    }

    /// The answer to a call whose request does not fit [`GenServer::Call`].
    /// The default is `{error, {bad_request, Why}}`, `Why` the conversion
    /// error as a binary.
    fn bad_request(&self, request: &Term, error: &ConvertError) -> Term {
        let _ = request;
        let why = Term::binary(error.to_string().into_bytes());
        Term::Tuple(vec![Term::atom("error"), Term::Tuple(vec![Term::atom("bad_request"), why])])
    }

    /// The state `sys:get_state/1` shows; `None` (the default) makes it
    /// raise `state_not_shown`.
    fn state(&self) -> Option<Term> {
        None
    }
}

/// A gen_server could not be started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The name could not be registered.
    #[error(transparent)]
    Name(#[from] NodeError),
    /// `init` failed with this reason.
    #[error("init failed: {}", .0.bounded(200))]
    Init(Term),
}

/// A gen_server to call or cast to: a Rust [`GenServer`] or any Erlang or
/// Elixir one, by pid or by registered name.
#[derive(Debug, Clone, PartialEq)]
pub enum GenServerRef {
    /// By pid.
    Pid(Pid),
    /// By the name it is registered under on `node`.
    Named {
        /// The registered name.
        name: String,
        /// The node.
        node: String,
    },
}

impl GenServerRef {
    /// The server registered as `name` on `node`.
    pub fn named(name: &str, node: &str) -> GenServerRef {
        GenServerRef::Named { name: name.into(), node: node.into() }
    }

    /// The pid, for a server known by pid.
    pub fn pid(&self) -> Option<&Pid> {
        match self {
            GenServerRef::Pid(pid) => Some(pid),
            GenServerRef::Named { .. } => None,
        }
    }

    /// `gen_server:call(Server, Request, Timeout)` from `from`, typed both ways.
    pub async fn call<Req, Reply>(
        &self,
        from: &mut Process,
        request: &Req,
        timeout: Duration,
    ) -> Result<Reply, CallError>
    where
        Req: ?Sized + Serialize,
        Reply: DeserializeOwned,
    {
        match self {
            GenServerRef::Pid(pid) => from.call_as(pid, request, timeout).await,
            GenServerRef::Named { name, node } => from.call_named_as(name, node, request, timeout).await,
        }
    }

    /// `gen_server:cast(Server, Msg)` from `from`.
    pub async fn cast<Msg: ?Sized + Serialize>(&self, from: &Process, msg: &Msg) -> Result<(), SendError> {
        let msg = Term::Tuple(vec![Term::atom("$gen_cast"), outgoing(msg)?]);
        match self {
            GenServerRef::Pid(pid) => from.send(pid, msg).await,
            GenServerRef::Named { name, node } => from.send_named(name, node, msg).await,
        }
    }
}

impl Node {
    /// Starts `server` in a new process, registered as `name` if given, and
    /// returns once its `init` has run.
    pub async fn start_gen_server<S: GenServer>(
        &self,
        server: S,
        name: Option<&str>,
    ) -> Result<GenServerRef, StartError> {
        start(self, server, name, None).await.map(GenServerRef::Pid)
    }
}

/// Starts `server`, linked to `parent` before `init` when there is one.
pub(crate) async fn start<S: GenServer>(
    node: &Node,
    server: S,
    name: Option<&str>,
    parent: Option<Pid>,
) -> Result<Pid, StartError> {
    spawn_started(node, name, move |me, started| run(server, me, parent, started)).await
}

/// Tells the starter how the start went: `Ok` once running, or the exit reason.
pub(crate) type Started = oneshot::Sender<Result<(), Term>>;

/// Spawns `body` (registered as `name` if given) and waits until it reports
/// through [`Started`] that it has started, or has failed to.
pub(crate) async fn spawn_started<F, Fut>(node: &Node, name: Option<&str>, body: F) -> Result<Pid, StartError>
where
    F: FnOnce(Process, Started) -> Fut + Send + 'static,
    Fut: Future<Output = Term> + Send + 'static,
{
    let (started, result) = oneshot::channel();
    let body = move |me: Process| body(me, started);
    let pid = match name {
        Some(name) => node.spawn_registered(name, body)?,
        None => node.spawn(body),
    };
    match result.await {
        Ok(Ok(())) => Ok(pid),
        Ok(Err(reason)) => Err(StartError::Init(reason)),
        // The process died before it said (killed, or a panic).
        Err(_) => Err(StartError::Init(Term::atom("killed"))),
    }
}

/// The reason of a `sys` `{terminate, Reason}` request.
pub(crate) fn terminate_request(request: &Term) -> Option<Term> {
    match request.as_tuple() {
        Some([terminate, reason]) if terminate.is_atom("terminate") => Some(reason.clone()),
        _ => None,
    }
}

async fn run<S: GenServer>(mut server: S, mut me: Process, parent: Option<Pid>, started: Started) -> Term {
    if let Some(parent) = &parent {
        me.link(parent);
    }
    if let Err(reason) = server.init(&mut me).await {
        let _ = started.send(Err(reason.clone()));
        return reason;
    }
    let _ = started.send(Ok(()));
    loop {
        let msg = match me.recv().await {
            Ok(msg) => msg,
            Err(Exited(reason)) => return reason,
        };
        match handle(&mut server, &mut me, msg, parent.as_ref()).await {
            Next::Continue => {}
            Next::Stop(reason) => {
                server.terminate(&reason, &mut me).await;
                return reason;
            }
            Next::StopAndAnswer(reason, to) => {
                server.terminate(&reason, &mut me).await;
                let _ = me.reply(&to, Term::atom("ok")).await;
                return reason;
            }
        }
    }
}

/// What the server loop does after a message.
enum Next {
    Continue,
    Stop(Term),
    /// Stop, then answer `ok` to a `sys:terminate` request.
    StopAndAnswer(Term, ReplyTo),
}

impl From<Outcome> for Next {
    fn from(outcome: Outcome) -> Next {
        match outcome {
            Outcome::Continue => Next::Continue,
            Outcome::Stop(reason) => Next::Stop(reason),
        }
    }
}

async fn handle<S: GenServer>(server: &mut S, me: &mut Process, msg: Term, parent: Option<&Pid>) -> Next {
    if let Some(call) = GenCall::parse(&msg) {
        return handle_call(server, me, call).await.into();
    }
    if let Some(cast) = parse_cast(&msg) {
        return match from_term::<S::Cast>(cast) {
            Ok(cast) => server.handle_cast(cast, me).await.into(),
            Err(e) => {
                tracing::warn!(server = ?me.pid(), error = %e, "a cast that does not fit the server's type was dropped");
                Next::Continue
            }
        };
    }
    if let Some(GenCall { from, request }) = parse_system(&msg) {
        // `gen_server:stop/1,3` (`sys:terminate/3`): terminate, answer ok, then exit.
        if let Some(reason) = terminate_request(&request) {
            return Next::StopAndAnswer(reason, from);
        }
        let _ = me.reply(&from, system_reply(server, &request)).await;
        return Next::Continue;
    }
    match msg.as_tuple() {
        Some([exit, Term::Pid(from), reason]) if exit.is_atom("EXIT") && Some(from) == parent => {
            Next::Stop(reason.clone())
        }
        _ => server.handle_info(msg, me).await.into(),
    }
}

async fn handle_call<S: GenServer>(server: &mut S, me: &mut Process, call: GenCall) -> Outcome {
    let request = match from_term::<S::Call>(&call.request) {
        Ok(request) => request,
        Err(e) => {
            let answer = server.bad_request(&call.request, &e);
            let _ = me.reply(&call.from, answer).await;
            return Outcome::Continue;
        }
    };
    let (reply, outcome) = match server.handle_call(request, &call.from, me).await {
        CallOutcome::Reply(reply) => (Some(reply), Outcome::Continue),
        CallOutcome::NoReply => (None, Outcome::Continue),
        CallOutcome::Stop { reason, reply } => (reply, Outcome::Stop(reason)),
    };
    if let Some(reply) = reply {
        match to_term(&reply) {
            Ok(reply) => {
                let _ = me.reply(&call.from, reply).await;
            }
            // A reply the server's own type cannot write is a bug in the server: it stops, as OTP's would crash.
            Err(e) => {
                return Outcome::Stop(Term::Tuple(vec![
                    Term::atom("bad_reply"),
                    Term::binary(e.to_string().into_bytes()),
                ]));
            }
        }
    }
    outcome
}

/// The answer to a `sys` request, as the processes of current OTP releases
/// give it: `{ok, State}` for `get_state` (which `sys:get_state/1` of OTP 26
/// and later unwraps; OTP 25's returns it whole, as it does for any newer
/// node's process), `{error, Reason}` otherwise.
fn system_reply<S: GenServer>(server: &S, request: &Term) -> Term {
    match server.state() {
        Some(state) if request.is_atom("get_state") => Term::Tuple(vec![Term::atom("ok"), state]),
        None if request.is_atom("get_state") => Term::Tuple(vec![Term::atom("error"), Term::atom("state_not_shown")]),
        _ => unknown_system_msg(request),
    }
}

/// `{error, {unknown_system_msg, Request}}`, `sys`'s answer to a request it does not know.
pub(crate) fn unknown_system_msg(request: &Term) -> Term {
    Term::Tuple(vec![Term::atom("error"), Term::Tuple(vec![Term::atom("unknown_system_msg"), request.clone()])])
}
