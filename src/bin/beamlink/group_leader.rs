//! A group leader on the beamlink side for processes on an erl node: it
//! answers the Erlang I/O protocol (`put_chars`, `get_line`, `get_chars`,
//! `get_until`, `get_geometry`, `setopts`, `getopts`, `requests`) against
//! a [`Device`] — a buffer for `eval`, the terminal for `remsh`. What needs
//! Erlang code (`io_lib:format` for `io:format`, `erl_scan:tokens` for the
//! shell's reads) runs on the erl node, through `rpc`, as OTP's `group`
//! applies it in the group leader's process.

use std::time::Duration;

use beamlink::node::{CallError, Node};
use beamlink::term::{Pid, Term};

use crate::outcome::Failure;

/// One read from a device.
pub enum Input {
    /// A line, without its newline.
    Line(String),
    /// The end of input.
    Eof,
    /// The user interrupted the read (Ctrl-C): what was typed is dropped.
    Interrupted,
}

/// Where a group leader's output goes and its input comes from.
pub trait Device: Send + 'static {
    /// Writes `text` as it is.
    fn write(&mut self, text: &str);
    /// Reads a line, showing `prompt`.
    fn read_line(&mut self, prompt: &str) -> impl std::future::Future<Output = Input> + Send;
    /// The width (`columns`) or height (`rows`) of the device, if it has one.
    fn geometry(&self, rows: bool) -> Option<u16>;
}

/// rpc calls to the node the group leader serves.
pub struct Remote<'a> {
    /// This node.
    pub node: &'a Node,
    /// The erl node.
    pub target: &'a str,
    /// The bound on each call.
    pub timeout: Duration,
}

impl Remote<'_> {
    /// `Module:Function(Args)` on the erl node.
    pub async fn call(&self, module: &str, function: &str, args: Vec<Term>) -> Result<Term, Failure> {
        self.node.rpc_call(self.target, module, function, args, self.timeout).await.map_err(Failure::call)
    }
}

/// A string as an Erlang charlist.
pub fn charlist(text: &str) -> Term {
    Term::List(text.chars().map(|c| Term::Int(i64::from(u32::from(c)))).collect())
}

