//! The one-shot commands, `ping`, `rpc` and `send`: each runs a hidden node
//! with a generated name (as `erl_call` does) that dials NODE and exits.

use std::process::ExitCode;
use std::time::Duration;

use beamlink::node::{CallError, Node};
use beamlink::proto::NodeName;
use beamlink::term::{self, Term};
use clap::Args;

use crate::node_args::{CookieArgs, NameArgs, one_shot_name, parse_node, runtime};
use crate::outcome::{Failure, Format, Printed, Report};

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
    /// How to print the result: `text`, or `json` (one object per result:
    /// command, node, ok, exit_code, and value or reason and error).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
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

/// Options of `beamlink eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The node (`name@host`).
    node: String,
    /// The Erlang expression (or several, separated by commas), e.g. 'lists:seq(1, 3).'
    expression: String,
    #[command(flatten)]
    common: OneShotArgs,
}

/// Options of `beamlink remsh`.
#[derive(Args, Debug)]
pub struct RemshArgs {
    /// The erl node (`name@host`).
    node: String,
    #[command(flatten)]
    common: OneShotArgs,
}

/// Options of `beamlink status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The node (`name@host`) [default: every node registered with the EPMD on this host].
    node: Option<String>,
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

/// A one-shot command's node, and what to tell the operator when a peer
/// turns it away.
struct OneShot {
    node: Node,
    refusal_hint: Option<String>,
}

/// Starts the hidden one-shot node for dialling `target`. Without
/// `--sname`/`--name` it runs under a generated name (as `erl_call` does):
/// `ops-ping_<pid>_<n>@host` with an operator certificate for `ops@host`,
/// else `ping_<pid>_<n>@host`. Whatever its name, it never takes a running
/// node's place: a peer that has a connection under that name keeps it.
async fn one_shot_node(target: &NodeName, common: &OneShotArgs, prefix: &str) -> Result<OneShot, Failure> {
    #[cfg(feature = "tls")]
    let tls = common.tls.transport().map_err(Failure::usage)?;
    let given = common.name.node_name().map_err(Failure::usage)?;
    let explicit = given.is_some();
    #[cfg(feature = "tls")]
    let given =
        given.or_else(|| tls.as_ref().and_then(|tls| crate::node_args::operator_node_name(tls, prefix, target)));
    let name = match given {
        Some(name) => name,
        None => one_shot_name(prefix, target).map_err(Failure::usage)?,
    };
    let mut refusal_hint = explicit.then(|| {
        format!(
            "one-shot commands never take a running node's place: if {name} is connected to {target}, that \
             connection stays; leave out --sname/--name to run under a generated name"
        )
    });
    let timeout = common.timeout();
    let builder = Node::builder(name.as_str())
        .no_listen()
        .hidden(true)
        .yield_to_live_connections(true)
        .connect_timeout(timeout)
        .handshake_timeout(timeout)
        .call_timeout(timeout);
    #[cfg(feature = "tls")]
    let builder = match tls {
        Some(tls) => {
            if let Some(why) = crate::node_args::uncertified_name(&tls, &name) {
                refusal_hint = Some(why);
            }
            builder.transport(tls)
        }
        None => builder,
    };
    let node = common.cookie.apply_one_shot(builder).start().await.map_err(Failure::usage)?;
    Ok(OneShot { node, refusal_hint })
}

impl OneShotArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }

    fn report<'a>(&self, command: &'static str, node: &'a str) -> Report<'a> {
        Report { command, node, format: self.format, on_failure: None }
    }
}

