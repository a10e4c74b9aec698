//! Remote procedure calls, both ways.
//!
//! Incoming: Rust functions registered with
//! [`Node::register_rpc`](crate::node::Node::register_rpc) serve `rpc:call`
//! (through `spawn`, as OTP 25+ does it with `erpc`),
//! `rpc:block_call` and `rpc:cast` (through `rex`), and `spawn/4`. An unknown
//! function gives exactly what OTP gives: `{badrpc, {'EXIT', {undef, [{M, F,
//! Args, []}]}}}`.
//!
//! Outgoing: `call` asks the peer's `rex`, which every OTP release serves.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::node::limits::Charge;
use crate::node::{CallError, GenCall, Node, NodeError, ReplyTo, parse_cast};
use crate::term::{Atom, Pid, Term};

/// How a called function failed, in Erlang's three classes.
#[derive(Clone, Debug, PartialEq)]
pub enum RpcException {
    /// `error:Reason`.
    Error(Term),
    /// `throw:Value`.
    Throw(Term),
    /// `exit:Reason`.
    Exit(Term),
}

/// What a registered function returns.
pub type RpcResult = Result<Term, RpcException>;

/// A function callable from other nodes. Implemented for every
/// `Fn(Vec<Term>) -> impl Future<Output = RpcResult>`.
pub trait RpcFunction: Send + Sync + 'static {
    /// Calls the function with its arguments.
    fn call(&self, args: Vec<Term>) -> Pin<Box<dyn Future<Output = RpcResult> + Send>>;
}

impl<F, Fut> RpcFunction for F
where
    F: Fn(Vec<Term>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RpcResult> + Send + 'static,
{
    fn call(&self, args: Vec<Term>) -> Pin<Box<dyn Future<Output = RpcResult> + Send>> {
        Box::pin(self(args))
    }
}

/// `{Module, Function, Arity}`.
type Mfa = (Atom, Atom, u8);

/// The registered functions, by `{Module, Function, Arity}`.
#[derive(Default)]
pub(crate) struct RpcRegistry {
    functions: RwLock<HashMap<Mfa, Arc<dyn RpcFunction>>>,
}

impl RpcRegistry {
    pub fn register(&self, module: &str, function: &str, arity: u8, f: Arc<dyn RpcFunction>) {
        let key = (Atom::new(module), Atom::new(function), arity);
        self.functions.write().unwrap_or_else(|p| p.into_inner()).insert(key, f);
    }

    fn lookup(&self, module: &Atom, function: &Atom, arity: usize) -> Option<Arc<dyn RpcFunction>> {
        let arity = u8::try_from(arity).ok()?;
        self.functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(module.clone(), function.clone(), arity))
            .cloned()
    }
}

/// Runs `Module:Function(Args)` on this node: `Err(Error(undef))` with OTP's
/// stack when no such function is registered.
pub(crate) async fn apply(node: &Node, module: &Atom, function: &Atom, args: Vec<Term>) -> RpcResult {
    match node.inner.rpc.lookup(module, function, args.len()) {
        Some(f) => f.call(args).await,
        None => Err(RpcException::Error(Term::atom("undef"))),
    }
}

/// The one-frame stack OTP reports for a failed call: `[{M, F, ArgsOrArity, []}]`.
pub(crate) fn stack(module: &Atom, function: &Atom, args: Term) -> Term {
    Term::list(vec![Term::Tuple(vec![Term::Atom(module.clone()), Term::Atom(function.clone()), args, Term::nil()])])
}

/// `rpc`'s rendering of an outcome (`rpc:execute_call/3`): the value, a thrown
/// value as is, `{badrpc, {'EXIT', Reason}}` for exits and
/// `{badrpc, {'EXIT', {Reason, Stack}}}` for errors.
fn rex_result(outcome: RpcResult, module: &Atom, function: &Atom, args: Term) -> Term {
    let badrpc = |r: Term| Term::Tuple(vec![Term::atom("badrpc"), Term::Tuple(vec![Term::atom("EXIT"), r])]);
    match outcome {
        Ok(v) => v,
        Err(RpcException::Throw(v)) => v,
        Err(RpcException::Exit(r)) => badrpc(r),
        Err(RpcException::Error(r)) => badrpc(Term::Tuple(vec![r, stack(module, function, args)])),
    }
}

