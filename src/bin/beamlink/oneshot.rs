//! The one-shot commands, `ping`, `rpc` and `send`: each runs a hidden node
//! with a generated name (as `erl_call` does) that dials NODE and exits.

use std::process::ExitCode;
use std::time::Duration;

use beamlink::node::{CallError, Node};
use beamlink::proto::NodeName;
use beamlink::term::{self, Term};
use clap::Args;

use crate::node_args::{CookieArgs, NameArgs, one_shot_name, parse_node, runtime};

/// Options every one-shot command shares.
#[derive(Args, Debug)]
pub struct OneShotArgs {
    #[command(flatten)]
    cookie: CookieArgs,
    #[command(flatten)]
    name: NameArgs,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: crate::node_args::TlsArgs,
    /// How long to wait for the connection and the answer, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
}

/// Options of `beamlink ping`.
#[derive(Args, Debug)]
pub struct PingArgs {
    /// The node to ping (`name@host`).
    node: String,
    #[command(flatten)]
    common: OneShotArgs,
}

/// Options of `beamlink rpc`.
#[derive(Args, Debug)]
pub struct RpcArgs {
    /// The node to call (`name@host`).
    node: String,
    /// The module.
    module: String,
    /// The function.
    function: String,
    /// The arguments, as an Erlang list literal such as '[1, foo, "bar"]'.
    #[arg(default_value = "[]")]
    args: String,
    #[command(flatten)]
    common: OneShotArgs,
}

/// Options of `beamlink send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// The node (`name@host`).
    node: String,
    /// The registered name to send to.
    #[arg(value_name = "NAME")]
    registered: String,
    /// The message, in Erlang syntax.
    term: String,
    #[command(flatten)]
    common: OneShotArgs,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Starts the hidden one-shot node for dialling `target`.
/// With TLS and no name given, the node takes the name its certificate was issued for.
async fn one_shot_node(target: &NodeName, common: &OneShotArgs, prefix: &str) -> Result<Node, String> {
    #[cfg(feature = "tls")]
    let tls = common.tls.transport()?;
    let given = common.name.node_name()?;
    #[cfg(feature = "tls")]
    let given = match (given, &tls) {
        (None, Some(tls)) => Some(crate::node_args::certificate_node_name(tls, target)?),
        (given, _) => given,
    };
    let name = match given {
        Some(name) => name,
        None => one_shot_name(prefix, target)?,
    };
    let timeout = Duration::from_secs(common.timeout.max(1));
    let builder = Node::builder(name.as_str()).no_listen().hidden(true).connect_timeout(timeout).call_timeout(timeout);
    #[cfg(feature = "tls")]
    let builder = match tls {
        Some(tls) => {
            crate::node_args::warn_unless_certified(&tls, &name);
            builder.transport(tls)
        }
        None => builder,
    };
    common.cookie.apply_one_shot(builder).start().await.map_err(|e| e.to_string())
}

fn block_on<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match runtime() {
        Ok(rt) => rt.block_on(f),
        Err(e) => fail(e),
    }
}

/// `beamlink ping NODE`.
pub fn ping(args: PingArgs) -> ExitCode {
    block_on(async move {
        let target = match parse_node(&args.node) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let node = match one_shot_node(&target, &args.common, "ping").await {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        let result = node.ping_detailed(target.as_str()).await;
        node.shutdown().await;
        match result {
            Ok(()) => {
                println!("pong");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("pang");
                eprintln!("{target}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `beamlink rpc NODE MODULE FUNCTION [ARGS]`.
pub fn rpc(args: RpcArgs) -> ExitCode {
    block_on(async move {
        let target = match parse_node(&args.node) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let call_args = match term::parse(&args.args) {
            Ok(Term::List(items)) => items,
            Ok(other) => return fail(format!("ARGS must be an Erlang list such as '[1, foo]', not {other}")),
            Err(e) => return fail(format!("cannot parse ARGS: {e}")),
        };
        let node = match one_shot_node(&target, &args.common, "rpc").await {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        let timeout = Duration::from_secs(args.common.timeout.max(1));
        let result = node.rpc_call(target.as_str(), &args.module, &args.function, call_args, timeout).await;
        node.shutdown().await;
        match result {
            Ok(value) => {
                println!("{value}");
                ExitCode::SUCCESS
            }
            Err(CallError::BadRpc(reason)) => {
                println!("{}", Term::Tuple(vec![Term::atom("badrpc"), reason]));
                ExitCode::FAILURE
            }
            Err(e) => fail(format!("{target}: {e}")),
        }
    })
}

/// `beamlink send NODE NAME TERM`.
pub fn send(args: SendArgs) -> ExitCode {
    block_on(async move {
        let target = match parse_node(&args.node) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let message = match term::parse(&args.term) {
            Ok(t) => t,
            Err(e) => return fail(format!("cannot parse TERM: {e}")),
        };
        let node = match one_shot_node(&target, &args.common, "send").await {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        let result = async {
            node.connect(target.as_str()).await.map_err(|e| e.to_string())?;
            node.send_named(&args.registered, target.as_str(), message).await.map_err(|e| e.to_string())?;
            // A round trip on the same connection proves the message left: the
            // peer answers only after reading everything sent before.
            node.ping_detailed(target.as_str()).await.map_err(|e| e.to_string())
        }
        .await;
        node.shutdown().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("{target}: {e}")),
        }
    })
}
