//! `beamlink eval NODE 'Expression.'`: evaluates an Erlang expression on a
//! node, as `erl_call -e` does, through the node's own `erl_scan`,
//! `erl_parse` and `erl_eval`; the call's group leader is a process here
//! that keeps what the expression prints, which `erl_call` drops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use beamlink::node::{CallError, Node};
use beamlink::proto::NodeName;
use beamlink::term::{Pid, Term};

use crate::outcome::Failure;

/// What an evaluation gave: the output it wrote, and its value.
pub struct Evaluated {
    /// Everything the expression wrote to its group leader, in order.
    pub output: String,
    /// The value, as a term.
    pub value: Term,
}

/// Evaluates `expression` (a full stop is added if it has none) on `target`.
pub async fn evaluate(
    node: &Node,
    target: &NodeName,
    expression: &str,
    timeout: Duration,
) -> Result<Evaluated, Failure> {
    let remote = Remote { node, target: target.as_str(), timeout };
    let mut text = expression.trim().to_string();
    if !text.ends_with('.') {
        text.push('.');
    }
    let tokens = match remote.call("erl_scan", "string", vec![charlist(&text)]).await?.as_tuple() {
        Some([ok, tokens, _end]) if ok.is_atom("ok") => tokens.clone(),
        Some([error, info, _end]) if error.is_atom("error") => return Err(remote.parse_error(info).await),
        _ => return Err(Failure::usage("erl_scan:string/1 gave an unexpected answer")),
    };
    let exprs = match remote.call("erl_parse", "parse_exprs", vec![tokens]).await?.as_tuple() {
        Some([ok, exprs]) if ok.is_atom("ok") => exprs.clone(),
        Some([error, info]) if error.is_atom("error") => return Err(remote.parse_error(info).await),
        _ => return Err(Failure::usage("erl_parse:parse_exprs/1 gave an unexpected answer")),
    };
    let bindings = remote.call("erl_eval", "new_bindings", vec![]).await?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let leader = spawn_group_leader(node, target, timeout, output.clone());
    let answer = node
        .rpc_call_with_group_leader(target.as_str(), ("erl_eval", "exprs", vec![exprs, bindings]), &leader, timeout)
        .await;
    let _ = node.process().send(&leader, Term::atom("stop")).await;
    let answer = answer.map_err(Failure::call)?;
    let output = String::from_utf8_lossy(&output.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    match answer.as_tuple() {
        Some([tag, value, _bindings]) if tag.is_atom("value") => Ok(Evaluated { output, value: value.clone() }),
        _ => Err(Failure::call(CallError::Unexpected(format!("erl_eval:exprs/2 answered {}", answer.bounded(200))))),
    }
}

/// rpc calls to the node evaluated on.
struct Remote<'a> {
    node: &'a Node,
    target: &'a str,
    timeout: Duration,
}

impl Remote<'_> {
    async fn call(&self, module: &str, function: &str, args: Vec<Term>) -> Result<Term, Failure> {
        self.node.rpc_call(self.target, module, function, args, self.timeout).await.map_err(Failure::call)
    }

    /// A scan or parse error (`{Location, Module, Descriptor}`), in the node's own words.
    async fn parse_error(&self, info: &Term) -> Failure {
        let text = match info.as_tuple() {
            Some([location, Term::Atom(module), descriptor]) => {
                match self.call(module.as_str(), "format_error", vec![descriptor.clone()]).await {
                    Ok(words) => format!("{}: {}", location_text(location), chars_text(&words, false)),
                    Err(_) => info.to_string(),
                }
            }
            _ => info.to_string(),
        };
        Failure::usage(format!("cannot parse the expression: {text}"))
    }
}

fn location_text(location: &Term) -> String {
    match location.as_tuple() {
        Some([line, column]) => format!("{line}:{column}"),
        _ => location.to_string(),
    }
}

fn charlist(text: &str) -> Term {
    Term::List(text.chars().map(|c| Term::Int(i64::from(u32::from(c)))).collect())
}

