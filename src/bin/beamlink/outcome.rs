//! How a one-shot command ends: its exit code, and what it prints for people
//! (`--format text`) or for scripts (`--format json`, one object per result).

use std::process::ExitCode;

use beamlink::node::{CallError, ConnectError, ConnectFailure, SendError};
use beamlink::term::Term;
use clap::ValueEnum;

/// The exit codes of `ping`, `rpc`, `send` and `eval`, as their `--help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the node was reached and the call failed there: badrpc, an exception, no such process, no answer within --timeout
  2  usage: bad arguments, or files (cookie, certificates, optfile) that cannot be used
  3  no connection: no EPMD on the host (one-shot commands never start one), the node is not registered, the port refused, the cookies differ, TLS or identity refused, a timeout while connecting, or the connection dropped before the answer";

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: the value on stdout, errors on stderr.
    #[default]
    Text,
    /// For scripts: one JSON object per result on stdout.
    Json,
}

/// The class of a failure, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Remote,
    Usage,
    NoConnection,
}

impl Class {
    fn code(self) -> u8 {
        match self {
            Class::Remote => 1,
            Class::Usage => 2,
            Class::NoConnection => 3,
        }
    }
}

/// A failed one-shot command: its class, a short machine-readable reason
/// (`cookie`, `not_registered`, `badrpc`, ...), the message, and the term
/// the node answered with, if any.
#[derive(Debug)]
pub struct Failure {
    class: Class,
    reason: &'static str,
    message: String,
    value: Option<Term>,
}

impl Failure {
    /// Bad arguments or unusable local files (exit 2).
    pub fn usage(message: impl std::fmt::Display) -> Failure {
        Failure { class: Class::Usage, reason: "usage", message: message.to_string(), value: None }
    }

    /// A connection that could not be set up (exit 3).
    pub fn connect(e: &ConnectError) -> Failure {
        let kind = e.kind();
        let mut message = e.to_string();
        if kind == ConnectFailure::NoEpmd {
            message.push_str(
                "; no EPMD answers on that host and port: is the node running, and is ERL_EPMD_PORT the same \
                 as its? (one-shot commands never start an EPMD)",
            );
        }
        Failure { class: Class::NoConnection, reason: kind.as_str(), message, value: None }
    }

    /// A failed call, classified by its cause.
    pub fn call(e: CallError) -> Failure {
        let remote = |reason, message: String| Failure { class: Class::Remote, reason, message, value: None };
        match e {
            CallError::Connect(e) => Failure::connect(&e),
            CallError::NoConnection { .. } | CallError::Send(SendError::NoConnection { .. }) => Failure {
                class: Class::NoConnection,
                reason: "noconnection",
                message: format!("{e}: the connection dropped before the answer"),
                value: None,
            },
            CallError::BadRpc(reason) => Failure {
                class: Class::Remote,
                reason: "badrpc",
                message: format!("badrpc: {reason}"),
                value: Some(Term::Tuple(vec![Term::atom("badrpc"), reason])),
            },
            CallError::Timeout(_) => remote("no_reply", e.to_string()),
            CallError::NoProc(_) => remote("noproc", e.to_string()),
            CallError::Exit(_) => remote("exit", e.to_string()),
            CallError::Unexpected(_) => remote("unexpected", e.to_string()),
            CallError::Send(SendError::TooLarge { .. }) => Failure::usage(e),
            _ => remote("error", e.to_string()),
        }
    }

    /// Adds `hint` to the message when the peer turned this node away in the handshake.
    pub fn explain_refusal(mut self, hint: Option<&str>) -> Failure {
        if let Some(hint) = hint
            && self.reason == ConnectFailure::Refused.as_str()
        {
            self.message.push_str("; ");
            self.message.push_str(hint);
        }
        self
    }

    /// The exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.class.code())
    }
}

/// What a one-shot command that succeeded prints.
#[derive(Debug, Default)]
pub struct Printed {
    /// What the remote side wrote to its group leader (`eval`), printed first.
    pub output: Option<String>,
    /// The value (`pong`, a term); `send` has none.
    pub value: Option<String>,
    /// The value as JSON, when it has a shape of its own (`status`).
    pub structured: Option<serde_json::Value>,
}

