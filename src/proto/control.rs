//! Control messages: the first term of every connected-mode packet.
//!
//! See [the distribution protocol, "Protocol between connected nodes"](https://www.erlang.org/doc/apps/erts/erl_dist_protocol.html#protocol-between-connected-nodes).
//! Incoming messages are normalised: the old and new forms of an operation
//! (EXIT and PAYLOAD_EXIT, SEND and SEND_SENDER, the `*_TT` variants with a
//! trace token) decode to the same [`Control`] value, with the exit reason or
//! message in place. Outgoing messages pick the form the negotiated flags call
//! for.

use crate::proto::DistFlags;
use crate::term::{self, Atom, EncodeError, EncodeSink, Pid, Reference, Term, piecewise};

/// Operation codes.
#[allow(missing_docs)]
pub mod op {
    pub const LINK: i64 = 1;
    pub const SEND: i64 = 2;
    pub const EXIT: i64 = 3;
    pub const UNLINK: i64 = 4;
    pub const NODE_LINK: i64 = 5;
    pub const REG_SEND: i64 = 6;
    pub const GROUP_LEADER: i64 = 7;
    pub const EXIT2: i64 = 8;
    pub const SEND_TT: i64 = 12;
    pub const EXIT_TT: i64 = 13;
    pub const REG_SEND_TT: i64 = 16;
    pub const EXIT2_TT: i64 = 18;
    pub const MONITOR_P: i64 = 19;
    pub const DEMONITOR_P: i64 = 20;
    pub const MONITOR_P_EXIT: i64 = 21;
    pub const SEND_SENDER: i64 = 22;
    pub const SEND_SENDER_TT: i64 = 23;
    pub const PAYLOAD_EXIT: i64 = 24;
    pub const PAYLOAD_EXIT_TT: i64 = 25;
    pub const PAYLOAD_EXIT2: i64 = 26;
    pub const PAYLOAD_EXIT2_TT: i64 = 27;
    pub const PAYLOAD_MONITOR_P_EXIT: i64 = 28;
    pub const SPAWN_REQUEST: i64 = 29;
    pub const SPAWN_REQUEST_TT: i64 = 30;
    pub const SPAWN_REPLY: i64 = 31;
    pub const SPAWN_REPLY_TT: i64 = 32;
    pub const ALIAS_SEND: i64 = 33;
    pub const ALIAS_SEND_TT: i64 = 34;
    pub const UNLINK_ID: i64 = 35;
    pub const UNLINK_ID_ACK: i64 = 36;
}

/// A monitored process: by pid, or by registered name on the receiving node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProcessRef {
    /// A pid.
    Pid(Pid),
    /// A registered name.
    Name(Atom),
}

impl ProcessRef {
    fn from_term(t: Term) -> Option<ProcessRef> {
        match t {
            Term::Pid(p) => Some(ProcessRef::Pid(p)),
            Term::Atom(a) => Some(ProcessRef::Name(a)),
            _ => None,
        }
    }

    fn to_term(&self) -> Term {
        match self {
            ProcessRef::Pid(p) => Term::Pid(p.clone()),
            ProcessRef::Name(a) => Term::Atom(a.clone()),
        }
    }
}

