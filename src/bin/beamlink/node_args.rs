//! Options shared by the commands that run a node.

use beamlink::node::{NodeBuilder, hostname};
use beamlink::proto::{NameMode, NodeName};
use clap::Args;

/// How this node is named: `--sname` or `--name`.
#[derive(Args, Debug, Clone, Default)]
pub struct NameArgs {
    /// Short node name (`NAME` or `NAME@HOST`; the host defaults to this machine's short name).
    #[arg(long, value_name = "NAME", conflicts_with = "name")]
    pub sname: Option<String>,
    /// Long node name (`NAME@HOST` with a fully qualified host or an IP address).
    #[arg(long, value_name = "NAME@HOST")]
    pub name: Option<String>,
}

impl NameArgs {
    /// The node name these options give, if any.
    pub fn node_name(&self) -> Result<Option<NodeName>, String> {
        let text = match (&self.sname, &self.name) {
            (Some(s), _) if s.contains('@') => s.clone(),
            (Some(s), _) => format!("{s}@{}", hostname::short_hostname()),
            (None, Some(n)) if n.contains('@') => n.clone(),
            (None, Some(n)) => match hostname::long_hostname() {
                Some(host) => format!("{n}@{host}"),
                None => return Err(format!("this machine's host name has no domain part: give --name {n}@HOST")),
            },
            (None, None) => return Ok(None),
        };
        let name = NodeName::new(&text).map_err(|e| e.to_string())?;
        let wanted = if self.sname.is_some() { NameMode::Short } else { NameMode::Long };
        if name.mode() != wanted {
            return Err(match wanted {
                NameMode::Short => format!("--sname {name}: a short name's host cannot contain dots; use --name"),
                NameMode::Long => format!("--name {name}: a long name needs a fully qualified host or an IP address; use --sname"),
            });
        }
        Ok(Some(name))
    }
}

/// The cookie option.
#[derive(Args, Debug, Clone, Default)]
pub struct CookieArgs {
    /// The distribution cookie [default: the contents of ~/.erlang.cookie].
    #[arg(long, env = "BEAMLINK_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
}

impl CookieArgs {
    /// Applies the cookie to a builder.
    pub fn apply(&self, builder: NodeBuilder) -> NodeBuilder {
        match &self.cookie {
            Some(c) => builder.cookie(c.clone()),
            None => builder,
        }
    }
}

/// A name for a short-lived node that dials `target`: unique, and in the
/// target's naming mode (as `erl_call` does).
pub fn one_shot_name(prefix: &str, target: &NodeName) -> Result<NodeName, String> {
    let alive = format!("{prefix}_{}_{}", std::process::id(), rand_suffix());
    let host = match target.mode() {
        NameMode::Short => hostname::short_hostname(),
        NameMode::Long => hostname::long_hostname().unwrap_or_else(|| "127.0.0.1".to_string()),
    };
    NodeName::from_parts(&alive, &host).map_err(|e| e.to_string())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() % 100_000).unwrap_or(0)
}

/// Parses a node name given on the command line.
pub fn parse_node(text: &str) -> Result<NodeName, String> {
    NodeName::new(text).map_err(|e| e.to_string())
}

/// A multi-threaded runtime for commands that run a node.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
