//! Simple Cache: a key/value cache that runs on every node of a cluster.
//! Insert on node A, read on node B — over mutual TLS.
//!
//! With no arguments this runs the demonstration on one machine: it makes a
//! throwaway certificate authority and node certificates, starts three cache
//! nodes as separate OS processes over mutual TLS, inserts on one, reads on
//! the others, lets an entry expire everywhere, kills a node and shows the
//! others still serve, and says what happened at each step. It exits 0 when
//! every step behaved.
//!
//! ```text
//! cargo run --release --example simple_cache            # the demo, over mutual TLS
//! cargo run --release --example simple_cache -- --tcp   # the same over plain TCP
//! ```
//!
//! As a long-lived node (on two real machines, say):
//!
//! ```text
//! simple_cache --name cache@hostA.example.com --cookie secret \
//!     --ca certs/ca.pem --cert certs/cache@hostA.example.com.pem --key certs/cache@hostA.example.com.key
//! simple_cache --name cache@hostB.example.com --cookie secret --join cache@hostA.example.com \
//!     --ca certs/ca.pem --cert certs/cache@hostB.example.com.pem --key certs/cache@hostB.example.com.key
//! ```
//!
//! Either can be locked down with a distribution firewall policy file, so
//! that peers may only use the cache (`--firewall cache-policy.toml`; the
//! format is in SECURITY.md, and the file is re-read when it changes and on
//! SIGHUP):
//!
//! ```text
//! [default]
//! spawn = false
//! exit_signals = false
//! group_leader = false
//! rpc = []
//! names = ["simple_cache"]
//! ```
//!
//! From an Erlang node (the shapes of the original Simple Cache):
//!
//! ```text
//! erl -sname e -setcookie secret
//! 1> gen_server:call({simple_cache, 'cache@hostA'}, {insert, greeting, <<"hello">>}).
//! ok
//! 2> gen_server:call({simple_cache, 'cache@hostA'}, {lookup, greeting}).
//! {ok,<<"hello">>}
//! ```
//!
//! Everything here goes through beamlink's public API: the cache is a
//! `GenServer` with typed requests and replies (no hand-built terms),
//! registered as `simple_cache` under a `Supervisor`, replicating to the
//! `simple_cache` processes of its peers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use beamlink::node::{
    CallOutcome, ChildSpec, GenServer, GenServerRef, Node, NodeBuilder, Outcome, PolicyFile, Process, ReplyTo,
    StartError, Strategy, Supervisor,
};
use beamlink::pki::KeyPassword;
use beamlink::term::{Atom, ConvertError, Term, from_term, to_term};
use beamlink::transport::Transport;
use beamlink::transport::tls::{TlsConfig, TlsTransport};
use clap::Parser;
use protocol::{CacheError, Reply, Request};
use serde::{Deserialize, Serialize};

