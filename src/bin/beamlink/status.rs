//! `beamlink status [NODE]`: a node's connections. A beamlink node answers
//! `beamlink:status/0` (`Node::status`): per connection the peer, identity,
//! transport, TLS session, flags, since when, bytes, messages and ticks each
//! way and queue depth, and its failed set-ups by kind. An erl node is
//! asked `net_kernel:nodes_info/0`, whose `in` and `out` are what
//! `erlang:dist_get_stat/1` counts (packets each way).

use std::time::{Duration, UNIX_EPOCH};

use beamlink::node::{CallError, Node};
use beamlink::proto::NodeName;
use beamlink::term::Term;

use crate::outcome::{Failure, Printed};

/// What the node said about itself.
pub enum Said {
    /// A beamlink node's `beamlink:status/0`.
    Beamlink(Term),
    /// An erl node's `net_kernel:nodes_info/0`.
    Erl(Term),
}

impl Said {
    /// The status as a term, for JSON.
    pub fn term(&self) -> &Term {
        match self {
            Said::Beamlink(t) | Said::Erl(t) => t,
        }
    }
}

/// The name the node on `guess`'s host and port calls itself: a node found
/// in EPMD's list is known by its alive name only, and the host part it
/// uses (`localhost`, the host name) shows in the handshake.
pub async fn real_name(node: &Node, guess: &NodeName) -> NodeName {
    use beamlink::conn::ConnError;
    use beamlink::node::ConnectError;
    use beamlink::proto::handshake::HandshakeError;
    match node.connect(guess.as_str()).await {
        Err(ConnectError::Failed { cause, .. }) => match &*cause {
            ConnError::Handshake(HandshakeError::NameMismatch { answered, .. }) => {
                answered.parse().unwrap_or_else(|_| guess.clone())
            }
            _ => guess.clone(),
        },
        _ => guess.clone(),
    }
}

/// Asks `target` for its status.
pub async fn ask(node: &Node, target: &NodeName, timeout: Duration) -> Result<Said, Failure> {
    match node.rpc_call(target.as_str(), "beamlink", "status", vec![], timeout).await {
        Ok(status) => Ok(Said::Beamlink(status)),
        Err(CallError::BadRpc(reason)) if is_undef(&reason) => {
            match node.rpc_call(target.as_str(), "net_kernel", "nodes_info", vec![], timeout).await {
                Ok(info) => match info.as_tuple() {
                    Some([ok, list]) if ok.is_atom("ok") => Ok(Said::Erl(list.clone())),
                    _ => Err(crate::group_leader::unexpected("net_kernel:nodes_info/0", &info)),
                },
                Err(e) => Err(Failure::call(e)),
            }
        }
        Err(e) => Err(Failure::call(e)),
    }
}

fn is_undef(reason: &Term) -> bool {
    matches!(reason.as_tuple(), Some([exit, detail]) if exit.is_atom("EXIT")
        && (detail.is_atom("undef") || matches!(detail.as_tuple(), Some([undef, ..]) if undef.is_atom("undef"))))
}

/// The status for people.
pub fn text(target: &NodeName, said: &Said) -> Printed {
    let mut out = String::new();
    match said {
        Said::Beamlink(status) => beamlink_text(target, status, &mut out),
        Said::Erl(nodes) => erl_text(target, nodes, &mut out),
    }
    Printed { output: Some(out), ..Printed::default() }
}

fn beamlink_text(target: &NodeName, status: &Term, out: &mut String) {
    let Term::Map(map) = status else {
        out.push_str(&format!("{target}: {status}\n"));
        return;
    };
    let connections = map.get_atom("connections").and_then(Term::as_list).unwrap_or(&[]);
    out.push_str(&format!("{target} (beamlink): {} connection(s)\n", connections.len()));
    for connection in connections {
        let Term::Map(c) = connection else { continue };
        let field = |name: &str| c.get_atom(name).map(show).unwrap_or_default();
        let num = |name: &str| c.get_atom(name).and_then(Term::as_i64).unwrap_or(0);
        out.push_str(&format!(
            "  {}  {} {} {}, since {}\n",
            field("peer"),
            field("direction"),
            if field("visible") == "true" { "visible" } else { "hidden" },
            field("transport"),
            utc(num("since")),
        ));
        out.push_str(&format!(
            "    in: {} bytes, {} messages, {} ticks; out: {} bytes, {} messages, {} ticks; queued: {} bytes\n",
            num("bytes_in"),
            num("messages_in"),
            num("ticks_in"),
            num("bytes_out"),
            num("messages_out"),
            num("ticks_out"),
            num("queued_bytes"),
        ));
        if c.get_atom("security").is_some() {
            out.push_str(&format!("    tls: {}\n", field("security")));
        }
        if c.get_atom("certificate_subject").is_some() {
            out.push_str(&format!(
                "    certificate: {} (serial {})\n",
                field("certificate_subject"),
                field("certificate_serial")
            ));
        }
        out.push_str(&format!("    flags: {:#x}, creation {}\n", num("flags"), num("creation")));
    }
    let failures = map.get_atom("setup_failures").and_then(Term::as_list).unwrap_or(&[]);
    if failures.is_empty() {
        out.push_str("  failed set-ups since start: none\n");
    } else {
        out.push_str("  failed set-ups since start:\n");
        for failure in failures {
            if let Some([direction, kind, n]) = failure.as_tuple() {
                out.push_str(&format!("    {} {}: {}\n", show(direction), show(kind), show(n)));
            }
        }
    }
}

fn erl_text(target: &NodeName, nodes: &Term, out: &mut String) {
    let nodes = nodes.as_list().unwrap_or(&[]);
    out.push_str(&format!("{target} (erl): {} connection(s)\n", nodes.len()));
    for entry in nodes {
        let Some([peer, Term::List(info)]) = entry.as_tuple() else { continue };
        let get = |key: &str| {
            info.iter().find_map(|item| match item.as_tuple() {
                Some([k, v]) if k.is_atom(key) => Some(v.clone()),
                _ => None,
            })
        };
        let show_opt = |key: &str| get(key).map(|v| show(&v)).unwrap_or_else(|| "?".into());
        let address = get("address").map(|a| net_address(&a)).unwrap_or_default();
        out.push_str(&format!(
            "  {}  {} {}{}\n    in: {} packets; out: {} packets\n",
            show(peer),
            show_opt("type"),
            show_opt("state"),
            address,
            show_opt("in"),
            show_opt("out"),
        ));
    }
}

/// `#net_address{address, host, protocol, family}` as ", tcp at ADDRESS".
fn net_address(address: &Term) -> String {
    match address.as_tuple() {
        Some([tag, address, _host, protocol, _family]) if tag.is_atom("net_address") => {
            let at = match address.as_tuple() {
                Some([ip, port]) => format!("{} port {}", show(ip), show(port)),
                _ => show(address),
            };
            format!(", {} at {at}", show(protocol))
        }
        _ => String::new(),
    }
}

/// A term as text: binaries as their text, atoms bare, the rest in Erlang syntax.
fn show(term: &Term) -> String {
    match term {
        Term::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Term::Atom(atom) => atom.as_str().to_string(),
        other => other.to_string(),
    }
}

fn utc(unix: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    beamlink::utc::format(at)
}
