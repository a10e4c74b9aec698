//! Policy files: the distribution firewall written as TOML, so that an
//! operator can lock a node down without writing Rust, and change the rules
//! of a running node by editing the file.
//!
//! The format is described on [`PolicyFile`]; [`Firewall::from_toml_str`]
//! and [`Firewall::from_policy_file`] parse it, and [`PolicyFile`] keeps a
//! node's firewall in step with the file.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Node;
use super::firewall::{Firewall, NameRule, Policy, RpcRule};
use crate::file_stamp::{Stamp, stamp};
use crate::proto::name::MAX_NODE_NAME_BYTES;

/// The keys a policy table (`[default]` or a `[peer."PATTERN"]`) may hold.
const POLICY_KEYS: &str = "spawn, exit_signals, group_leader, rpc, names";
/// The keys the top level may hold.
const TOP_KEYS: &str = "default, peer";
/// The registered name that stays reachable whatever a `names` list says, so
/// that pings work (as with [`Policy::locked_down`]).
const ALWAYS_REACHABLE: &str = "net_kernel";

/// Why a policy file was refused. Every error about the contents names the
/// line (and the key or entry at fault); an error from [`Firewall::from_policy_file`]
/// and [`PolicyFile`] also names the file. The `Display` form reads
/// `FILE line 7: unknown key `spwan` in [peer."admin@x"] ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read the policy file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{}not valid TOML: {message}", place(.file, .line))]
    Syntax {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the error (1-based), when the parser located it.
        line: Option<usize>,
        /// What the TOML parser said.
        message: String,
    },
    /// A key the format does not know, at the top level or in a policy table.
    #[error("{}unknown key `{key}` in {table} (known keys: {known})", at(.file, .line))]
    UnknownKey {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the key (1-based).
        line: usize,
        /// The key.
        key: String,
        /// Where it is: `the top level`, `[default]` or `[peer."PATTERN"]`.
        table: String,
        /// The keys allowed there.
        known: &'static str,
    },
    /// A value of the wrong type (a string where `true` or `false` belongs, say).
    #[error("{}`{key}` in {table} must be {expected}, not {found}", at(.file, .line))]
    WrongType {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the value (1-based).
        line: usize,
        /// The key.
        key: String,
        /// Where it is: `the top level`, `[default]` or `[peer."PATTERN"]`.
        table: String,
        /// What the key takes.
        expected: &'static str,
        /// What the file gives.
        found: String,
    },
    /// A `[peer."PATTERN"]` whose pattern is not `name@host`, `*@host` or `name@*`.
    #[error("{}bad peer pattern {pattern:?}: {reason}", at(.file, .line))]
    BadPattern {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the pattern (1-based).
        line: usize,
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two `[peer."PATTERN"]` entries for the same pattern (host parts are
    /// compared without regard to case, so `a@HOST` and `a@host` are the same).
    #[error(
        "{}[peer.{pattern:?}] repeats the pattern of line {first_line} (host names are compared without case)",
        at(.file, .line)
    )]
    DuplicatePeer {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the second entry (1-based).
        line: usize,
        /// The pattern as written the second time.
        pattern: String,
        /// The line of the first entry.
        first_line: usize,
    },
    /// An `rpc` entry that is not `module:function`, `module:*` or `*`.
    #[error("{}bad rpc entry {entry:?} in {table}: {reason}", at(.file, .line))]
    BadRpc {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the entry (1-based).
        line: usize,
        /// Where it is: `[default]` or `[peer."PATTERN"]`.
        table: String,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `names` entry that cannot be a registered name.
    #[error("{}bad registered name {entry:?} in {table}: {reason}", at(.file, .line))]
    BadName {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line of the entry (1-based).
        line: usize,
        /// Where it is: `[default]` or `[peer."PATTERN"]`.
        table: String,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`PolicyFile::watch`] or [`PolicyFile::reload_on_sighup`] was called
    /// outside a Tokio runtime.
    #[error("watching the policy file {} needs a Tokio runtime", path.display())]
    NoRuntime {
        /// The file.
        path: PathBuf,
    },
    /// The SIGHUP handler could not be installed.
    #[error("cannot reload the policy file {} on SIGHUP: {source}", path.display())]
    Signal {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl PolicyFileError {
    /// The line (1-based) the error is about, when it is about the contents.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyFileError::Syntax { line, .. } => *line,
            PolicyFileError::UnknownKey { line, .. }
            | PolicyFileError::WrongType { line, .. }
            | PolicyFileError::BadPattern { line, .. }
            | PolicyFileError::DuplicatePeer { line, .. }
            | PolicyFileError::BadRpc { line, .. }
            | PolicyFileError::BadName { line, .. } => Some(*line),
            PolicyFileError::Read { .. } | PolicyFileError::NoRuntime { .. } | PolicyFileError::Signal { .. } => None,
        }
    }

    /// The file the error is about, when the text came from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            PolicyFileError::Read { path, .. }
            | PolicyFileError::NoRuntime { path }
            | PolicyFileError::Signal { path, .. } => Some(path),
            PolicyFileError::Syntax { file, .. }
            | PolicyFileError::UnknownKey { file, .. }
            | PolicyFileError::WrongType { file, .. }
            | PolicyFileError::BadPattern { file, .. }
            | PolicyFileError::DuplicatePeer { file, .. }
            | PolicyFileError::BadRpc { file, .. }
            | PolicyFileError::BadName { file, .. } => file.as_deref(),
        }
    }

    /// The same error, naming `path` as the file it is about.
    fn in_file(mut self, path: &Path) -> PolicyFileError {
        match &mut self {
            PolicyFileError::Syntax { file, .. }
            | PolicyFileError::UnknownKey { file, .. }
            | PolicyFileError::WrongType { file, .. }
            | PolicyFileError::BadPattern { file, .. }
            | PolicyFileError::DuplicatePeer { file, .. }
            | PolicyFileError::BadRpc { file, .. }
            | PolicyFileError::BadName { file, .. } => *file = Some(path.to_path_buf()),
            PolicyFileError::Read { .. } | PolicyFileError::NoRuntime { .. } | PolicyFileError::Signal { .. } => {}
        }
        self
    }
}

