//! `beamlink eval NODE 'Expression.'`: evaluates an Erlang expression on a
//! node, as `erl_call -e` does, through the node's own `erl_scan`,
//! `erl_parse` and `erl_eval`; the call's group leader is a process here
//! that keeps what the expression prints, which `erl_call` drops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use beamlink::node::Node;
use beamlink::proto::NodeName;
use beamlink::term::Term;

use crate::group_leader::{self, Device, Input, Remote, charlist, chars_text};
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
        Some([error, info, _end]) if error.is_atom("error") => return Err(parse_error(&remote, info).await),
        _ => return Err(Failure::usage("erl_scan:string/1 gave an unexpected answer")),
    };
    let exprs = match remote.call("erl_parse", "parse_exprs", vec![tokens]).await?.as_tuple() {
        Some([ok, exprs]) if ok.is_atom("ok") => exprs.clone(),
        Some([error, info]) if error.is_atom("error") => return Err(parse_error(&remote, info).await),
        _ => return Err(Failure::usage("erl_parse:parse_exprs/1 gave an unexpected answer")),
    };
    let bindings = remote.call("erl_eval", "new_bindings", vec![]).await?;
    let output = Arc::new(Mutex::new(String::new()));
    let leader = group_leader::spawn(node, target.as_str(), timeout, Collected(output.clone()));
    let answer = node
        .rpc_call_with_group_leader(target.as_str(), ("erl_eval", "exprs", vec![exprs, bindings]), &leader, timeout)
        .await;
    let _ = node.process().send(&leader, Term::atom("stop")).await;
    let answer = answer.map_err(Failure::call)?;
    let output = std::mem::take(&mut *output.lock().unwrap_or_else(|p| p.into_inner()));
    match answer.as_tuple() {
        Some([tag, value, _bindings]) if tag.is_atom("value") => Ok(Evaluated { output, value: value.clone() }),
        _ => Err(group_leader::unexpected("erl_eval:exprs/2", &answer)),
    }
}

/// Collects what the evaluation writes; it has no input.
struct Collected(Arc<Mutex<String>>);

impl Device for Collected {
    fn write(&mut self, text: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push_str(text);
    }

    async fn read_line(&mut self, _prompt: &str) -> Input {
        Input::Eof
    }

    fn geometry(&self, _rows: bool) -> Option<u16> {
        None
    }
}

/// A scan or parse error (`{Location, Module, Descriptor}`), in the node's own words.
async fn parse_error(remote: &Remote<'_>, info: &Term) -> Failure {
    let text = match info.as_tuple() {
        Some([location, Term::Atom(module), descriptor]) => {
            match remote.call(module.as_str(), "format_error", vec![descriptor.clone()]).await {
                Ok(words) => format!("{}: {}", location_text(location), chars_text(&words, false)),
                Err(_) => info.to_string(),
            }
        }
        _ => info.to_string(),
    };
    Failure::usage(format!("cannot parse the expression: {text}"))
}

fn location_text(location: &Term) -> String {
    match location.as_tuple() {
        Some([line, column]) => format!("{line}:{column}"),
        _ => location.to_string(),
    }
}