/// One control message with its payload, normalised.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Link `from` and `to` (op 1).
    Link {
        /// The linking process.
        from: Pid,
        /// The process linked to.
        to: Pid,
    },
    /// Old-style unlink (op 4; gone in OTP 26).
    Unlink {
        /// The unlinking process.
        from: Pid,
        /// The process unlinked from.
        to: Pid,
    },
    /// Unlink with an id to acknowledge (op 35).
    UnlinkId {
        /// The unlink id (non-zero).
        id: u64,
        /// The unlinking process.
        from: Pid,
        /// The process unlinked from.
        to: Pid,
    },
    /// Acknowledges an [`Control::UnlinkId`] (op 36).
    UnlinkIdAck {
        /// The id being acknowledged.
        id: u64,
        /// The process that was unlinked (sender of the ack).
        from: Pid,
        /// The process that unlinked.
        to: Pid,
    },
    /// A message to a pid (ops 2, 12, 22, 23). `from` is absent in the old SEND form.
    Send {
        /// The sender, when known.
        from: Option<Pid>,
        /// The receiver.
        to: Pid,
        /// The message.
        message: Term,
    },
    /// A message to a registered name (ops 6, 16).
    RegSend {
        /// The sender.
        from: Pid,
        /// The name.
        to: Atom,
        /// The message.
        message: Term,
    },
    /// A message to a process alias (ops 33, 34).
    AliasSend {
        /// The sender.
        from: Pid,
        /// The alias.
        alias: Term,
        /// The message.
        message: Term,
    },
    /// A link broke because `from` exited (ops 3, 13, 24, 25).
    Exit {
        /// The exiting process.
        from: Pid,
        /// The linked process.
        to: Pid,
        /// The exit reason.
        reason: Term,
    },
    /// `exit(To, Reason)` sent by `from` (ops 8, 18, 26, 27).
    Exit2 {
        /// The sender.
        from: Pid,
        /// The target.
        to: Pid,
        /// The reason.
        reason: Term,
    },
    /// Set `to`'s group leader to `from` (op 7).
    GroupLeader {
        /// The new group leader.
        from: Pid,
        /// The process whose leader changes.
        to: Pid,
    },
    /// `from` starts monitoring `target` (op 19).
    MonitorP {
        /// The watcher.
        from: Pid,
        /// The watched process.
        target: ProcessRef,
        /// The monitor reference.
        reference: Reference,
    },
    /// `from` stops monitoring `target` (op 20).
    DemonitorP {
        /// The watcher.
        from: Pid,
        /// The watched process.
        target: ProcessRef,
        /// The monitor reference.
        reference: Reference,
    },
    /// A monitored process exited (ops 21, 28).
    MonitorPExit {
        /// The process that exited, as it was monitored (pid or name).
        target: ProcessRef,
        /// The watcher.
        watcher: Pid,
        /// The monitor reference.
        reference: Reference,
        /// The exit reason.
        reason: Term,
    },
    /// Spawn `module:function/arity` with `args` (ops 29, 30).
    SpawnRequest {
        /// The request id (also the monitor reference, when monitored).
        req_id: Reference,
        /// The requesting process.
        from: Pid,
        /// The group leader for the new process.
        group_leader: Pid,
        /// Module.
        module: Atom,
        /// Function.
        function: Atom,
        /// Arity.
        arity: u32,
        /// Spawn options (a list).
        opts: Term,
        /// The argument list.
        args: Term,
    },
    /// The result of a spawn request (ops 31, 32): a pid, or an error atom.
    SpawnReply {
        /// The request id.
        req_id: Reference,
        /// The requesting process.
        to: Pid,
        /// 1 = linked, 2 = monitored.
        flags: u32,
        /// The new pid, or an error atom.
        result: Term,
    },
    /// The obsolete NODE_LINK (op 5).
    NodeLink,
}

/// A control message that does not have the shape its operation requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Not a tuple with an integer operation code first.
    #[error("control message is not a tuple starting with an operation code: {0}")]
    NotATuple(String),
    /// An unknown operation code.
    #[error("unknown control operation {0}")]
    UnknownOp(i64),
    /// The right operation, the wrong shape.
    #[error("malformed {op} control message: {detail}")]
    Malformed {
        /// The operation's name.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A payload was required and absent, or present where none belongs.
    #[error("{op}: {detail}")]
    Payload {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: &'static str,
    },
}

fn malformed(op: &'static str, detail: impl Into<String>) -> ControlError {
    ControlError::Malformed { op, detail: detail.into() }
}

/// Takes the elements of a tuple apart with typed accessors and shape errors.
struct Fields {
    op: &'static str,
    items: std::vec::IntoIter<Term>,
}

impl Fields {
    fn next(&mut self, what: &str) -> Result<Term, ControlError> {
        self.items.next().ok_or_else(|| malformed(self.op, format!("missing {what}")))
    }