/// The text of chardata (an iolist, a charlist, binaries); binaries are
/// UTF-8, or Latin-1 when `latin1`.
fn chars_text(chars: &Term, latin1: bool) -> String {
    let mut out = String::new();
    push_chars(chars, latin1, &mut out);
    out
}

fn push_chars(chars: &Term, latin1: bool, out: &mut String) {
    match chars {
        Term::Binary(bytes) if latin1 => out.extend(bytes.iter().map(|b| char::from(*b))),
        Term::Binary(bytes) => out.push_str(&String::from_utf8_lossy(bytes)),
        Term::Int(c) => out.extend(u32::try_from(*c).ok().and_then(char::from_u32)),
        Term::List(items) => items.iter().for_each(|item| push_chars(item, latin1, out)),
        Term::ImproperList(items, tail) => {
            items.iter().for_each(|item| push_chars(item, latin1, out));
            push_chars(tail, latin1, out);
        }
        Term::Atom(atom) => out.push_str(atom.as_str()),
        _ => {}
    }
}

/// A group leader for one evaluation: it keeps what is written to it,
/// formats `io:format` output on `target` (where the format's arguments
/// make sense), and answers reads with `eof`: an evaluation has no input.
fn spawn_group_leader(node: &Node, target: &NodeName, timeout: Duration, output: Arc<Mutex<Vec<u8>>>) -> Pid {
    let target = target.to_string();
    node.spawn(move |mut p| async move {
        while let Ok(msg) = p.recv().await {
            if msg.is_atom("stop") {
                break;
            }
            let Some([tag, Term::Pid(from), reply_as, request]) = msg.as_tuple() else { continue };
            if !tag.is_atom("io_request") {
                continue;
            }
            let remote = Remote { node: p.node(), target: &target, timeout };
            let reply = answer_io(&remote, request, &output).await;
            let _ = p.send(from, Term::Tuple(vec![Term::atom("io_reply"), reply_as.clone(), reply])).await;
        }
    })
}

/// The answer to one I/O request.
async fn answer_io(remote: &Remote<'_>, request: &Term, output: &Mutex<Vec<u8>>) -> Term {
    let write = |text: String| output.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(text.as_bytes());
    let latin1 = |encoding: &Term| encoding.is_atom("latin1");
    match request.as_tuple() {
        Some([put, encoding, chars]) if put.is_atom("put_chars") => write(chars_text(chars, latin1(encoding))),
        Some([put, chars]) if put.is_atom("put_chars") => write(chars_text(chars, true)),
        // `io:format`: the format is applied where its arguments make sense.
        // Without an encoding (the form sent to a group leader on another
        // node) it is Latin-1.
        Some([put, encoding, Term::Atom(m), Term::Atom(f), Term::List(args)]) if put.is_atom("put_chars") => {
            match remote.call(m.as_str(), f.as_str(), args.clone()).await {
                Ok(chars) => write(chars_text(&chars, latin1(encoding))),
                Err(_) => return error_reply("format"),
            }
        }
        Some([put, Term::Atom(m), Term::Atom(f), Term::List(args)]) if put.is_atom("put_chars") => {
            match remote.call(m.as_str(), f.as_str(), args.clone()).await {
                Ok(chars) => write(chars_text(&chars, true)),
                Err(_) => return error_reply("format"),
            }
        }
        Some([requests, Term::List(list)]) if requests.is_atom("requests") => {
            for each in list {
                let reply = Box::pin(answer_io(remote, each, output)).await;
                if !reply.is_atom("ok") {
                    return reply;
                }
            }
        }
        Some([get, ..]) if ["get_line", "get_chars", "get_until", "get_password"].iter().any(|g| get.is_atom(g)) => {
            return Term::atom("eof");
        }
        Some([setopts, _]) if setopts.is_atom("setopts") => {}
        _ if request.is_atom("getopts") => return Term::List(Vec::new()),
        _ => return error_reply("request"),
    }
    Term::atom("ok")
}

fn error_reply(why: &str) -> Term {
    Term::Tuple(vec![Term::atom("error"), Term::atom(why)])
}