/// Command-line options.
#[derive(Parser, Debug, Default)]
#[command(about = "Simple Cache: a replicated key/value cache on a beamlink cluster")]
struct Args {
    /// Short node name (NAME or NAME@HOST): run a long-lived cache node.
    #[arg(long, conflicts_with = "name")]
    sname: Option<String>,
    /// Long node name (NAME@HOST): run a long-lived cache node.
    #[arg(long)]
    name: Option<String>,
    /// The distribution cookie.
    #[arg(long, default_value = "simple_cache")]
    cookie: String,
    /// A node to join (repeatable): connect at start-up and stay connected.
    #[arg(long = "join", value_name = "NODE")]
    join: Vec<String>,
    /// The cluster CA certificate (turns mutual TLS on, with --cert and --key).
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    ca: Option<PathBuf>,
    /// This node's certificate.
    #[arg(long, value_name = "FILE", requires_all = ["ca", "key"])]
    cert: Option<PathBuf>,
    /// This node's private key.
    #[arg(long, value_name = "FILE", requires_all = ["ca", "cert"])]
    key: Option<PathBuf>,
    /// How a peer's node name must match its certificate: strict, host or none.
    #[arg(long, default_value = "strict")]
    verify_name: String,
    /// Take the TLS settings from an Erlang -ssl_dist_optfile instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ca", "cert", "key"])]
    ssl_dist_optfile: Option<PathBuf>,
    /// Start although the optfile holds this option, which beamlink cannot honour (repeatable).
    #[arg(long = "ignore-optfile-option", value_name = "NAME", requires = "ssl_dist_optfile")]
    ignore_optfile_options: Vec<String>,
    /// The password of an encrypted private key, on the first line of FILE.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// The address the distribution listener binds [default: every interface].
    #[arg(long, value_name = "IP")]
    address: Option<std::net::IpAddr>,
    /// The distribution port [default: any free port]; a fixed one is easier to open in a firewall.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Run the demonstration over plain TCP instead of mutual TLS.
    #[arg(long)]
    tcp: bool,
    /// The distribution firewall policy (TOML; re-read when it changes and on SIGHUP).
    #[arg(long, value_name = "FILE")]
    firewall: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = if args.sname.is_some() || args.name.is_some() {
        rt.block_on(run_node(args))
    } else {
        rt.block_on(demo::run(args.tcp))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The transport the options ask for: mutual TLS when certificates are given.
fn transport(args: &Args) -> Result<Option<Arc<dyn Transport>>, String> {
    let config = match (&args.ssl_dist_optfile, &args.ca, &args.cert, &args.key) {
        (Some(optfile), ..) => TlsConfig::from_ssl_dist_optfile_ignoring(optfile, &args.ignore_optfile_options)
            .map_err(|e| e.to_string())?,
        (None, Some(ca), Some(cert), Some(key)) => TlsConfig::from_files(ca, cert, key),
        _ if args.key_password_file.is_some() => return Err("--key-password-file needs TLS settings".into()),
        _ => return Ok(None),
    };
    let config = match &args.key_password_file {
        Some(file) => {
            let password = KeyPassword::from_file(file).map_err(|e| format!("--key-password-file {e}"))?;
            config.key_password(password.clone()).client_key_password(password)
        }
        None => config,
    };
    let config = config.verify_name(args.verify_name.parse().map_err(|e| format!("--verify-name: {e}"))?);
    let transport = TlsTransport::new(config).map_err(|e| e.to_string())?;
    Ok(Some(Arc::new(transport)))
}

/// Runs one cache node until SIGINT or SIGTERM.
async fn run_node(args: Args) -> Result<(), String> {
    let name = match (&args.sname, &args.name) {
        (Some(s), _) if s.contains('@') => s.clone(),
        (Some(s), _) => format!("{s}@{}", beamlink::node::hostname::short_hostname()),
        (None, Some(n)) => n.clone(),
        (None, None) => return Err("give --sname or --name".into()),
    };
    // A bad policy file is refused before the node starts, so it never runs unprotected.
    let policy = args.firewall.as_ref().map(PolicyFile::load).transpose().map_err(|e| e.to_string())?;
    let mut builder: NodeBuilder = Node::builder(&name).cookie(args.cookie.clone());
    let port = args.port.unwrap_or(0);
    builder = match args.address {
        Some(ip) => builder.listen(std::net::SocketAddr::new(ip, port)),
        None => builder.listen_port(port),
    };
    if let Some(t) = transport(&args)? {
        builder = builder.transport_arc(t);
    }
    if let Some(policy) = &policy {
        builder = builder.firewall(policy.firewall());
    }
    let node = builder.start().await.map_err(|e| e.to_string())?;
    if let Some(policy) = &policy {
        policy.apply_to(&node);
        policy.watch(Duration::from_secs(10)).map_err(|e| e.to_string())?;
        policy.reload_on_sighup().map_err(|e| e.to_string())?;
    }
    cache::start(&node).await.map_err(|e| e.to_string())?;
    for peer in &args.join {
        node.keep_connected(peer).map_err(|e| e.to_string())?;
    }
    println!("ready {}", node.name());
    let _ = std::io::stdout().flush();
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    node.shutdown().await;
    Ok(())
}

/// What the cache answers to, and what it answers: the shapes of the
/// original Simple Cache, as Rust types (beamlink's serde conventions turn
/// them into the terms Erlang sends and matches).
mod protocol {
    use super::*;

    /// A gen_server call to the cache.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub enum Request {
        /// `{insert, Key, Value}` or `{insert, Key, Value, TtlSeconds}` → `ok`.
        #[serde(rename = "#insert")]
        Insert {
            key: Term,
            value: Term,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ttl: Option<u64>,
        },
        /// `{lookup, Key}` → `{ok, Value}` or `{error, not_found}`.
        Lookup(Term),
        /// `{delete, Key}` → `ok`.
        Delete(Term),
    }

    /// Why a call failed: `{error, not_found}`, `{error, badarg}`.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub enum CacheError {
        NotFound,
        Badarg,
    }