impl Printed {
    /// A result that is one value.
    pub fn value(value: impl Into<String>) -> Printed {
        Printed { value: Some(value.into()), ..Printed::default() }
    }
}

/// Prints what a one-shot command produced, in `format`, and gives its exit code.
pub struct Report<'a> {
    /// The command (`ping`, `rpc`, `send`).
    pub command: &'static str,
    /// The node dialled, as given.
    pub node: &'a str,
    /// The output format.
    pub format: Format,
    /// Printed on stdout in text mode when the command fails (`pang` for ping).
    pub on_failure: Option<&'static str>,
}

impl Report<'_> {
    /// Prints the result and returns the exit code.
    pub fn finish(&self, result: Result<Printed, Failure>) -> ExitCode {
        match self.format {
            Format::Text => self.text(result),
            Format::Json => self.json(result),
        }
    }

    fn text(&self, result: Result<Printed, Failure>) -> ExitCode {
        match result {
            Ok(printed) => {
                if let Some(output) = printed.output {
                    print!("{output}");
                }
                if let Some(value) = printed.value {
                    println!("{value}");
                }
                ExitCode::SUCCESS
            }
            Err(failure) => {
                if let Some(line) = self.on_failure
                    && failure.class != Class::Usage
                {
                    println!("{line}");
                }
                match (&failure.value, failure.class) {
                    // The node's own answer is the result: print it as erl_call does.
                    (Some(value), _) => println!("{value}"),
                    (None, Class::Usage) => eprintln!("error: {}", failure.message),
                    (None, _) if failure.message.contains(self.node) => eprintln!("error: {}", failure.message),
                    (None, _) => eprintln!("error: {}: {}", self.node, failure.message),
                }
                failure.exit_code()
            }
        }
    }

    fn json(&self, result: Result<Printed, Failure>) -> ExitCode {
        let mut object = serde_json::Map::new();
        object.insert("command".into(), self.command.into());
        object.insert("node".into(), self.node.into());
        let code = match result {
            Ok(printed) => {
                object.insert("ok".into(), true.into());
                object.insert("exit_code".into(), 0.into());
                if let Some(output) = printed.output {
                    object.insert("output".into(), output.into());
                }
                if let Some(value) = printed.structured {
                    object.insert("value".into(), value);
                } else if let Some(value) = printed.value {
                    object.insert("value".into(), value.into());
                }
                ExitCode::SUCCESS
            }
            Err(failure) => {
                object.insert("ok".into(), false.into());
                object.insert("exit_code".into(), failure.class.code().into());
                object.insert("reason".into(), failure.reason.into());
                object.insert("error".into(), failure.message.clone().into());
                if let Some(value) = &failure.value {
                    object.insert("value".into(), value.to_string().into());
                }
                failure.exit_code()
            }
        };
        println!("{}", serde_json::Value::Object(object));
        code
    }
}

/// A term as JSON: maps as objects (keys as text), lists and tuples as
/// arrays, integers as numbers, binaries and atoms as strings, the rest in
/// Erlang syntax.
pub fn json_value(term: &Term) -> serde_json::Value {
    use serde_json::Value;
    match term {
        Term::Int(n) => Value::from(*n),
        Term::Float(f) => Value::from(*f),
        Term::Atom(atom) => Value::from(atom.as_str()),
        Term::Binary(bytes) => Value::from(String::from_utf8_lossy(bytes).into_owned()),
        // A printable charlist is a string, as erl prints it.
        Term::List(items) if !items.is_empty() && items.iter().all(is_printable) => Value::from(
            items.iter().filter_map(|c| c.as_i64().and_then(|c| char::from_u32(c as u32))).collect::<String>(),
        ),
        Term::List(items) | Term::Tuple(items) => Value::Array(items.iter().map(json_value).collect()),
        Term::Map(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Term::Atom(a) => a.as_str().to_string(),
                        Term::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                        other => other.to_string(),
                    };
                    (key, json_value(v))
                })
                .collect(),
        ),
        other => Value::from(other.to_string()),
    }
}

fn is_printable(term: &Term) -> bool {
    matches!(term, Term::Int(c) if (32..127).contains(c) || *c == 10 || *c == 9)
}