/// `FILE line N: ` or `line N: `.
fn at(file: &Option<PathBuf>, line: &usize) -> String {
    place(file, &Some(*line))
}

/// `FILE line N: `, `FILE: `, `line N: ` or nothing.
fn place(file: &Option<PathBuf>, line: &Option<usize>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{} line {l}: ", f.display()),
        (Some(f), None) => format!("{}: ", f.display()),
        (None, Some(l)) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

impl Firewall {
    /// Parses a policy file's text (the format is described on [`PolicyFile`]).
    /// Errors name the line; use [`Firewall::from_policy_file`] to have them
    /// name the file too.
    ///
    /// ```
    /// use beamlink::node::Firewall;
    ///
    /// let fw = Firewall::from_toml_str(r#"
    ///     [default]
    ///     spawn = false
    ///     rpc = ["calc:add"]
    ///     names = ["inbox"]
    ///
    ///     [peer."admin@ops.example.com"]
    /// "#).unwrap();
    /// let web = fw.policy_for("web@app.example.com");
    /// assert!(!web.spawn && web.rpc.allows("calc", "add") && !web.rpc.allows("os", "cmd"));
    /// assert!(web.names.allows("inbox") && web.names.allows("net_kernel") && !web.names.allows("cache"));
    /// assert!(fw.policy_for("admin@OPS.example.com").spawn);
    ///
    /// let err = Firewall::from_toml_str("[default]\nspwan = true\n").unwrap_err();
    /// assert_eq!(err.line(), Some(2));
    /// assert!(err.to_string().starts_with("line 2: unknown key `spwan` in [default]"));
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Firewall, PolicyFileError> {
        parse(text)
    }

    /// Reads and parses a policy file (the format is described on
    /// [`PolicyFile`]). Errors name the file and, for its contents, the line.
    pub fn from_policy_file(path: impl AsRef<Path>) -> Result<Firewall, PolicyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyFileError::Read { path: path.to_path_buf(), source })?;
        parse(&text).map_err(|e| e.in_file(path))
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A value's type with its article, for messages.
fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

type Entry<'t, 'i> = (&'t Spanned<std::borrow::Cow<'i, str>>, &'t Spanned<DeValue<'i>>);

/// A table's entries in the order they appear in the text, so that the first
/// error reported is the first in the file.
fn in_file_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// What the parser knows while it walks the document.
struct Parser<'a> {
    text: &'a str,
}