    /// `ok` (`Ok(None)`), `{ok, Value}` (`Ok(Some(Value))`) or `{error, Why}`.
    pub type Reply = Result<Option<Term>, CacheError>;
}

/// The cache service: a gen_server on every node, registered as
/// `simple_cache`, under a supervisor that restarts it if it crashes.
///
/// Requests are [`protocol::Request`]s (gen_server calls, from Rust or
/// Erlang); a request of another shape is answered `{error, badarg}`.
///
/// Replication: every change is sent to the `simple_cache` process of every
/// connected node as `{simple_cache_sync, [{Key, Entry}]}`; when a node comes
/// up, each side sends the other everything it holds, so a node that joins
/// late gets the current contents. Conflicts resolve by last writer (time,
/// then node name); deletes leave tombstones so a stale copy cannot
/// resurrect an entry; entries carry their absolute expiry time, so they
/// expire everywhere.
mod cache {
    use super::protocol::{CacheError, Reply, Request};
    use super::*;

    /// The registered name.
    pub const NAME: &str = "simple_cache";
    /// How long a delete is remembered.
    const TOMBSTONE_TTL_MS: u64 = 10 * 60 * 1000;
    /// How often expired entries are dropped.
    const SWEEP_EVERY: Duration = Duration::from_millis(250);

    /// One key's state, as replicas exchange it: `{entry, Slot, {Millis, Node}, Expiry}`.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[serde(rename = "#entry")]
    struct Entry {
        slot: Slot,
        /// Milliseconds since the epoch when written, and by which node.
        version: (u64, Atom),
        /// Milliseconds since the epoch after which the entry is gone; `undefined` for never.
        expires_at: Option<u64>,
    }