    fn pid(&mut self, what: &str) -> Result<Pid, ControlError> {
        match self.next(what)? {
            Term::Pid(p) => Ok(p),
            other => Err(malformed(self.op, format!("{what} is a {}, not a pid", other.kind_name()))),
        }
    }

    fn atom(&mut self, what: &str) -> Result<Atom, ControlError> {
        match self.next(what)? {
            Term::Atom(a) => Ok(a),
            other => Err(malformed(self.op, format!("{what} is a {}, not an atom", other.kind_name()))),
        }
    }

    fn reference(&mut self, what: &str) -> Result<Reference, ControlError> {
        match self.next(what)? {
            Term::Ref(r) => Ok(*r),
            other => Err(malformed(self.op, format!("{what} is a {}, not a reference", other.kind_name()))),
        }
    }

    fn process(&mut self, what: &str) -> Result<ProcessRef, ControlError> {
        let t = self.next(what)?;
        let kind = t.kind_name();
        ProcessRef::from_term(t).ok_or_else(|| malformed(self.op, format!("{what} is a {kind}, not a pid or name")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ControlError> {
        let t = self.next(what)?;
        t.as_u64().ok_or_else(|| malformed(self.op, format!("{what} is not a non-negative integer")))
    }

    fn done(mut self) -> Result<(), ControlError> {
        match self.items.next() {
            None => Ok(()),
            Some(_) => Err(malformed(self.op, "too many elements")),
        }
    }
}

fn need(op: &'static str, payload: Option<Term>) -> Result<Term, ControlError> {
    payload.ok_or(ControlError::Payload { op, detail: "the payload term is missing" })
}

fn none(op: &'static str, payload: Option<Term>) -> Result<(), ControlError> {
    match payload {
        None => Ok(()),
        Some(_) => Err(ControlError::Payload { op, detail: "unexpected payload term" }),
    }
}

impl Control {
    /// Decodes a control term and its optional payload term.
    pub fn decode(control: Term, payload: Option<Term>) -> Result<Control, ControlError> {
        let Term::Tuple(items) = control else {
            return Err(ControlError::NotATuple(control.bounded(80).to_string()));
        };
        let mut items = items.into_iter();
        let code = match items.next() {
            Some(Term::Int(c)) => c,
            _ => return Err(ControlError::NotATuple("first element is not an integer".into())),
        };
        let name = op_name(code).ok_or(ControlError::UnknownOp(code))?;
        let mut f = Fields { op: name, items };
        let msg = match code {
            op::LINK => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                f.done()?;
                none(name, payload)?;
                Control::Link { from, to }
            }
            op::UNLINK => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                f.done()?;
                none(name, payload)?;
                Control::Unlink { from, to }
            }
            op::UNLINK_ID | op::UNLINK_ID_ACK => {
                let id = f.u64("id")?;
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                f.done()?;
                none(name, payload)?;
                if id == 0 {
                    return Err(malformed(name, "id 0"));
                }
                if code == op::UNLINK_ID {
                    Control::UnlinkId { id, from, to }
                } else {
                    Control::UnlinkIdAck { id, from, to }
                }
            }
            op::SEND | op::SEND_TT => {
                let _cookie = f.next("cookie")?;
                let to = f.pid("to")?;
                if code == op::SEND_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                Control::Send { from: None, to, message: need(name, payload)? }
            }
            op::SEND_SENDER | op::SEND_SENDER_TT => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                if code == op::SEND_SENDER_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                Control::Send { from: Some(from), to, message: need(name, payload)? }
            }
            op::REG_SEND | op::REG_SEND_TT => {
                let from = f.pid("from")?;
                let _cookie = f.next("cookie")?;
                let to = f.atom("to")?;
                if code == op::REG_SEND_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                Control::RegSend { from, to, message: need(name, payload)? }
            }
            op::ALIAS_SEND | op::ALIAS_SEND_TT => {
                let from = f.pid("from")?;
                let alias = f.next("alias")?;
                if code == op::ALIAS_SEND_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                Control::AliasSend { from, alias, message: need(name, payload)? }
            }
            op::EXIT | op::EXIT_TT | op::EXIT2 | op::EXIT2_TT => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                if code == op::EXIT_TT || code == op::EXIT2_TT {
                    f.next("trace token")?;
                }
                let reason = f.next("reason")?;
                f.done()?;
                none(name, payload)?;
                if code == op::EXIT || code == op::EXIT_TT {
                    Control::Exit { from, to, reason }
                } else {
                    Control::Exit2 { from, to, reason }
                }
            }
            op::PAYLOAD_EXIT | op::PAYLOAD_EXIT_TT | op::PAYLOAD_EXIT2 | op::PAYLOAD_EXIT2_TT => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                if code == op::PAYLOAD_EXIT_TT || code == op::PAYLOAD_EXIT2_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                let reason = need(name, payload)?;
                if code == op::PAYLOAD_EXIT || code == op::PAYLOAD_EXIT_TT {
                    Control::Exit { from, to, reason }
                } else {
                    Control::Exit2 { from, to, reason }
                }
            }
            op::GROUP_LEADER => {
                let (from, to) = (f.pid("from")?, f.pid("to")?);
                f.done()?;
                none(name, payload)?;
                Control::GroupLeader { from, to }
            }
            op::MONITOR_P | op::DEMONITOR_P => {
                let from = f.pid("from")?;
                let target = f.process("target")?;
                let reference = f.reference("reference")?;
                f.done()?;
                none(name, payload)?;
                if code == op::MONITOR_P {
                    Control::MonitorP { from, target, reference }
                } else {
                    Control::DemonitorP { from, target, reference }
                }
            }
            op::MONITOR_P_EXIT => {
                let target = f.process("target")?;
                let watcher = f.pid("watcher")?;
                let reference = f.reference("reference")?;
                let reason = f.next("reason")?;
                f.done()?;
                none(name, payload)?;
                Control::MonitorPExit { target, watcher, reference, reason }
            }
            op::PAYLOAD_MONITOR_P_EXIT => {
                let target = f.process("target")?;
                let watcher = f.pid("watcher")?;
                let reference = f.reference("reference")?;
                f.done()?;
                Control::MonitorPExit { target, watcher, reference, reason: need(name, payload)? }
            }
            op::SPAWN_REQUEST | op::SPAWN_REQUEST_TT => {
                let req_id = f.reference("request id")?;
                let from = f.pid("from")?;
                let group_leader = f.pid("group leader")?;
                let mfa = f.next("{M, F, A}")?;
                let opts = f.next("options")?;
                if code == op::SPAWN_REQUEST_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                let (module, function, arity) = match mfa {
                    Term::Tuple(ref t) if t.len() == 3 => match (&t[0], &t[1], t[2].as_u64()) {
                        (Term::Atom(m), Term::Atom(fun), Some(a)) if a <= 255 => (m.clone(), fun.clone(), a as u32),
                        _ => return Err(malformed(name, "{M, F, A} has the wrong types")),
                    },
                    _ => return Err(malformed(name, "the function is not a {M, F, A} tuple")),
                };
                Control::SpawnRequest {
                    req_id,
                    from,
                    group_leader,
                    module,
                    function,
                    arity,
                    opts,
                    args: need(name, payload)?,
                }
            }
            op::SPAWN_REPLY | op::SPAWN_REPLY_TT => {
                let req_id = f.reference("request id")?;
                let to = f.pid("to")?;
                let flags = f.u64("flags")?;
                let result = f.next("result")?;
                if code == op::SPAWN_REPLY_TT {
                    f.next("trace token")?;
                }
                f.done()?;
                none(name, payload)?;
                if flags > u32::MAX as u64 {
                    return Err(malformed(name, "flags out of range"));
                }
                Control::SpawnReply { req_id, to, flags: flags as u32, result }
            }
            op::NODE_LINK => {
                f.done()?;
                none(name, payload)?;
                Control::NodeLink
            }
            _ => return Err(ControlError::UnknownOp(code)),
        };
        Ok(msg)
    }

    /// The control tuple's elements and the payload to send, in the form
    /// `flags` call for. Shared by [`Control::to_wire`] and
    /// [`Control::encode_into`], so the two cannot disagree.
    fn wire_parts(&self, flags: DistFlags) -> (Elems<'_>, Option<&Term>) {
        use Elem::*;
        let exit_payload = flags.contains(DistFlags::EXIT_PAYLOAD);
        let e = Elems::new;
        match self {
            Control::Link { from, to } => (e(&[Int(op::LINK), Pid(from), Pid(to)]), None),
            Control::Unlink { from, to } => (e(&[Int(op::UNLINK), Pid(from), Pid(to)]), None),
            Control::UnlinkId { id, from, to } => (e(&[Int(op::UNLINK_ID), U64(*id), Pid(from), Pid(to)]), None),
            Control::UnlinkIdAck { id, from, to } => (e(&[Int(op::UNLINK_ID_ACK), U64(*id), Pid(from), Pid(to)]), None),
            Control::Send { from: Some(from), to, message } if flags.contains(DistFlags::SEND_SENDER) => {
                (e(&[Int(op::SEND_SENDER), Pid(from), Pid(to)]), Some(message))
            }
            Control::Send { to, message, .. } => (e(&[Int(op::SEND), EmptyAtom, Pid(to)]), Some(message)),
            Control::RegSend { from, to, message } => {
                (e(&[Int(op::REG_SEND), Pid(from), EmptyAtom, Atom(to)]), Some(message))
            }
            Control::AliasSend { from, alias, message } => {
                (e(&[Int(op::ALIAS_SEND), Pid(from), Any(alias)]), Some(message))
            }
            Control::Exit { from, to, reason } if exit_payload => {
                (e(&[Int(op::PAYLOAD_EXIT), Pid(from), Pid(to)]), Some(reason))
            }
            Control::Exit { from, to, reason } => (e(&[Int(op::EXIT), Pid(from), Pid(to), Any(reason)]), None),
            Control::Exit2 { from, to, reason } if exit_payload => {
                (e(&[Int(op::PAYLOAD_EXIT2), Pid(from), Pid(to)]), Some(reason))
            }
            Control::Exit2 { from, to, reason } => (e(&[Int(op::EXIT2), Pid(from), Pid(to), Any(reason)]), None),
            Control::GroupLeader { from, to } => (e(&[Int(op::GROUP_LEADER), Pid(from), Pid(to)]), None),
            Control::MonitorP { from, target, reference } => {
                (e(&[Int(op::MONITOR_P), Pid(from), Process(target), Ref(reference)]), None)
            }
            Control::DemonitorP { from, target, reference } => {
                (e(&[Int(op::DEMONITOR_P), Pid(from), Process(target), Ref(reference)]), None)
            }
            Control::MonitorPExit { target, watcher, reference, reason } if exit_payload => {
                (e(&[Int(op::PAYLOAD_MONITOR_P_EXIT), Process(target), Pid(watcher), Ref(reference)]), Some(reason))
            }
            Control::MonitorPExit { target, watcher, reference, reason } => {
                (e(&[Int(op::MONITOR_P_EXIT), Process(target), Pid(watcher), Ref(reference), Any(reason)]), None)
            }
            Control::SpawnRequest { req_id, from, group_leader, module, function, arity, opts, args } => (
                e(&[
                    Int(op::SPAWN_REQUEST),
                    Ref(req_id),
                    Pid(from),
                    Pid(group_leader),
                    Mfa(module, function, *arity),
                    Any(opts),
                ]),
                Some(args),
            ),
            Control::SpawnReply { req_id, to, flags: f, result } => {
                (e(&[Int(op::SPAWN_REPLY), Ref(req_id), Pid(to), Int(i64::from(*f)), Any(result)]), None)
            }
            Control::NodeLink => (e(&[Int(op::NODE_LINK)]), None),
        }
    }

    /// The control term and payload to send, in the form `flags` call for.
    /// The payload is borrowed: messages are encoded without being copied.
    pub fn to_wire(&self, flags: DistFlags) -> (Term, Option<&Term>) {
        let (elems, payload) = self.wire_parts(flags);
        (Term::Tuple(elems.as_slice().iter().copied().map(Elem::to_term).collect()), payload)
    }

    /// Writes the control tuple to `sink` (with the `131` version byte when
    /// `versioned`), allocating nothing; returns the payload to write after it.
    pub fn encode_into<S: EncodeSink + ?Sized>(
        &self,
        flags: DistFlags,
        versioned: bool,
        sink: &mut S,
    ) -> Result<Option<&Term>, EncodeError> {
        let (elems, payload) = self.wire_parts(flags);
        if versioned {
            sink.put_u8(term::VERSION_MAGIC);
        }
        piecewise::tuple_header(elems.len, sink)?;
        for elem in elems.as_slice().iter().copied() {
            elem.encode(sink)?;
        }
        Ok(payload)
    }

    /// Whether a peer whose connection has `flags` understands this message.
    /// A monitor of a peer without `DIST_MONITOR` (or, by name, without
    /// `DIST_MONITOR_NAME`) is not sent: as erts does, the monitor stays on
    /// this side and fires only when the connection is lost. jinterface
    /// closes the connection on a monitor it does not support, and libei's
    /// receive fails on one.
    pub fn understood_with(&self, flags: DistFlags) -> bool {
        match self {
            Control::MonitorP { target, .. }
            | Control::DemonitorP { target, .. }
            | Control::MonitorPExit { target, .. } => match target {
                ProcessRef::Pid(_) => flags.contains(DistFlags::DIST_MONITOR),
                ProcessRef::Name(_) => flags.contains(DistFlags::DIST_MONITOR | DistFlags::DIST_MONITOR_NAME),
            },
            _ => true,
        }
    }

    /// The process whose messages and signals this control message must stay
    /// in order with (the sender), if any.
    pub fn sender(&self) -> Option<&Pid> {
        match self {
            Control::Link { from, .. }
            | Control::Unlink { from, .. }
            | Control::UnlinkId { from, .. }
            | Control::UnlinkIdAck { from, .. }
            | Control::RegSend { from, .. }
            | Control::AliasSend { from, .. }
            | Control::Exit { from, .. }
            | Control::Exit2 { from, .. }
            | Control::GroupLeader { from, .. }
            | Control::MonitorP { from, .. }
            | Control::DemonitorP { from, .. }
            | Control::SpawnRequest { from, .. } => Some(from),
            Control::Send { from, .. } => from.as_ref(),
            Control::MonitorPExit { target: ProcessRef::Pid(p), .. } => Some(p),
            Control::MonitorPExit { .. } | Control::SpawnReply { .. } | Control::NodeLink => None,
        }
    }
}

