//! The distribution firewall: what each peer may ask of this node beyond
//! plain messaging.
//!
//! Distribution normally gives every connected node full power over this
//! one: it can spawn processes, call any function, kill any process. A
//! [`Firewall`] limits that per peer, by node name. Under TLS with
//! `verify-name strict` the node name is the certificate's, so the rules
//! follow certificate identities; over plain TCP a name is only as good as
//! the cookie.
//!
//! The rules cover spawn requests, rpc/erpc calls (per module and
//! function), exit signals (sent with `exit/2`, or through a link, so a peer
//! without `exit_signals` cannot make a link), group-leader changes and
//! messages to registered names. They follow what is reached, not how it is
//! addressed: a registered process is guarded the same by pid as by name,
//! and `rex` serves only allowed calls however it is reached. Messages to
//! other pids and monitors pass: they are what messaging is. A denied spawn
//! or call is answered (the caller gets `not_allowed` instead of hanging);
//! other denied operations are dropped; each is logged. The node's
//! dispatcher (`dispatch.rs`) applies the rules; SECURITY.md has the table
//! of what a locked-down peer can still do.
//!
//! ```
//! use beamlink::node::{Firewall, Policy, RpcRule};
//!
//! // Trusted peers keep full power; everyone else may only call cache:lookup/1
//! // and send to the `cache` process.
//! let fw = Firewall::new(Policy::locked_down().allow_rpc("cache", Some("lookup")).allow_name("cache"))
//!     .peer("admin@ops.example.com", Policy::allow_all());
//! assert!(fw.policy_for("admin@ops.example.com").exit_signals);
//! assert!(matches!(fw.policy_for("web@app.example.com").rpc, RpcRule::Only(_)));
//! ```

use std::collections::{HashMap, HashSet};

/// Which rpc/erpc calls a peer may make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcRule {
    /// Any function.
    All,
    /// None.
    None,
    /// Only these `(module, function)` pairs; `None` as the function allows
    /// the whole module.
    Only(Vec<(String, Option<String>)>),
}

impl RpcRule {
    /// Whether `module:function` may be called.
    pub fn allows(&self, module: &str, function: &str) -> bool {
        match self {
            RpcRule::All => true,
            RpcRule::None => false,
            RpcRule::Only(list) => list.iter().any(|(m, f)| m == module && f.as_deref().is_none_or(|f| f == function)),
        }
    }
}

/// Which registered names a peer may send to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// Any name.
    All,
    /// Only these.
    Only(HashSet<String>),
    /// Any but these.
    AllExcept(HashSet<String>),
}

impl NameRule {
    /// Whether messages to `name` pass.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            NameRule::All => true,
            NameRule::Only(set) => set.contains(name),
            NameRule::AllExcept(set) => !set.contains(name),
        }
    }
}

/// What one peer may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Spawn requests for functions other than `erpc`'s own (`spawn/4`); the
    /// function must also pass [`Policy::rpc`].
    pub spawn: bool,
    /// rpc and erpc calls and casts.
    pub rpc: RpcRule,
    /// `exit(Pid, Reason)` signals to local processes.
    pub exit_signals: bool,
    /// Group-leader changes.
    pub group_leader: bool,
    /// Messages to registered names. `rex`, the rpc server, is governed by
    /// [`Policy::rpc`] instead, call by call.
    pub names: NameRule,
}

impl Policy {
    /// Everything, as Erlang distribution grants (the default).
    pub fn allow_all() -> Policy {
        Policy { spawn: true, rpc: RpcRule::All, exit_signals: true, group_leader: true, names: NameRule::All }
    }

    /// The locked-down preset: no spawns, no calls, no exit signals, no
    /// group-leader changes, and no messages to registered names. Open what
    /// a peer needs with [`Policy::allow_rpc`] and [`Policy::allow_name`].
    /// `net_kernel` stays reachable so that pings work.
    pub fn locked_down() -> Policy {
        Policy {
            spawn: false,
            rpc: RpcRule::None,
            exit_signals: false,
            group_leader: false,
            names: NameRule::Only(["net_kernel".to_string()].into()),
        }
    }

    /// Allows calls to `module:function` (or the whole module with `None`).
    pub fn allow_rpc(mut self, module: &str, function: Option<&str>) -> Policy {
        let entry = (module.to_string(), function.map(str::to_string));
        self.rpc = match self.rpc {
            RpcRule::All => RpcRule::All,
            RpcRule::None => RpcRule::Only(vec![entry]),
            RpcRule::Only(mut list) => {
                list.push(entry);
                RpcRule::Only(list)
            }
        };
        self
    }

    /// Allows messages to the registered name `name`.
    pub fn allow_name(mut self, name: &str) -> Policy {
        self.names = match self.names {
            NameRule::All => NameRule::All,
            NameRule::Only(mut set) => {
                set.insert(name.to_string());
                NameRule::Only(set)
            }
            NameRule::AllExcept(mut set) => {
                set.remove(name);
                NameRule::AllExcept(set)
            }
        };
        self
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::allow_all()
    }
}

/// Per-peer policies with a default.
///
/// Rules are keyed by node-name pattern: an exact `name@host`, `name@*` for
/// a node name on any host, or `*@host` for every node on a host. The host
/// part is compared without regard to ASCII case (DNS names are
/// case-insensitive); the name part must match exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Firewall {
    default: Policy,
    by_node: HashMap<String, Policy>,
    by_name: HashMap<String, Policy>,
    by_host: HashMap<String, Policy>,
}