    /// `{value, V}`, or `deleted` for a tombstone.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    enum Slot {
        Value(Term),
        Deleted,
    }

    /// What the cache takes besides calls.
    #[derive(Serialize, Deserialize, Debug)]
    enum Info {
        /// `{simple_cache_sync, [{Key, Entry}]}` from a peer's cache.
        SimpleCacheSync(Vec<(Term, Entry)>),
        /// `{nodeup, Node}` (the cache monitors nodes).
        Nodeup(Atom),
        /// From the cache's own ticker.
        Sweep,
    }

    fn now_ms() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    impl Entry {
        fn expired(&self, now: u64) -> bool {
            self.expires_at.is_some_and(|t| t <= now)
        }
    }

    #[derive(Default)]
    struct Cache {
        entries: HashMap<Term, Entry>,
        me: Option<Atom>,
        clock: u64,
    }

    impl Cache {
        /// A version newer than anything this node wrote before.
        fn next_version(&mut self) -> (u64, Atom) {
            self.clock = now_ms().max(self.clock + 1);
            (self.clock, self.me.clone().unwrap_or_else(|| Atom::new("nonode@nohost")))
        }

        /// Writes locally; returns what to replicate.
        fn write(&mut self, key: Term, slot: Slot, ttl_seconds: Option<u64>) -> (Term, Entry) {
            let expires_at = ttl_seconds.map(|s| now_ms() + s.saturating_mul(1000));
            let entry = Entry { slot, version: self.next_version(), expires_at };
            self.entries.insert(key.clone(), entry.clone());
            (key, entry)
        }

        /// Keeps whichever of the two entries was written last.
        fn merge(&mut self, key: Term, incoming: Entry) {
            match self.entries.get(&key) {
                Some(current) if current.version >= incoming.version => {}
                _ => {
                    self.entries.insert(key, incoming);
                }
            }
        }

        fn lookup(&self, key: &Term) -> Option<&Term> {
            match self.entries.get(key).filter(|e| !e.expired(now_ms())) {
                Some(Entry { slot: Slot::Value(v), .. }) => Some(v),
                _ => None,
            }
        }

        /// Drops expired entries and old tombstones.
        fn sweep(&mut self) {
            let now = now_ms();
            self.entries.retain(|_, e| {
                !e.expired(now) && (matches!(e.slot, Slot::Value(_)) || e.version.0 + TOMBSTONE_TTL_MS > now)
            });
        }
    }

    /// Sends entries to the cache on every connected node.
    async fn replicate(me: &Process, entries: Vec<(Term, Entry)>) {
        let sync = Info::SimpleCacheSync(entries);
        for peer in me.node().connected_nodes() {
            let _ = me.send_named_as(NAME, peer.as_str(), &sync).await;
        }
    }

    impl GenServer for Cache {
        type Call = Request;
        type Reply = Reply;
        type Cast = ();

        async fn init(&mut self, me: &mut Process) -> Result<(), Term> {
            self.me = Some(me.node().name().atom().clone());
            me.monitor_nodes(true);
            // A ticker that sends `sweep`, and ends when the cache does.
            let cache = me.pid().clone();
            me.node().spawn(move |mut ticker: Process| async move {
                ticker.monitor(&cache);
                loop {
                    tokio::select! {
                        _ = ticker.recv() => return,
                        () = tokio::time::sleep(SWEEP_EVERY) => {
                            if ticker.send_as(&cache, &Info::Sweep).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            Ok(())
        }

        async fn handle_call(&mut self, request: Request, _from: &ReplyTo, me: &mut Process) -> CallOutcome<Reply> {
            let changed = match request {
                Request::Insert { key, value, ttl } => self.write(key, Slot::Value(value), ttl),
                Request::Delete(key) => self.write(key, Slot::Deleted, None),
                Request::Lookup(key) => {
                    return CallOutcome::Reply(self.lookup(&key).cloned().map(Some).ok_or(CacheError::NotFound));
                }
            };
            replicate(me, vec![changed]).await;
            CallOutcome::Reply(Ok(None))
        }

        async fn handle_info(&mut self, msg: Term, me: &mut Process) -> Outcome {
            match from_term::<Info>(&msg) {
                Ok(Info::SimpleCacheSync(entries)) => {
                    for (key, entry) in entries {
                        self.merge(key, entry);
                    }
                }
                // A node came up: give it everything we hold (it does the same for us).
                Ok(Info::Nodeup(peer)) => {
                    let all = self.entries.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
                    let _ = me.send_named_as(NAME, peer.as_str(), &Info::SimpleCacheSync(all)).await;
                }
                Ok(Info::Sweep) => self.sweep(),
                // nodedown, and anything else.
                Err(_) => {}
            }
            Outcome::Continue
        }

        fn bad_request(&self, _request: &Term, _error: &ConvertError) -> Term {
            to_term(&Reply::Err(CacheError::Badarg)).unwrap_or_else(|_| Term::atom("badarg"))
        }

        fn state(&self) -> Option<Term> {
            Some(Term::from(self.entries.len() as u64))
        }
    }

    /// Starts the cache on `node`, under a supervisor (`simple_cache_sup`).
    pub async fn start(node: &Node) -> Result<(), StartError> {
        let tree = Supervisor::new(Strategy::OneForOne)
            .intensity(5, Duration::from_secs(10))
            .child(ChildSpec::gen_server("cache", Some(NAME), Cache::default));
        node.start_supervisor(tree, Some("simple_cache_sup")).await?;
        Ok(())
    }
}

/// The one-machine demonstration.
mod demo {
    use super::*;

    const COOKIE: &str = "simple_cache_demo";
    const T: Duration = Duration::from_secs(10);

    /// A cache node running as a child process of the demo.
    struct CacheNode {
        name: String,
        child: Child,
    }

    impl Drop for CacheNode {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn say(step: &str) {
        println!("{step}");
        let _ = std::io::stdout().flush();
    }

    /// Throwaway certificates: a CA, and one certificate per node name.
    fn make_certificates(dir: &Path, nodes: &[&str]) -> Result<(), String> {
        use beamlink::certs::{CaOptions, IssueOptions, init_ca, issue};
        init_ca(&CaOptions::new(dir).name("simple_cache demo CA").days(2)).map_err(|e| e.to_string())?;
        for node in nodes {
            issue(&IssueOptions::new(dir, *node).days(1)).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn tls_args(dir: &Path, node: &str) -> Vec<String> {
        vec![
            "--ca".into(),
            dir.join("ca.pem").display().to_string(),
            "--cert".into(),
            dir.join(format!("{node}.pem")).display().to_string(),
            "--key".into(),
            dir.join(format!("{node}.key")).display().to_string(),
        ]
    }

    /// Starts `simple_cache --sname NAME ...` and waits for its `ready` line.
    fn start_node(name: &str, join: &[&str], certs: Option<&Path>, epmd_port: u16) -> Result<CacheNode, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args(["--sname", name, "--cookie", COOKIE]);
        for j in join {
            cmd.args(["--join", j]);
        }
        if let Some(dir) = certs {
            cmd.args(tls_args(dir, name));
        }
        cmd.env("ERL_EPMD_PORT", epmd_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let node = CacheNode { name: name.to_string(), child };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.trim() == format!("ready {name}") => Ok(node),
            Ok(line) => Err(format!("{name} printed {line:?} instead of `ready {name}`")),
            Err(_) => Err(format!("{name} did not become ready within 30 s")),
        }
    }

    /// A gen_server call to `simple_cache` on `node`.
    async fn call(p: &mut Process, node: &str, request: &Request) -> Result<Reply, String> {
        let cache = GenServerRef::named(cache::NAME, node);
        cache.call(p, request, T).await.map_err(|e| format!("call to {node} failed: {e}"))
    }

    /// A reply as Erlang prints it.
    fn shown(reply: &Reply) -> String {
        to_term(reply).map(|t| t.to_string()).unwrap_or_else(|e| format!("{reply:?} ({e})"))
    }

    fn expect(what: &str, got: &Reply, want: &Reply) -> Result<(), String> {
        if got == want {
            say(&format!("   ok: {what} -> {}", shown(got)));
            Ok(())
        } else {
            Err(format!("{what}: expected {}, got {}", shown(want), shown(got)))
        }
    }

    fn insert(key: &str, value: Term, ttl: Option<u64>) -> Request {
        Request::Insert { key: Term::atom(key), value, ttl }
    }

    const OK: Reply = Ok(None);

    /// Runs the whole demonstration.
    pub async fn run(tcp: bool) -> Result<(), String> {
        let started = Instant::now();
        let transport_word = if tcp { "plain TCP" } else { "mutual TLS" };
        say(&format!("Simple Cache demo: three cache nodes on this machine, over {transport_word}."));
        let [a, b, c] = ["cache_a@localhost", "cache_b@localhost", "cache_c@localhost"];
        let client_name = "cache_client@localhost";
        let dir = std::env::temp_dir().join(format!("simple_cache_demo_{}", std::process::id()));
        let _cleanup = RemoveOnDrop(dir.clone());
        let certs = if tcp {
            None
        } else {
            say(&format!(
                "1. Making a throwaway certificate authority and four node certificates in {}",
                dir.display()
            ));
            make_certificates(&dir, &[a, b, c, client_name])?;
            Some(dir.as_path())
        };

        // This process is a node too (the client); it hosts the EPMD the
        // cache nodes register with, on a private port.
        let epmd_port = free_port()?;
        let mut builder = Node::builder(client_name).cookie(COOKIE).epmd_port(epmd_port).hidden(true);
        if let Some(dir) = certs {
            let config = TlsConfig::from_files(
                dir.join("ca.pem"),
                dir.join(format!("{client_name}.pem")),
                dir.join(format!("{client_name}.key")),
            );
            builder = builder.tls(config).map_err(|e| e.to_string())?;
        }
        let client = builder.start().await.map_err(|e| e.to_string())?;
        let mut p = client.process();

        say(&format!("2. Starting {a} and {b} as separate processes (EPMD on port {epmd_port})"));
        let node_a = start_node(a, &[], certs, epmd_port)?;
        let node_b = start_node(b, &[a], certs, epmd_port)?;
        say(&format!(
            "   {} (pid {}) and {} (pid {}) are up",
            node_a.name,
            node_a.child.id(),
            node_b.name,
            node_b.child.id()
        ));

        let key = Term::atom("greeting");
        let value = Term::binary(&b"hello from A"[..]);
        say(&format!("3. Inserting {{greeting, <<\"hello from A\">>}} on {a}"));
        expect("insert on A", &call(&mut p, a, &insert("greeting", value.clone(), None)).await?, &OK)?;
        let found: Reply = Ok(Some(value.clone()));
        say(&format!("4. Reading greeting on {b}"));
        wait_until(&mut p, b, &key, &found).await?;

        say(&format!("5. Starting {c}, which joins later and must receive the current contents"));
        let node_c = start_node(c, &[b], certs, epmd_port)?;
        wait_until(&mut p, c, &key, &found).await?;

        say("6. Inserting {session, 42} on B with a time-to-live of 2 seconds");
        let session = Term::atom("session");
        expect("insert on B", &call(&mut p, b, &insert("session", Term::from(42), Some(2))).await?, &OK)?;
        wait_until(&mut p, c, &session, &Ok(Some(Term::from(42)))).await?;
        let not_found: Reply = Err(CacheError::NotFound);
        say("   waiting for it to expire...");
        tokio::time::sleep(Duration::from_millis(2300)).await;
        for node in [a, b, c] {
            wait_until(&mut p, node, &session, &not_found).await?;
        }

        say(&format!("7. Deleting a key on {c}: inserting {{doomed, yes}} on A, deleting it on C"));
        let doomed = Term::atom("doomed");
        expect("insert on A", &call(&mut p, a, &insert("doomed", Term::atom("yes"), None)).await?, &OK)?;
        wait_until(&mut p, c, &doomed, &Ok(Some(Term::atom("yes")))).await?;
        expect("delete on C", &call(&mut p, c, &Request::Delete(doomed.clone())).await?, &OK)?;
        wait_until(&mut p, a, &doomed, &not_found).await?;

        let mut step = 8;
        if let Some(dir) = certs {
            say(&format!("{step}. A node whose certificate comes from another CA tries to read the cache"));
            let reason = intruder_is_turned_away(dir, b, epmd_port).await?;
            say(&format!("   turned away: {reason}"));
            step += 1;
        }
        say(&format!("{step}. A stock erl node reads greeting on {b} over {transport_word}"));
        match erl_reads(certs, &dir, b, &key, epmd_port)? {
            Some(read) => say(&format!("   ok: an erl node read greeting from {b}: {read}")),
            None => say("   left out: erl is not on PATH"),
        }
        step += 1;

        say(&format!("{step}. Killing {a} (pid {}) with SIGKILL", node_a.child.id()));
        drop(node_a);
        say(&format!("   {b} and {c} still serve what was inserted on A:"));
        wait_until(&mut p, b, &key, &found).await?;
        wait_until(&mut p, c, &key, &found).await?;
        let after = insert("after", Term::atom("the_crash"), None);
        expect("insert on B after the crash", &call(&mut p, b, &after).await?, &OK)?;
        wait_until(&mut p, c, &Term::atom("after"), &Ok(Some(Term::atom("the_crash")))).await?;

        drop(node_b);
        drop(node_c);
        client.shutdown().await;
        say(&format!(
            "All steps behaved ({:.1} s). The cache replicated, joined, expired and survived a crash.",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// A node with a certificate from a CA of its own dials `target`; the
    /// reason it was refused, or an error if it got in.
    async fn intruder_is_turned_away(dir: &Path, target: &str, epmd_port: u16) -> Result<String, String> {
        let other = dir.join("other_ca");
        let intruder = "intruder@localhost";
        make_certificates(&other, &[intruder])?;
        let config = TlsConfig::from_files(
            other.join("ca.pem"),
            other.join(format!("{intruder}.pem")),
            other.join(format!("{intruder}.key")),
        );
        let node = Node::builder(intruder)
            .cookie(COOKIE)
            .epmd_port(epmd_port)
            .no_listen()
            .hidden(true)
            .tls(config)
            .map_err(|e| e.to_string())?
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let outcome = node.connect(target).await;
        node.shutdown().await;
        match outcome {
            Ok(()) => Err(format!("{intruder}, certified by another CA, was let into {target}")),
            Err(e) => Ok(e.to_string()),
        }
    }

    /// When `erl` is on PATH: an erl node (over TLS with its own optfile
    /// when `certs` is given) asks `node` for `key`, as any Erlang client would.
    fn erl_reads(
        certs: Option<&Path>,
        dir: &Path,
        node: &str,
        key: &Term,
        epmd_port: u16,
    ) -> Result<Option<String>, String> {
        let Ok(found) = Command::new("erl").args(["-noshell", "-eval", "halt()."]).stdout(Stdio::null()).status()
        else {
            return Ok(None);
        };
        if !found.success() {
            return Ok(None);
        }
        let reader = "erl_reader@localhost";
        let mut cmd = Command::new("erl");
        cmd.args(["-noshell", "-sname", reader, "-setcookie", COOKIE]).env("ERL_EPMD_PORT", epmd_port.to_string());
        if let Some(certs) = certs {
            beamlink::certs::issue(&beamlink::certs::IssueOptions::new(certs, reader).days(1))
                .map_err(|e| e.to_string())?;
            let config = beamlink::certs::erlang_config(certs, reader).map_err(|e| e.to_string())?;
            let config = config.at(&dir.join("erl_reader.conf")).map_err(|e| e.to_string())?;
            config.write(true).map_err(|e| e.to_string())?;
            cmd.args(["-proto_dist", "inet_tls", "-ssl_dist_optfile"]).arg(&config.optfile_path);
        }
        let eval = format!(
            "io:format(\"~p~n\", [gen_server:call({{simple_cache, '{node}'}}, {{lookup, {key}}}, 10000)]), halt()."
        );
        cmd.args(["-eval", &eval]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start erl: {e}"))?;
        let deadline = Instant::now() + T;
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the erl node did not read from {node} within {T:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let read = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if read.starts_with("{ok,") {
            Ok(Some(read))
        } else {
            Err(format!("the erl node read {read:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// Looks `key` up on `node` until it gives `want` (replication takes a moment).
    async fn wait_until(p: &mut Process, node: &str, key: &Term, want: &Reply) -> Result<(), String> {
        let deadline = Instant::now() + T;
        let request = Request::Lookup(key.clone());
        loop {
            let got = call(p, node, &request).await?;
            if got == *want {
                return expect(&format!("lookup {key} on {node}"), &got, want);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "lookup {key} on {node}: expected {}, still {} after {T:?}",
                    shown(want),
                    shown(&got)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A free port for the demo's EPMD, below Linux's ephemeral range so that
    /// no outgoing connection takes it before the EPMD binds it.
    fn free_port() -> Result<u16, String> {
        let start = 20_000 + (std::process::id() % 12_000) as u16;
        (0..12_000u16)
            .map(|i| 20_000 + (start - 20_000 + i) % 12_000)
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .ok_or_else(|| "no free port for the demo's EPMD".to_string())
    }

    /// Removes the demo's certificate folder when the demo ends.
    struct RemoveOnDrop(PathBuf);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