/// The text of chardata (an iolist, a charlist, binaries); binaries are
/// UTF-8, or Latin-1 when `latin1`.
pub fn chars_text(chars: &Term, latin1: bool) -> String {
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

/// Starts the group leader on `node`; it serves until it is sent `stop`.
pub fn spawn(node: &Node, target: &str, timeout: Duration, device: impl Device) -> Pid {
    let target = target.to_string();
    node.spawn(move |mut p| async move {
        let mut leader = Leader { device, pending: String::new(), binary: false };
        while let Ok(msg) = p.recv().await {
            if msg.is_atom("stop") {
                break;
            }
            let Some([tag, Term::Pid(from), reply_as, request]) = msg.as_tuple() else { continue };
            if !tag.is_atom("io_request") {
                continue;
            }
            let remote = Remote { node: p.node(), target: &target, timeout };
            let reply = leader.answer(&remote, request).await;
            tracing::debug!(request = %request.bounded(300), reply = %reply.bounded(300), "I/O request");
            let _ = p.send(from, Term::Tuple(vec![Term::atom("io_reply"), reply_as.clone(), reply])).await;
        }
    })
}

struct Leader<D> {
    device: D,
    /// Input read but not consumed by the last `get_until`.
    pending: String,
    /// Whether reads answer binaries (`setopts([binary])`) or charlists.
    binary: bool,
}

impl<D: Device> Leader<D> {
    /// The answer to one I/O request.
    async fn answer(&mut self, remote: &Remote<'_>, request: &Term) -> Term {
        let latin1 = |encoding: &Term| encoding.is_atom("latin1");
        let Some(items) = request.as_tuple() else {
            return if request.is_atom("getopts") { self.options() } else { error_reply("request") };
        };
        match items {
            [put, encoding, chars] if put.is_atom("put_chars") => {
                self.device.write(&chars_text(chars, latin1(encoding)))
            }
            [put, chars] if put.is_atom("put_chars") => self.device.write(&chars_text(chars, true)),
            // `io:format`: the format is applied where its arguments make
            // sense. Without an encoding (the form sent to a group leader on
            // another node) it is Latin-1.
            [put, encoding, Term::Atom(m), Term::Atom(f), Term::List(args)] if put.is_atom("put_chars") => {
                match remote.call(m.as_str(), f.as_str(), args.clone()).await {
                    Ok(chars) => self.device.write(&chars_text(&chars, latin1(encoding))),
                    Err(_) => return error_reply("format"),
                }
            }
            [put, Term::Atom(m), Term::Atom(f), Term::List(args)] if put.is_atom("put_chars") => {
                match remote.call(m.as_str(), f.as_str(), args.clone()).await {
                    Ok(chars) => self.device.write(&chars_text(&chars, true)),
                    Err(_) => return error_reply("format"),
                }
            }
            [get, _encoding, prompt, Term::Atom(m), Term::Atom(f), Term::List(extra)] if get.is_atom("get_until") => {
                return self.get_until(remote, prompt, (m.as_str(), f.as_str()), extra).await;
            }
            // Without an encoding: the form sent to a group leader on another node.
            [get, prompt, Term::Atom(m), Term::Atom(f), Term::List(extra)] if get.is_atom("get_until") => {
                return self.get_until(remote, prompt, (m.as_str(), f.as_str()), extra).await;
            }
            [get, prompt, _count] if get.is_atom("get_chars") => return self.get_line(remote, prompt).await,
            [get, _encoding, prompt] if get.is_atom("get_line") => return self.get_line(remote, prompt).await,
            [get, prompt] if get.is_atom("get_line") => return self.get_line(remote, prompt).await,
            [get, _encoding, prompt, _count] if get.is_atom("get_chars") => return self.get_line(remote, prompt).await,
            [get, what] if get.is_atom("get_geometry") => {
                return match self.device.geometry(what.is_atom("rows")) {
                    Some(n) => Term::Int(i64::from(n)),
                    None => error_reply("enotsup"),
                };
            }
            [setopts, Term::List(options)] if setopts.is_atom("setopts") => {
                for option in options {
                    if option.is_atom("binary") {
                        self.binary = true;
                    } else if option.is_atom("list") {
                        self.binary = false;
                    } else if let Some([key, value]) = option.as_tuple()
                        && key.is_atom("binary")
                    {
                        self.binary = value.is_atom("true");
                    }
                }
            }
            [requests, Term::List(list)] if requests.is_atom("requests") => {
                for each in list {
                    let reply = Box::pin(self.answer(remote, each)).await;
                    if !reply.is_atom("ok") {
                        return reply;
                    }
                }
            }
            _ => return error_reply("request"),
        }
        Term::atom("ok")
    }

    fn options(&self) -> Term {
        let option = |key: &str, value: Term| Term::Tuple(vec![Term::atom(key), value]);
        Term::List(vec![
            option("binary", Term::atom(if self.binary { "true" } else { "false" })),
            option("encoding", Term::atom("unicode")),
            option("echo", Term::atom("true")),
        ])
    }

    /// Input as the reader wants it: a binary or a charlist.
    fn data(&self, text: &str) -> Term {
        if self.binary { Term::binary(text.as_bytes().to_vec()) } else { charlist(text) }
    }

    /// A prompt as text: chardata, or `{format, Format, Args}` formatted on the erl node.
    async fn prompt_text(remote: &Remote<'_>, prompt: &Term) -> String {
        match prompt.as_tuple() {
            Some([tag, format, args]) if tag.is_atom("format") => {
                match remote.call("io_lib", "format", vec![format.clone(), args.clone()]).await {
                    Ok(chars) => chars_text(&chars, false),
                    Err(_) => String::new(),
                }
            }
            _ => chars_text(prompt, false),
        }
    }

    async fn get_line(&mut self, remote: &Remote<'_>, prompt: &Term) -> Term {
        if let Some(at) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=at).collect();
            return self.data(&line);
        }
        let prompt = Self::prompt_text(remote, prompt).await;
        match self.device.read_line(&prompt).await {
            Input::Line(line) => {
                let line = std::mem::take(&mut self.pending) + &line + "\n";
                self.data(&line)
            }
            Input::Eof => Term::atom("eof"),
            Input::Interrupted => Term::Tuple(vec![Term::atom("error"), Term::atom("interrupted")]),
        }
    }

    /// `get_until`: lines go to `Module:Function(Continuation, Data, Extra...)`
    /// on the erl node until it is done, as the io protocol specifies.
    async fn get_until(&mut self, remote: &Remote<'_>, prompt: &Term, (m, f): (&str, &str), extra: &[Term]) -> Term {
        let prompt = Self::prompt_text(remote, prompt).await;
        let mut continuation = Term::List(Vec::new());
        let mut first = true;
        loop {
            let data = if !self.pending.is_empty() {
                let text = std::mem::take(&mut self.pending);
                self.data(&text)
            } else {
                match self.device.read_line(if first { &prompt } else { "" }).await {
                    Input::Line(line) => self.data(&(line + "\n")),
                    Input::Eof => Term::atom("eof"),
                    Input::Interrupted => {
                        // What was typed so far is dropped; the read starts over.
                        continuation = Term::List(Vec::new());
                        first = true;
                        continue;
                    }
                }
            };
            first = false;
            let at_eof = data.is_atom("eof");
            let mut args = vec![continuation.clone(), data];
            args.extend_from_slice(extra);
            let answer = match remote.call(m, f, args).await {
                Ok(answer) => answer,
                Err(_) => return error_reply("get_until"),
            };
            match answer.as_tuple() {
                Some([done, result, rest]) if done.is_atom("done") => {
                    self.pending = if rest.is_atom("eof") { String::new() } else { chars_text(rest, false) };
                    return result.clone();
                }
                Some([more, next]) if more.is_atom("more") && !at_eof => continuation = next.clone(),
                _ => return Term::atom("eof"),
            }
        }
    }
}

fn error_reply(why: &str) -> Term {
    Term::Tuple(vec![Term::atom("error"), Term::atom(why)])
}

/// The error an unexpected answer from the erl node makes.
pub fn unexpected(what: &str, answer: &Term) -> Failure {
    Failure::call(CallError::Unexpected(format!("{what} answered {}", answer.bounded(200))))
}