/// A request to `rex`, in any of the forms OTP sends.
pub(crate) struct RexRequest {
    /// The module.
    pub module: Atom,
    /// The function.
    pub function: Atom,
    /// The arguments.
    pub args: Vec<Term>,
    /// Who gets the result.
    pub reply_to: Pid,
    /// How the result is wrapped: `None` for casts.
    reply: Option<RexReply>,
}

enum RexReply {
    /// `{From, {call, ...}}`: answered `{rex, Result}`.
    Classic,
    /// A gen_server call: answered `{Tag, Result}`.
    Gen(ReplyTo),
}

impl RexRequest {
    /// Recognises `{From, {call | block_call, M, F, A, GL}}`, the gen_server
    /// call form of the same, and `{'$gen_cast', {cast, M, F, A, GL}}`.
    pub fn parse(msg: &Term) -> Option<RexRequest> {
        let mfa = |request: &Term, kinds: &[&str]| -> Option<(Atom, Atom, Vec<Term>)> {
            match request.as_tuple()? {
                [kind, Term::Atom(m), Term::Atom(f), args, _gl] if kinds.iter().any(|k| kind.is_atom(k)) => {
                    Some((m.clone(), f.clone(), args.as_list()?.to_vec()))
                }
                _ => None,
            }
        };
        const CALLS: &[&str] = &["call", "block_call"];
        if let Some(call) = GenCall::parse(msg) {
            let (module, function, args) = mfa(&call.request, CALLS)?;
            return Some(RexRequest {
                module,
                function,
                args,
                reply_to: call.from.pid.clone(),
                reply: Some(RexReply::Gen(call.from)),
            });
        }
        if let Some(cast) = parse_cast(msg) {
            let (module, function, args) = mfa(cast, &["cast"])?;
            // A cast has no reply; the sender is unknown, so the field is a placeholder.
            let nobody = Pid::new(Atom::new(""), 0, 0, 0);
            return Some(RexRequest { module, function, args, reply_to: nobody, reply: None });
        }
        match msg.as_tuple()? {
            [Term::Pid(from), request] => {
                let (module, function, args) = mfa(request, CALLS)?;
                Some(RexRequest { module, function, args, reply_to: from.clone(), reply: Some(RexReply::Classic) })
            }
            _ => None,
        }
    }

    /// The reply message carrying `result`, or `None` for a cast.
    pub fn reply_message(&self, result: Term) -> Option<Term> {
        match self.reply.as_ref()? {
            RexReply::Classic => Some(Term::Tuple(vec![Term::atom("rex"), result])),
            RexReply::Gen(to) => Some(Term::Tuple(vec![to.tag.clone(), result])),
        }
    }
}

/// Starts the registered `rex` server; returns its pid. Requests from other
/// nodes are checked and served as they arrive ([`serve`], called from the
/// dispatcher); the process itself serves local requests and answers
/// `features_request`.
pub(crate) fn start_rex(node: &Node) -> Result<Pid, NodeError> {
    node.spawn_service(Some("rex"), |mut p| async move {
        while let Ok(msg) = p.recv().await {
            let node = p.node().clone();
            if let Some([Term::Pid(from), request]) = msg.as_tuple()
                && request.is_atom("features_request")
            {
                let reply = Term::Tuple(vec![
                    Term::atom("features_reply"),
                    Term::Atom(node.name().atom().clone()),
                    Term::list(vec![Term::atom("erpc")]),
                ]);
                p.node().inner.service_send(p.pid(), from, reply);
                continue;
            }
            let Some(request) = RexRequest::parse(&msg) else { continue };
            serve(node, p.pid().clone(), request, None);
        }
    })
}

