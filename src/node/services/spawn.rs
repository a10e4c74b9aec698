//! Spawn requests from other nodes (SPAWN_REQUEST): how OTP 25+'s `rpc:call`
//! and `erpc` reach this node.
//!
//! `rpc:call(N, M, F, A)` sends a spawn request for `erpc:execute_call/4`
//! with `[Ref, M, F, A]` and a monitor; the caller reads the result from the
//! spawned process's exit reason: `{Ref, return, Value}`, `{Ref, throw, V}`,
//! `{Ref, exit, R}` or `{Ref, error, R, Stack}`. `erpc:cast` and `rpc:cast`
//! ask for `erpc:execute_cast/3`; a plain `spawn(N, M, F, A)` for `M:F/A`
//! itself. Each becomes a real process here, so links and monitors behave
//! as for any other process. The requested group leader is ignored: Rust
//! processes have none, and output from called functions is the program's own.

use super::rpc::{self, RpcException};
use crate::node::limits::{PeerAccount, Resource};
use crate::node::table::Watcher;
use crate::node::table::{Link, LinkState};
use crate::node::{Node, NodeInner};
use crate::proto::control::Control;
use crate::term::{Atom, Pid, Reference, Term};

/// A decoded spawn request.
pub(crate) struct SpawnRequest {
    pub req_id: Reference,
    pub from: Pid,
    pub module: Atom,
    pub function: Atom,
    pub arity: u32,
    pub opts: Term,
    pub args: Term,
}

/// What the spawned process runs.
enum Job {
    /// `erpc:execute_call(Ref, M, F, A)`.
    Call { result_ref: Term, module: Atom, function: Atom, args: Vec<Term> },
    /// `erpc:execute_cast(M, F, A)`, or `M:F(A...)` itself.
    Cast { module: Atom, function: Atom, args: Vec<Term> },
}

fn parse_job(req: &SpawnRequest) -> Option<Job> {
    let args = req.args.as_list()?.to_vec();
    if args.len() != req.arity as usize {
        return None;
    }
    let is = |m: &str, f: &str| req.module.as_str() == m && req.function.as_str() == f;
    if is("erpc", "execute_call") {
        if let [result_ref, Term::Atom(m), Term::Atom(f), a] = args.as_slice() {
            return Some(Job::Call {
                result_ref: result_ref.clone(),
                module: m.clone(),
                function: f.clone(),
                args: a.as_list()?.to_vec(),
            });
        }
        return None;
    }
    if is("erpc", "execute_cast") {
        if let [Term::Atom(m), Term::Atom(f), a] = args.as_slice() {
            return Some(Job::Cast { module: m.clone(), function: f.clone(), args: a.as_list()?.to_vec() });
        }
        return None;
    }
    Some(Job::Cast { module: req.module.clone(), function: req.function.clone(), args })
}

/// Whether the spawn options ask for `link` / `monitor`.
fn wants(opts: &Term) -> (bool, bool) {
    let mut link = false;
    let mut monitor = false;
    for opt in opts.as_list().unwrap_or(&[]) {
        if opt.is_atom("link") {
            link = true;
        } else if opt.is_atom("monitor") {
            monitor = true;
        } else if let Some([tag, _]) = opt.as_tuple()
            && tag.is_atom("monitor")
        {
            monitor = true;
        }
    }
    (link, monitor)
}

/// Handles one spawn request from the peer whose holdings `account` counts:
/// answers SPAWN_REPLY, then runs the job as a process. The process, and
/// the link and monitor it asks for, count against the peer's limits; a
/// request beyond them is answered `system_limit`.
pub(crate) fn handle(node: &NodeInner, account: &PeerAccount, req: SpawnRequest) {
    let peer = req.from.node.clone();
    let refuse = |req: SpawnRequest, reason: &str| {
        node.send_control(
            &peer,
            Control::SpawnReply { req_id: req.req_id, to: req.from, flags: 0, result: Term::atom(reason) },
        );
    };
    let Some(job) = parse_job(&req) else { return refuse(req, "badarg") };
    let (link, monitor) = wants(&req.opts);
    let charges = (
        account.charge(Resource::Request, &node.limits),
        link.then(|| account.charge(Resource::Link, &node.limits)),
        monitor.then(|| account.charge(Resource::Monitor, &node.limits)),
    );
    let (request_charge, link_charge, monitor_charge) = match charges {
        (Some(r), Some(Some(l)), Some(Some(m))) => (r, Some(l), Some(m)),
        (Some(r), None, Some(Some(m))) => (r, None, Some(m)),
        (Some(r), Some(Some(l)), None) => (r, Some(l), None),
        (Some(r), None, None) => (r, None, None),
        _ => {
            tracing::warn!(peer = %peer, limit = "max_requests_per_peer", "refused a spawn request: the peer holds too much");
            return refuse(req, "system_limit");
        }
    };
    let Some(inner) = node.self_ref.upgrade() else { return };
    let handle = Node { inner };
    let flags = u32::from(link) | (u32::from(monitor) << 1);
    let SpawnRequest { req_id, from, .. } = req;
    let setup_node = handle.clone();
    let spawned = crate::node::process::spawn(
        handle.clone(),
        move |_p| async move {
            let exit = run(handle, job).await;
            drop(request_charge);
            exit
        },
        move |pid| {
            // Set up the link and monitor and queue the reply before the body
            // runs, so its exit can never overtake them.
            if let Some(slot) = setup_node.inner.local_slot(pid) {
                let mut st = slot.state();
                if link {
                    st.links.insert(from.clone(), Link { state: LinkState::Active, _charge: link_charge });
                }
                if monitor {
                    st.watchers
                        .insert(req_id.clone(), Watcher { pid: from.clone(), by_name: None, _charge: monitor_charge });
                }
            }
            setup_node.inner.send_control(
                &from.node,
                Control::SpawnReply { req_id: req_id.clone(), to: from.clone(), flags, result: Term::Pid(pid.clone()) },
            );
            Ok(())
        },
    );
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "spawn request failed");
    }
}

async fn run(node: Node, job: Job) -> Term {
    match job {
        Job::Call { result_ref, module, function, args } => {
            let list = Term::list(args.clone());
            let tagged = |kind: &str, v: Term| Term::Tuple(vec![result_ref.clone(), Term::atom(kind), v]);
            match rpc::apply(&node, &module, &function, args).await {
                Ok(v) => tagged("return", v),
                Err(RpcException::Throw(v)) => tagged("throw", v),
                Err(RpcException::Exit(r)) => tagged("exit", r),
                Err(RpcException::Error(r)) => {
                    Term::Tuple(vec![result_ref.clone(), Term::atom("error"), r, rpc::stack(&module, &function, list)])
                }
            }
        }
        Job::Cast { module, function, args } => {
            let list = Term::list(args.clone());
            match rpc::apply(&node, &module, &function, args).await {
                Ok(_) => Term::atom("normal"),
                Err(RpcException::Throw(v)) => Term::Tuple(vec![Term::atom("nocatch"), v]),
                Err(RpcException::Exit(r)) => r,
                Err(RpcException::Error(r)) => Term::Tuple(vec![r, rpc::stack(&module, &function, list)]),
            }
        }
    }
}