/// Runs `command` on a fresh runtime and reports its result.
fn run<F>(report: Report<'_>, command: F) -> ExitCode
where
    F: std::future::Future<Output = Result<Printed, Failure>>,
{
    let result = match runtime() {
        Ok(rt) => rt.block_on(command),
        Err(e) => Err(Failure::usage(e)),
    };
    report.finish(result)
}

/// Parses NODE, starts the one-shot node, runs `body` with it, and shuts it down.
async fn with_node<T, F>(node_arg: &str, common: &OneShotArgs, prefix: &str, body: F) -> Result<T, Failure>
where
    F: AsyncFnOnce(&Node, &NodeName) -> Result<T, Failure>,
{
    let target = parse_node(node_arg).map_err(Failure::usage)?;
    let one_shot = one_shot_node(&target, common, prefix).await?;
    let result = body(&one_shot.node, &target).await;
    one_shot.node.shutdown().await;
    result.map_err(|failure| failure.explain_refusal(one_shot.refusal_hint.as_deref()))
}

/// `beamlink ping NODE`.
pub fn ping(args: PingArgs) -> ExitCode {
    let report = Report { on_failure: Some("pang"), ..args.common.report("ping", &args.node) };
    run(report, async {
        with_node(&args.node, &args.common, "ping", async |node, target| {
            node.ping_detailed(target.as_str()).await.map_err(Failure::call)?;
            Ok(Printed::value("pong"))
        })
        .await
    })
}

/// `beamlink rpc NODE MODULE FUNCTION [ARGS]`.
pub fn rpc(args: RpcArgs) -> ExitCode {
    run(args.common.report("rpc", &args.node), async {
        let call_args = match term::parse(&args.args) {
            Ok(Term::List(items)) => items,
            Ok(other) => {
                return Err(Failure::usage(format!("ARGS must be an Erlang list such as '[1, foo]', not {other}")));
            }
            Err(e) => return Err(Failure::usage(format!("cannot parse ARGS: {e}"))),
        };
        let timeout = args.common.timeout();
        with_node(&args.node, &args.common, "rpc", async |node, target| {
            let value = node
                .rpc_call(target.as_str(), &args.module, &args.function, call_args, timeout)
                .await
                .map_err(Failure::call)?;
            Ok(Printed::value(value.to_string()))
        })
        .await
    })
}

/// `beamlink send NODE NAME TERM`.
pub fn send(args: SendArgs) -> ExitCode {
    run(args.common.report("send", &args.node), async {
        let message = term::parse(&args.term).map_err(|e| Failure::usage(format!("cannot parse TERM: {e}")))?;
        with_node(&args.node, &args.common, "send", async |node, target| {
            node.connect(target.as_str()).await.map_err(|e| Failure::connect(&e))?;
            node.send_named(&args.registered, target.as_str(), message)
                .await
                .map_err(|e| Failure::call(CallError::Send(e)))?;
            // A round trip on the same connection proves the message left: the
            // peer answers only after reading everything sent before.
            node.ping_detailed(target.as_str()).await.map_err(Failure::call)?;
            Ok(Printed::default())
        })
        .await
    })
}

/// `beamlink eval NODE EXPRESSION`.
pub fn eval(args: EvalArgs) -> ExitCode {
    run(args.common.report("eval", &args.node), async {
        let timeout = args.common.timeout();
        with_node(&args.node, &args.common, "eval", async |node, target| {
            let evaluated = crate::eval::evaluate(node, target, &args.expression, timeout).await?;
            Ok(Printed {
                output: Some(evaluated.output),
                value: Some(evaluated.value.to_string()),
                ..Printed::default()
            })
        })
        .await
    })
}

/// `beamlink remsh NODE`.
#[cfg(unix)]
pub fn remsh(args: RemshArgs) -> ExitCode {
    run(args.common.report("remsh", &args.node), async {
        let timeout = args.common.timeout();
        with_node(&args.node, &args.common, "remsh", async |node, target| {
            crate::remsh::run(node, target, timeout).await
        })
        .await
    })
}

/// `beamlink status [NODE]`.
pub fn status(args: StatusArgs) -> ExitCode {
    let nodes = match &args.node {
        Some(node) => vec![node.clone()],
        None => match local_nodes() {
            Ok(nodes) => nodes,
            Err(e) => return args.common.report("status", "localhost").finish(Err(e)),
        },
    };
    let listed = args.node.is_none();
    let mut code = ExitCode::SUCCESS;
    for node in &nodes {
        let json = args.common.format == Format::Json;
        let outcome = run(args.common.report("status", node), async {
            let timeout = args.common.timeout();
            with_node(node, &args.common, "status", async |one_shot, target| {
                let target = match listed {
                    true => &crate::status::real_name(one_shot, target).await,
                    false => target,
                };
                let said = crate::status::ask(one_shot, target, timeout).await?;
                Ok(if json {
                    Printed { structured: Some(crate::outcome::json_value(said.term())), ..Printed::default() }
                } else {
                    crate::status::text(target, &said)
                })
            })
            .await
        });
        if outcome != ExitCode::SUCCESS {
            code = outcome;
        }
    }
    code
}

/// The nodes registered with the EPMD on this host, as `name@host` in short-name form.
fn local_nodes() -> Result<Vec<String>, Failure> {
    let rt = runtime().map_err(Failure::usage)?;
    let names = rt
        .block_on(beamlink::epmd::client::names("localhost", beamlink::epmd::default_port()))
        .map_err(|e| Failure::usage(format!("cannot list the nodes of this host: {e}")))?;
    let host = beamlink::node::hostname::short_hostname();
    Ok(names.nodes.iter().map(|(name, _port)| format!("{name}@{host}")).collect())
}