/// Runs one rex request in a task of its own and answers it from `rex`.
/// `charge` counts it against the asking peer's running requests until it is done.
pub(crate) fn serve(node: Node, rex: Pid, request: RexRequest, charge: Option<Charge>) {
    tokio::spawn(async move {
        let list = Term::list(request.args.clone());
        let outcome = apply(&node, &request.module, &request.function, request.args.clone()).await;
        match &request.reply {
            None => {
                if let Err(e) = outcome {
                    tracing::warn!(module = %request.module.as_str(), function = %request.function.as_str(), error = ?e, "rpc:cast failed");
                }
            }
            Some(RexReply::Gen(to)) => {
                let result = rex_result(outcome, &request.module, &request.function, list);
                node.inner.service_reply(&rex, to, result);
            }
            Some(RexReply::Classic) => {
                let result = rex_result(outcome, &request.module, &request.function, list);
                if let Some(reply) = request.reply_message(result) {
                    node.inner.service_send(&rex, &request.reply_to, reply);
                }
            }
        }
        drop(charge);
    });
}

/// Calls `Module:Function(Args)` on `node` through its `rex` server, with
/// `group_leader` as the group leader of the process that runs it (where
/// its output goes), or this node's own when `None`.
/// Connects first if needed, so that an unreachable node gives
/// [`CallError::Connect`] with its cause. `{badrpc, Reason}` answers become
/// [`CallError::BadRpc`].
pub(crate) async fn call(
    node: &Node,
    target: &str,
    (module, function, args): (&str, &str, Vec<Term>),
    group_leader: Option<&crate::term::Pid>,
    timeout: Duration,
) -> Result<Term, CallError> {
    if target != node.name().as_str() {
        node.connect(target).await?;
    }
    let bad = |e: crate::term::AtomError| CallError::Unexpected(e.to_string());
    let gl = match group_leader {
        Some(pid) => Some(pid.clone()),
        None => node.inner.group_leader.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    };
    let gl = gl.map(Term::Pid).unwrap_or_else(|| Term::atom("undefined"));
    let request = Term::Tuple(vec![
        Term::atom("call"),
        Term::Atom(Atom::try_new(module).map_err(bad)?),
        Term::Atom(Atom::try_new(function).map_err(bad)?),
        Term::list(args),
        gl,
    ]);
    let mut p = node.process();
    let reply = p.call_named("rex", target, request, timeout).await?;
    match reply.as_tuple() {
        Some([tag, reason]) if tag.is_atom("badrpc") => Err(CallError::BadRpc(reason.clone())),
        _ => Ok(reply),
    }
}

/// Registers the functions every node answers: `erlang:node/0`,
/// `erlang:nodes/0`, `erlang:whereis/1`, `erlang:registered/0`, and
/// `beamlink:status/0` ([`Node::status`] as a term).
pub(crate) fn register_builtins(node: &Node) {
    let weak = Arc::downgrade(&node.inner);
    let with_node =
        move || weak.upgrade().map(|inner| Node { inner }).ok_or(RpcException::Exit(Term::atom("shutdown")));
    let n = with_node.clone();
    node.register_rpc("erlang", "node", 0, move |_args: Vec<Term>| {
        let r = n().map(|node| Term::Atom(node.name().atom().clone()));
        async move { r }
    });
    let n = with_node.clone();
    node.register_rpc("erlang", "nodes", 0, move |_args: Vec<Term>| {
        let r = n().map(|node| Term::list(node.nodes().into_iter().map(|p| Term::Atom(p.atom().clone())).collect()));
        async move { r }
    });
    let n = with_node.clone();
    node.register_rpc("erlang", "whereis", 1, move |args: Vec<Term>| {
        let r = n().and_then(|node| match args.first() {
            Some(Term::Atom(name)) => {
                Ok(node.whereis(name.as_str()).map(Term::Pid).unwrap_or_else(|| Term::atom("undefined")))
            }
            _ => Err(RpcException::Error(Term::atom("badarg"))),
        });
        async move { r }
    });
    let n = with_node.clone();
    node.register_rpc("erlang", "registered", 0, move |_args: Vec<Term>| {
        let r = n().map(|node| Term::list(node.registered().into_iter().map(Term::Atom).collect()));
        async move { r }
    });
    let n = with_node;
    node.register_rpc("beamlink", "status", 0, move |_args: Vec<Term>| {
        let r = n().map(|node| node.status().to_term());
        async move { r }
    });
}