impl Firewall {
    /// A firewall applying `default` to every peer without a rule of its own.
    pub fn new(default: Policy) -> Firewall {
        Firewall { default, by_node: HashMap::new(), by_name: HashMap::new(), by_host: HashMap::new() }
    }

    /// Everything allowed: what Erlang does (the default).
    pub fn allow_all() -> Firewall {
        Firewall::new(Policy::allow_all())
    }

    /// The policy for one peer, given as `name@host`, `name@*` for a node
    /// name on any host, or `*@host` for every node on a host. An exact rule
    /// beats a `name@*` rule, which beats a `*@host` rule, which beats the
    /// default. A later rule for the same pattern replaces an earlier one;
    /// host parts that differ only in case are the same pattern.
    pub fn peer(mut self, pattern: &str, policy: Policy) -> Firewall {
        if let Some(host) = pattern.strip_prefix("*@") {
            self.by_host.insert(host.to_ascii_lowercase(), policy);
        } else if let Some(name) = pattern.strip_suffix("@*") {
            self.by_name.insert(name.to_string(), policy);
        } else {
            self.by_node.insert(lowercase_host(pattern).into_owned(), policy);
        }
        self
    }

    /// Whether every peer may do everything (the default): then nothing
    /// needs checking per message.
    pub fn allows_everything(&self) -> bool {
        self.default == Policy::allow_all()
            && self.by_node.values().all(|p| *p == Policy::allow_all())
            && self.by_name.values().all(|p| *p == Policy::allow_all())
            && self.by_host.values().all(|p| *p == Policy::allow_all())
    }

    /// The policy that applies to `node`: the exact rule, else the `name@*`
    /// rule, else the `*@host` rule, else the default.
    pub fn policy_for(&self, node: &str) -> &Policy {
        let node = lowercase_host(node);
        if let Some(p) = self.by_node.get(node.as_ref()) {
            return p;
        }
        let (name, host) = node.split_once('@').unwrap_or((node.as_ref(), ""));
        self.by_name.get(name).or_else(|| self.by_host.get(host)).unwrap_or(&self.default)
    }
}

/// `name@host` with the host part in lower case; borrowed when it already is.
fn lowercase_host(node: &str) -> std::borrow::Cow<'_, str> {
    match node.split_once('@') {
        Some((name, host)) if host.bytes().any(|b| b.is_ascii_uppercase()) => {
            format!("{name}@{}", host.to_ascii_lowercase()).into()
        }
        _ => node.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_resolve_node_then_host_then_default() {
        let fw = Firewall::new(Policy::locked_down())
            .peer("*@trusted.example", Policy::allow_all())
            .peer("bad@trusted.example", Policy::locked_down());
        assert!(fw.policy_for("x@trusted.example").spawn);
        assert!(!fw.policy_for("bad@trusted.example").spawn);
        assert!(!fw.policy_for("x@other.example").spawn);
    }

    #[test]
    fn rules_resolve_exact_then_name_then_host_then_default() {
        let mut spawn_only = Policy::locked_down();
        spawn_only.spawn = true;
        let mut rpc_only = Policy::locked_down();
        rpc_only.rpc = RpcRule::All;
        let fw = Firewall::new(Policy::locked_down())
            .peer("*@ops.example", spawn_only.clone())
            .peer("admin@*", rpc_only.clone())
            .peer("admin@ops.example", Policy::allow_all());
        assert_eq!(fw.policy_for("admin@ops.example"), &Policy::allow_all());
        assert_eq!(fw.policy_for("admin@web.example"), &rpc_only, "name@* beats the default");
        assert_eq!(fw.policy_for("other@ops.example"), &spawn_only);
        assert_eq!(fw.policy_for("other@web.example"), &Policy::locked_down());
        // name@* beats *@host when both match.
        let fw = fw.peer("admin@ops.example", Policy::locked_down()).peer("ops@*", rpc_only.clone());
        assert_eq!(fw.policy_for("ops@ops.example"), &rpc_only);
        assert!(!fw.allows_everything());
        assert!(Firewall::allow_all().peer("x@*", Policy::allow_all()).allows_everything());
    }

    #[test]
    fn host_parts_ignore_case_and_name_parts_do_not() {
        let fw = Firewall::new(Policy::locked_down())
            .peer("Admin@OPS.Example.COM", Policy::allow_all())
            .peer("*@Trusted.Example", Policy::allow_all());
        assert!(fw.policy_for("Admin@ops.example.com").spawn);
        assert!(fw.policy_for("Admin@Ops.Example.Com").spawn);
        assert!(!fw.policy_for("admin@ops.example.com").spawn, "the name part is exact");
        assert!(fw.policy_for("x@TRUSTED.example").spawn);
        assert!(!fw.policy_for("no-at-sign").spawn);
        assert!(!fw.policy_for("").spawn);
    }

    #[test]
    fn rpc_and_name_rules() {
        let p = Policy::locked_down().allow_rpc("cache", Some("lookup")).allow_rpc("stats", None).allow_name("cache");
        assert!(p.rpc.allows("cache", "lookup"));
        assert!(!p.rpc.allows("cache", "delete"));
        assert!(p.rpc.allows("stats", "anything"));
        assert!(!p.rpc.allows("os", "cmd"));
        assert!(p.names.allows("cache") && p.names.allows("net_kernel"));
        assert!(!p.names.allows("rex"));
        assert!(Policy::allow_all().rpc.allows("os", "cmd"));
        let mut except = Policy::allow_all();
        except.names = NameRule::AllExcept(["rex".to_string()].into());
        assert!(!except.names.allows("rex") && except.names.allows("x"));
    }
}