/// One element of a control tuple, borrowed from the control message.
#[derive(Clone, Copy)]
enum Elem<'a> {
    Int(i64),
    U64(u64),
    Pid(&'a Pid),
    Atom(&'a Atom),
    EmptyAtom,
    Ref(&'a Reference),
    Process(&'a ProcessRef),
    Mfa(&'a Atom, &'a Atom, u32),
    Any(&'a Term),
}

impl Elem<'_> {
    fn to_term(self) -> Term {
        match self {
            Elem::Int(i) => Term::Int(i),
            Elem::U64(u) => Term::from(u),
            Elem::Pid(p) => Term::Pid(p.clone()),
            Elem::Atom(a) => Term::Atom(a.clone()),
            Elem::EmptyAtom => Term::Atom(Atom::new("")),
            Elem::Ref(r) => Term::Ref(Box::new(r.clone())),
            Elem::Process(p) => p.to_term(),
            Elem::Mfa(m, f, a) => Term::Tuple(vec![Term::Atom(m.clone()), Term::Atom(f.clone()), Term::from(a)]),
            Elem::Any(t) => t.clone(),
        }
    }

    fn encode<S: EncodeSink + ?Sized>(self, s: &mut S) -> Result<(), EncodeError> {
        match self {
            Elem::Int(i) => piecewise::int(i, s),
            Elem::U64(u) => match i64::try_from(u) {
                Ok(i) => piecewise::int(i, s),
                Err(_) => term::encode_bare_into(&Term::from(u), s)?,
            },
            Elem::Pid(p) => piecewise::pid(p, s),
            Elem::Atom(a) => piecewise::atom(a, s),
            Elem::EmptyAtom => s.put_slice(&[119, 0]),
            Elem::Ref(r) => piecewise::reference(r, s),
            Elem::Process(ProcessRef::Pid(p)) => piecewise::pid(p, s),
            Elem::Process(ProcessRef::Name(a)) => piecewise::atom(a, s),
            Elem::Mfa(m, f, a) => {
                piecewise::tuple_header(3, s)?;
                piecewise::atom(m, s);
                piecewise::atom(f, s);
                piecewise::int(i64::from(a), s);
            }
            Elem::Any(t) => term::encode_bare_into(t, s)?,
        }
        Ok(())
    }
}

/// The elements of one control tuple (at most 6), without allocating.
struct Elems<'a> {
    items: [Elem<'a>; 6],
    len: usize,
}

impl<'a> Elems<'a> {
    fn new(elems: &[Elem<'a>]) -> Elems<'a> {
        let mut items = [Elem::Int(0); 6];
        items[..elems.len()].copy_from_slice(elems);
        Elems { items, len: elems.len() }
    }

    fn as_slice(&self) -> &[Elem<'a>] {
        &self.items[..self.len]
    }
}

/// The OTP name of an operation code, if it is one.
pub fn op_name(code: i64) -> Option<&'static str> {
    Some(match code {
        op::LINK => "LINK",
        op::SEND => "SEND",
        op::EXIT => "EXIT",
        op::UNLINK => "UNLINK",
        op::NODE_LINK => "NODE_LINK",
        op::REG_SEND => "REG_SEND",
        op::GROUP_LEADER => "GROUP_LEADER",
        op::EXIT2 => "EXIT2",
        op::SEND_TT => "SEND_TT",
        op::EXIT_TT => "EXIT_TT",
        op::REG_SEND_TT => "REG_SEND_TT",
        op::EXIT2_TT => "EXIT2_TT",
        op::MONITOR_P => "MONITOR_P",
        op::DEMONITOR_P => "DEMONITOR_P",
        op::MONITOR_P_EXIT => "MONITOR_P_EXIT",
        op::SEND_SENDER => "SEND_SENDER",
        op::SEND_SENDER_TT => "SEND_SENDER_TT",
        op::PAYLOAD_EXIT => "PAYLOAD_EXIT",
        op::PAYLOAD_EXIT_TT => "PAYLOAD_EXIT_TT",
        op::PAYLOAD_EXIT2 => "PAYLOAD_EXIT2",
        op::PAYLOAD_EXIT2_TT => "PAYLOAD_EXIT2_TT",
        op::PAYLOAD_MONITOR_P_EXIT => "PAYLOAD_MONITOR_P_EXIT",
        op::SPAWN_REQUEST => "SPAWN_REQUEST",
        op::SPAWN_REQUEST_TT => "SPAWN_REQUEST_TT",
        op::SPAWN_REPLY => "SPAWN_REPLY",
        op::SPAWN_REPLY_TT => "SPAWN_REPLY_TT",
        op::ALIAS_SEND => "ALIAS_SEND",
        op::ALIAS_SEND_TT => "ALIAS_SEND_TT",
        op::UNLINK_ID => "UNLINK_ID",
        op::UNLINK_ID_ACK => "UNLINK_ID_ACK",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u32) -> Pid {
        Pid::new(Atom::new("a@h"), n, 1, 7)
    }

    fn reference() -> Reference {
        Reference::new(Atom::new("b@h"), 9, &[1, 2, 3]).unwrap()
    }

    fn every_op() -> Vec<Control> {
        let r = Term::atom("why");
        vec![
            Control::Link { from: pid(1), to: pid(2) },
            Control::Unlink { from: pid(1), to: pid(2) },
            Control::UnlinkId { id: u64::MAX, from: pid(1), to: pid(2) },
            Control::UnlinkIdAck { id: 5, from: pid(1), to: pid(2) },
            Control::Send { from: Some(pid(1)), to: pid(2), message: Term::from(1) },
            Control::Send { from: None, to: pid(2), message: Term::from(1) },
            Control::RegSend { from: pid(1), to: Atom::new("rex"), message: Term::nil() },
            Control::AliasSend { from: pid(1), alias: Term::Ref(Box::new(reference())), message: Term::nil() },
            Control::Exit { from: pid(1), to: pid(2), reason: r.clone() },
            Control::Exit2 { from: pid(1), to: pid(2), reason: r.clone() },
            Control::GroupLeader { from: pid(1), to: pid(2) },
            Control::MonitorP { from: pid(1), target: ProcessRef::Name(Atom::new("n")), reference: reference() },
            Control::DemonitorP { from: pid(1), target: ProcessRef::Pid(pid(3)), reference: reference() },
            Control::MonitorPExit {
                target: ProcessRef::Pid(pid(3)),
                watcher: pid(1),
                reference: reference(),
                reason: r,
            },
            Control::SpawnRequest {
                req_id: reference(),
                from: pid(1),
                group_leader: pid(2),
                module: Atom::new("erpc"),
                function: Atom::new("execute_call"),
                arity: 4,
                opts: Term::list(vec![Term::atom("monitor")]),
                args: Term::nil(),
            },
            Control::SpawnReply { req_id: reference(), to: pid(1), flags: 2, result: Term::Pid(pid(4)) },
            Control::NodeLink,
        ]
    }

    #[test]
    fn direct_encoding_equals_encoding_the_term_and_decodes_back() {
        for flags in [DistFlags::DEFAULT, DistFlags::MANDATORY] {
            for c in every_op() {
                let (t, payload) = c.to_wire(flags);
                let mut direct = Vec::new();
                let p2 = c.encode_into(flags, true, &mut direct).unwrap();
                assert_eq!(direct, term::encode(&t).unwrap(), "{c:?}");
                assert_eq!(payload, p2);
                let mut bare = Vec::new();
                c.encode_into(flags, false, &mut bare).unwrap();
                assert_eq!(&bare[..], &direct[1..]);
                let back = Control::decode(t, payload.cloned()).unwrap();
                let expected = match &c {
                    // The old SEND form carries no sender.
                    Control::Send { to, message, .. } if !flags.contains(DistFlags::SEND_SENDER) => {
                        Control::Send { from: None, to: to.clone(), message: message.clone() }
                    }
                    other => other.clone(),
                };
                assert_eq!(back, expected, "round trip with {flags:?}");
            }
        }
    }

    #[test]
    fn old_and_new_forms_decode_alike() {
        let exit = Control::Exit { from: pid(1), to: pid(2), reason: Term::atom("r") };
        let (old, none) = exit.to_wire(DistFlags::MANDATORY);
        assert!(none.is_none());
        let (new, payload) = exit.to_wire(DistFlags::DEFAULT);
        assert_eq!(Control::decode(old, None).unwrap(), Control::decode(new, payload.cloned()).unwrap());
    }

    #[test]
    fn malformed_controls_are_refused() {
        let cases = vec![
            (Term::atom("x"), None),
            (Term::Tuple(vec![]), None),
            (Term::Tuple(vec![Term::from(99)]), None),
            (Term::Tuple(vec![Term::from(op::LINK), Term::Pid(pid(1))]), None),
            (Term::Tuple(vec![Term::from(op::LINK), Term::Pid(pid(1)), Term::atom("notapid")]), None),
            (Term::Tuple(vec![Term::from(op::SEND_SENDER), Term::Pid(pid(1)), Term::Pid(pid(2))]), None),
            (Term::Tuple(vec![Term::from(op::LINK), Term::Pid(pid(1)), Term::Pid(pid(2))]), Some(Term::nil())),
            (Term::Tuple(vec![Term::from(op::UNLINK_ID), Term::from(0), Term::Pid(pid(1)), Term::Pid(pid(2))]), None),
        ];
        for (t, p) in cases {
            assert!(Control::decode(t.clone(), p).is_err(), "{t}");
        }
    }
}