impl Parser<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    fn wrong_type(
        &self,
        key: &str,
        table: &str,
        value: &Spanned<DeValue<'_>>,
        expected: &'static str,
        found: impl Into<String>,
    ) -> PolicyFileError {
        PolicyFileError::WrongType {
            file: None,
            line: self.line(value.span()),
            key: key.to_string(),
            table: table.to_string(),
            expected,
            found: found.into(),
        }
    }

    fn document(&self, doc: &DeTable<'_>) -> Result<Firewall, PolicyFileError> {
        let mut default = Policy::allow_all();
        let mut peers: Vec<(String, Policy)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (key, value) in in_file_order(doc) {
            match key.get_ref().as_ref() {
                "default" => {
                    let table = self.table(key.get_ref(), "the top level", value, "a table of policy keys")?;
                    default = self.policy(table, "[default]")?;
                }
                "peer" => {
                    let table =
                        self.table("peer", "the top level", value, "a table of [peer.\"NAME@HOST\"] entries")?;
                    for (pattern, rules) in in_file_order(table) {
                        let line = self.line(pattern.span());
                        let written = pattern.get_ref().as_ref();
                        let normalized = check_pattern(written).map_err(|reason| PolicyFileError::BadPattern {
                            file: None,
                            line,
                            pattern: written.to_string(),
                            reason,
                        })?;
                        if let Some(&first_line) = seen.get(&normalized) {
                            return Err(PolicyFileError::DuplicatePeer {
                                file: None,
                                line,
                                pattern: written.to_string(),
                                first_line,
                            });
                        }
                        seen.insert(normalized.clone(), line);
                        let context = format!("[peer.{written:?}]");
                        let rules = self.table(written, "[peer]", rules, "a table of policy keys")?;
                        peers.push((normalized, self.policy(rules, &context)?));
                    }
                }
                other => {
                    return Err(PolicyFileError::UnknownKey {
                        file: None,
                        line: self.line(key.span()),
                        key: other.to_string(),
                        table: "the top level".into(),
                        known: TOP_KEYS,
                    });
                }
            }
        }
        Ok(peers.into_iter().fold(Firewall::new(default), |fw, (pattern, policy)| fw.peer(&pattern, policy)))
    }

    fn table<'t, 'i>(
        &self,
        key: &str,
        context: &str,
        value: &'t Spanned<DeValue<'i>>,
        expected: &'static str,
    ) -> Result<&'t DeTable<'i>, PolicyFileError> {
        match value.get_ref() {
            DeValue::Table(table) => Ok(table),
            other => Err(self.wrong_type(key, context, value, expected, describe(other))),
        }
    }

    /// One policy table. Keys left out keep their [`Policy::allow_all`] value.
    fn policy(&self, table: &DeTable<'_>, context: &str) -> Result<Policy, PolicyFileError> {
        let mut policy = Policy::allow_all();
        for (key, value) in in_file_order(table) {
            let name = key.get_ref().as_ref();
            match name {
                "spawn" => policy.spawn = self.boolean(name, context, value)?,
                "exit_signals" => policy.exit_signals = self.boolean(name, context, value)?,
                "group_leader" => policy.group_leader = self.boolean(name, context, value)?,
                "rpc" => policy.rpc = self.rpc(context, value)?,
                "names" => policy.names = self.names(context, value)?,
                other => {
                    return Err(PolicyFileError::UnknownKey {
                        file: None,
                        line: self.line(key.span()),
                        key: other.to_string(),
                        table: context.to_string(),
                        known: POLICY_KEYS,
                    });
                }
            }
        }
        Ok(policy)
    }

    fn boolean(&self, key: &str, context: &str, value: &Spanned<DeValue<'_>>) -> Result<bool, PolicyFileError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            other => Err(self.wrong_type(key, context, value, "true or false", describe(other))),
        }
    }

    /// A list of strings, each with its line.
    fn strings<'v>(
        &self,
        key: &str,
        context: &str,
        value: &'v Spanned<DeValue<'_>>,
    ) -> Result<Vec<(&'v str, usize)>, PolicyFileError> {
        const EXPECTED: &str = "a list of strings";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type(key, context, value, EXPECTED, describe(value.get_ref())));
        };
        items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::String(s) => Ok((s.as_ref(), self.line(item.span()))),
                other => {
                    Err(self.wrong_type(key, context, item, EXPECTED, format!("a list holding {}", describe(other))))
                }
            })
            .collect()
    }

    fn rpc(&self, context: &str, value: &Spanned<DeValue<'_>>) -> Result<RpcRule, PolicyFileError> {
        let entries = self.strings("rpc", context, value)?;
        let mut allowed = Vec::with_capacity(entries.len());
        let mut all = false;
        for (entry, line) in entries {
            match check_rpc(entry) {
                Ok(None) => all = true,
                Ok(Some(pair)) => allowed.push(pair),
                Err(reason) => {
                    return Err(PolicyFileError::BadRpc {
                        file: None,
                        line,
                        table: context.to_string(),
                        entry: entry.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(match (all, allowed.is_empty()) {
            (true, _) => RpcRule::All,
            (false, true) => RpcRule::None,
            (false, false) => RpcRule::Only(allowed),
        })
    }

    fn names(&self, context: &str, value: &Spanned<DeValue<'_>>) -> Result<NameRule, PolicyFileError> {
        let entries = self.strings("names", context, value)?;
        let mut allowed: HashSet<String> = HashSet::with_capacity(entries.len() + 1);
        let mut all = false;
        for (entry, line) in entries {
            if entry == "*" {
                all = true;
                continue;
            }
            check_atom(entry, "a registered name").map_err(|reason| PolicyFileError::BadName {
                file: None,
                line,
                table: context.to_string(),
                entry: entry.to_string(),
                reason,
            })?;
            allowed.insert(entry.to_string());
        }
        if all {
            return Ok(NameRule::All);
        }
        allowed.insert(ALWAYS_REACHABLE.to_string());
        Ok(NameRule::Only(allowed))
    }
}

fn parse(text: &str) -> Result<Firewall, PolicyFileError> {
    let doc = DeTable::parse(text).map_err(|e| {
        let mut message = e.message().trim().replace('\n', "; ");
        // What the parser points at, when it is short enough to quote.
        let near = e.span().and_then(|span| text.get(span)).map(str::trim).filter(|near| {
            !near.is_empty() && near.len() <= 40 && !near.contains(['\n', '`']) && !near.chars().any(char::is_control)
        });
        if let Some(near) = near {
            message.push_str(&format!(" (at `{near}`)"));
        }
        PolicyFileError::Syntax { file: None, line: e.span().map(|span| line_of(text, span.start)), message }
    })?;
    Parser { text }.document(doc.get_ref())
}

/// Checks a node-name pattern and gives it with its host part in lower case.
fn check_pattern(pattern: &str) -> Result<String, String> {
    if pattern == "*" {
        return Err("\"*\" alone is not a pattern: put the rules for every peer in [default]".into());
    }
    if pattern.len() > MAX_NODE_NAME_BYTES {
        return Err(format!("longer than a node name can be ({MAX_NODE_NAME_BYTES} bytes)"));
    }
    let Some((name, host)) = pattern.split_once('@') else {
        return Err("no '@': write name@host, *@host (every node on a host) or name@* (a name on any host)".into());
    };
    if host.contains('@') {
        return Err("more than one '@'".into());
    }
    if name.is_empty() {
        return Err("nothing before the '@' (write * for any name)".into());
    }
    if host.is_empty() {
        return Err("nothing after the '@' (write * for any host)".into());
    }
    if name == "*" && host == "*" {
        return Err("\"*@*\" matches every peer: put those rules in [default]".into());
    }
    if name != "*" {
        if name.contains('*') {
            return Err("'*' stands only for a whole part: *@host or name@*".into());
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
            return Err(format!("{c:?} cannot be in a node name (letters, digits, '_' and '-')"));
        }
    }
    if host != "*" {
        if host.contains('*') {
            return Err("'*' stands only for a whole part: *@host or name@*".into());
        }
        if host.parse::<IpAddr>().is_err()
            && let Some(c) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!("{c:?} cannot be in a host name (letters, digits, '-', '_' and '.')"));
        }
    }
    Ok(format!("{name}@{}", host.to_ascii_lowercase()))
}

/// An allowed call: the module, and the function (`None` for the whole module).
type RpcEntry = (String, Option<String>);

/// Checks an `rpc` entry: `None` for `*` (everything), else what it allows.
fn check_rpc(entry: &str) -> Result<Option<RpcEntry>, String> {
    if entry == "*" {
        return Ok(None);
    }
    let Some((module, function)) = entry.split_once(':') else {
        return Err("expected module:function, module:* or \"*\"".into());
    };
    check_atom(module, "a module name")?;
    if function == "*" {
        return Ok(Some((module.to_string(), None)));
    }
    if let Some((f, _arity)) = function.split_once('/') {
        return Err(format!("arities are not supported: write {module}:{f}, which allows the function at every arity"));
    }
    check_atom(function, "a function name")?;
    Ok(Some((module.to_string(), Some(function.to_string()))))
}

/// Checks an atom written without quotes: a module, function or registered name.
fn check_atom(atom: &str, what: &str) -> Result<(), String> {
    if atom.is_empty() {
        return Err(format!("{what} is missing"));
    }
    if atom.chars().count() > 255 {
        return Err(format!("{what} longer than an atom can be (255 characters)"));
    }
    if atom.contains('*') {
        return Err(format!("'*' cannot be part of {what}: \"*\" stands alone, or after the ':' as module:*"));
    }
    if atom.contains(['\'', '"']) {
        return Err(format!("quotes cannot be in {what} (write atoms without quotes)"));
    }
    if let Some(c) = atom.chars().find(|c| c.is_whitespace() || c.is_control() || *c == ':') {
        return Err(format!("{c:?} cannot be in {what}"));
    }
    Ok(())
}

/// A policy file kept in force on one or more nodes.
///
/// [`PolicyFile::load`] reads and checks the file; pass
/// [`PolicyFile::firewall`] to [`NodeBuilder::firewall`](super::NodeBuilder::firewall)
/// so the node never runs without it, then [`PolicyFile::apply_to`] the
/// started node. From then on [`PolicyFile::reload`] (or a change of the file
/// noticed by [`PolicyFile::watch`], or a SIGHUP once
/// [`PolicyFile::reload_on_sighup`] is called) re-reads the file and
/// replaces the node's firewall, for every message received afterwards. A
/// reload that finds the file bad (or missing) keeps the previous policy in
/// force; the watchers log why at error level, naming the file and line.
/// Dropping the `PolicyFile` stops the watchers; the firewall last applied
/// stays. While a `PolicyFile` is applied to a node, it owns that node's
/// firewall: a [`Node::set_firewall`] of the program's own is undone by the
/// next reload.
///
/// # The format
///
/// ```toml
/// [default]                       # every peer without a [peer] entry of its own
/// spawn = false                   # spawn requests (spawn/4 and friends)
/// exit_signals = false            # exit(Pid, Reason) from the peer
/// group_leader = false            # group-leader changes
/// rpc = ["calc:add", "cache:*"]   # rpc/erpc calls: module:function, module:*, or "*" for all
/// names = ["inbox", "cache"]      # registered names it may send to, or "*" for all
///
/// [peer."admin@ops.example.com"]  # one node, by name
/// spawn = true
/// exit_signals = true
/// group_leader = true
/// rpc = ["*"]
/// names = ["*"]
///
/// [peer."*@ops.example.com"]      # every node on a host
/// [peer."backup@*"]               # a node name on any host
/// ```
///
/// - The top level holds only `default` and `peer`; a policy table holds only
///   `spawn`, `exit_signals`, `group_leader` (each `true` or `false`), `rpc`
///   and `names` (each a list of strings). Anything else (an unknown key, a
///   wrong type, a bad pattern or entry, two entries for one pattern) refuses
///   the whole file with an error naming the line.
/// - A key left out takes the [`Policy::allow_all`] value: an empty table, or
///   no `[default]`, allows everything, as Erlang does. A `[peer]` entry does
///   not inherit from `[default]`: write out what the peer may not do.
/// - `rpc = []` allows no calls; `rpc = ["*"]` allows every call. Spawn
///   requests need `spawn = true` *and* an `rpc` entry for the function
///   spawned (erpc's own calls need only the `rpc` entry). Calls to `rex`,
///   the rpc server, are governed by `rpc`, not by `names`. Arities cannot be
///   given: `calc:add` allows `calc:add` at every arity.
/// - A `names` list (even `names = []`) always lets `net_kernel` through as
///   well, so that pings keep working, as [`Policy::locked_down`] does.
///   `names = ["*"]` allows every name.
/// - Patterns are `name@host` (exact), `name@*` (that name on any host) and
///   `*@host` (every node on that host). The most specific match wins:
///   exact, then `name@*`, then `*@host`, then `[default]`. Host parts are
///   compared without regard to ASCII case, as DNS names are; name parts
///   exactly. `*` alone and `*@*` are refused: rules for every peer go in
///   `[default]`.
///
/// Under TLS with `verify-name strict` a peer's node name is its certificate's,
/// so rules follow certificate identities; over plain TCP a name is only as
/// good as the cookie.
pub struct PolicyFile {
    shared: Arc<Shared>,
    /// Dropped with the `PolicyFile`, which ends the watcher tasks.
    stop: tokio::sync::watch::Sender<()>,
}

impl std::fmt::Debug for PolicyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyFile")
            .field("path", &self.shared.path)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

struct Shared {
    path: PathBuf,
    state: Mutex<State>,
    nodes: Mutex<Vec<Node>>,
    generation: AtomicU64,
    polling: AtomicBool,
    on_sighup: AtomicBool,
}

struct State {
    /// The file as last seen by the poll (or read by a load).
    seen: Option<Stamp>,
    /// The policy last loaded.
    firewall: Firewall,
}

impl PolicyFile {
    /// Reads and checks the policy file at `path`; nothing is applied yet.
    /// A bad file is refused with an error naming the file and line.
    pub fn load(path: impl Into<PathBuf>) -> Result<PolicyFile, PolicyFileError> {
        let path = path.into();
        // Stamp first: a file that changes while it is read is read again at the next poll.
        let seen = stamp(&path);
        let firewall = Firewall::from_policy_file(&path)?;
        tracing::info!(file = %path.display(), "firewall policy loaded");
        let (stop, _) = tokio::sync::watch::channel(());
        Ok(PolicyFile {
            shared: Arc::new(Shared {
                path,
                state: Mutex::new(State { seen, firewall }),
                nodes: Mutex::new(Vec::new()),
                generation: AtomicU64::new(1),
                polling: AtomicBool::new(false),
                on_sighup: AtomicBool::new(false),
            }),
            stop,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The policy last loaded from the file.
    pub fn firewall(&self) -> Firewall {
        self.shared.lock_state().firewall.clone()
    }

    /// How many times the file has been loaded: 1 after [`PolicyFile::load`],
    /// plus one per successful reload.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Applies the policy to `node` now and after every reload (a
    /// `PolicyFile` can serve several nodes).
    pub fn apply_to(&self, node: &Node) {
        // Holding the state lock orders this against a reload in progress.
        let state = self.shared.lock_state();
        node.set_firewall(state.firewall.clone());
        self.shared.nodes.lock().unwrap_or_else(|p| p.into_inner()).push(node.clone());
    }

    /// Re-reads the file and, when it is good, applies it to the nodes. On
    /// error the previous policy stays in force and the error says why
    /// (naming the file and line); nothing is logged, which is the caller's
    /// to do, and the poll of [`PolicyFile::watch`] reads the file again only
    /// once it changes again.
    pub fn reload(&self) -> Result<(), PolicyFileError> {
        self.shared.reload("reload requested")
    }

    /// Polls the file every `interval` (at least 10 ms) and reloads it when
    /// it changes (an edit in place, or a new file renamed over it). A
    /// reload that fails is logged at error level and the previous policy
    /// stays; the file is read again when it next changes. Runs on the
    /// current Tokio runtime until the `PolicyFile` is dropped; a second
    /// call does nothing.
    pub fn watch(&self, interval: Duration) -> Result<(), PolicyFileError> {
        let runtime = self.runtime()?;
        if self.shared.polling.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let interval = interval.max(Duration::from_millis(10));
        let shared = self.shared.clone();
        let mut stop = self.stop.subscribe();
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => shared.poll(),
                    _ = stop.changed() => return,
                }
            }
        });
        Ok(())
    }

    /// Reloads the file whenever the process receives SIGHUP, logging a
    /// failure at error level (the previous policy then stays). Runs on the
    /// current Tokio runtime until the `PolicyFile` is dropped; a second
    /// call does nothing. Once called, SIGHUP no longer ends the process.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> Result<(), PolicyFileError> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = self.runtime()?;
        if self.shared.on_sighup.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut hangups = {
            let _entered = runtime.enter();
            signal(SignalKind::hangup()).map_err(|source| {
                self.shared.on_sighup.store(false, Ordering::Release);
                PolicyFileError::Signal { path: self.shared.path.clone(), source }
            })?
        };
        let shared = self.shared.clone();
        let mut stop = self.stop.subscribe();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    got = hangups.recv() => {
                        if got.is_none() {
                            return;
                        }
                        if let Err(e) = shared.reload("SIGHUP") {
                            tracing::error!("{e}; the previous firewall policy stays in force");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        Ok(())
    }

    fn runtime(&self) -> Result<tokio::runtime::Handle, PolicyFileError> {
        tokio::runtime::Handle::try_current().map_err(|_| PolicyFileError::NoRuntime { path: self.shared.path.clone() })
    }
}

impl Shared {
    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the file and installs it when it is good. Either way the file
    /// counts as seen: the poll reads it again only once it changes again.
    fn reload(&self, why: &str) -> Result<(), PolicyFileError> {
        let mut state = self.lock_state();
        state.seen = stamp(&self.path);
        let firewall = Firewall::from_policy_file(&self.path)?;
        self.install(&mut state, firewall, why);
        Ok(())
    }

    /// One poll: reload when the file changed since it was last seen.
    fn poll(&self) {
        let state = self.lock_state();
        if state.seen == stamp(&self.path) {
            return;
        }
        drop(state);
        if let Err(e) = self.reload("the file changed") {
            tracing::error!("{e}; the previous firewall policy stays in force");
        }
    }

    fn install(&self, state: &mut State, firewall: Firewall, why: &str) {
        let changed = state.firewall != firewall;
        for node in self.nodes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            node.set_firewall(firewall.clone());
        }
        state.firewall = firewall;
        self.generation.fetch_add(1, Ordering::AcqRel);
        if changed {
            tracing::info!(file = %self.path.display(), reason = why, "firewall policy reloaded; it applies from now on");
        } else {
            tracing::info!(file = %self.path.display(), reason = why, "firewall policy reloaded; no rule changed");
        }
    }
}

#[cfg(test)]
mod tests;
