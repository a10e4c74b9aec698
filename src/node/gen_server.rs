//! gen_server call and reply conventions (`'$gen_call'`), both directions.

use crate::term::{Pid, Reference, Term};

/// Where a gen_server reply goes: the caller's pid and its tag (a reference,
/// or `[alias | Ref]` from OTP 24+ callers).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyTo {
    /// The caller.
    pub pid: Pid,
    /// The tag to put first in the reply tuple.
    pub tag: Term,
}

/// A gen_server call taken apart: `{'$gen_call', {From, Tag}, Request}`.
#[derive(Clone, Debug, PartialEq)]
pub struct GenCall {
    /// Where to reply.
    pub from: ReplyTo,
    /// The request.
    pub request: Term,
}

impl GenCall {
    /// Recognises a gen_server call message.
    pub fn parse(msg: &Term) -> Option<GenCall> {
        parse_labelled("$gen_call", msg)
    }
}

/// Recognises a `sys` request, `{system, {From, Tag}, Request}`, as a call
/// whose request is the `sys` request.
#[cfg(feature = "serde")]
pub(crate) fn parse_system(msg: &Term) -> Option<GenCall> {
    parse_labelled("system", msg)
}

/// `{Label, {From, Tag}, Request}` taken apart.
fn parse_labelled(label: &str, msg: &Term) -> Option<GenCall> {
    match msg.as_tuple()? {
        [tag, from, request] if tag.is_atom(label) => match from.as_tuple()? {
            [Term::Pid(pid), t] => {
                Some(GenCall { from: ReplyTo { pid: pid.clone(), tag: t.clone() }, request: request.clone() })
            }
            _ => None,
        },
        _ => None,
    }
}

/// Recognises a gen_server cast: `{'$gen_cast', Msg}`.
pub fn parse_cast(msg: &Term) -> Option<&Term> {
    match msg.as_tuple()? {
        [tag, m] if tag.is_atom("$gen_cast") => Some(m),
        _ => None,
    }
}

/// The call message `{Label, {From, Ref}, Request}`: `'$gen_call'` for
/// gen_server calls, `system` for `sys` requests.
pub(crate) fn call_message(label: &str, from: &Pid, tag: &Reference, request: Term) -> Term {
    Term::Tuple(vec![
        Term::atom(label),
        Term::Tuple(vec![Term::Pid(from.clone()), Term::Ref(Box::new(tag.clone()))]),
        request,
    ])
}

/// The alias in an OTP 24+ reply tag: `[alias | Ref]`, or `[[alias | Ref] | _]`.
pub(crate) fn alias_of(tag: &Term) -> Option<Term> {
    match tag {
        Term::ImproperList(head, tail) if head.len() == 1 && head[0].is_atom("alias") => match &**tail {
            r @ Term::Ref(_) => Some(r.clone()),
            _ => None,
        },
        Term::ImproperList(head, _) | Term::List(head) if !head.is_empty() => alias_of(&head[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, Reference};

    fn r() -> Term {
        Term::Ref(Box::new(Reference::new(Atom::new("a@b"), 1, &[1, 2, 3]).unwrap()))
    }

    #[test]
    fn recognises_alias_tags() {
        let tag = Term::improper(vec![Term::atom("alias")], r());
        assert_eq!(alias_of(&tag), Some(r()));
        let nested = Term::improper(vec![tag.clone()], Term::atom("x"));
        assert_eq!(alias_of(&nested), Some(r()));
        assert_eq!(alias_of(&r()), None);
    }

    #[test]
    fn parses_calls() {
        let pid = Pid::new(Atom::new("a@b"), 1, 0, 1);
        let msg = Term::Tuple(vec![
            Term::atom("$gen_call"),
            Term::Tuple(vec![Term::Pid(pid.clone()), r()]),
            Term::atom("ping"),
        ]);
        let call = GenCall::parse(&msg).unwrap();
        assert_eq!(call.from.pid, pid);
        assert!(call.request.is_atom("ping"));
        assert!(GenCall::parse(&Term::atom("x")).is_none());
    }
}
