//! The Simple Cache example: the demo itself (over TLS and TCP), Erlang and
//! Rust clients on the same cache, a node joining later, and expiry.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use beamlink::term::{Term, parse};
use common::erl::{ErlName, ErlNode, ErlOptions, OtpEpmd};
use common::rust::{BeamlinkProcess, TestNode};

const T: Duration = Duration::from_secs(30);

/// The example binary cargo built next to this test.
fn example() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps.parent().unwrap().parent().unwrap().join("examples").join("simple_cache");
    assert!(path.exists(), "{} is missing: run the tests with --all-features", path.display());
    path
}

fn run_demo(args: &[&str]) -> String {
    let started = Instant::now();
    let out = Command::new(example()).args(args).output().expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "demo {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("All steps behaved"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(120));
    if common::erlang_or_skip() {
        assert!(stdout.contains("ok: an erl node read greeting from cache_b@localhost"), "{stdout}");
    }
    stdout
}

#[test]
fn the_demo_runs_over_mutual_tls() {
    let stdout = run_demo(&[]);
    // What TLS buys, shown as a step: a certificate from another CA is turned away.
    let turned_away = stdout.lines().find(|l| l.contains("turned away:")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(turned_away.contains("refused the server's certificate"), "{turned_away}");
}

#[test]
fn the_demo_runs_over_plain_tcp() {
    let stdout = run_demo(&["--tcp"]);
    assert!(!stdout.contains("turned away"), "{stdout}");
}

/// A cache node (the example as a long-lived node) on a private EPMD.
fn cache_node(epmd: &OtpEpmd, name: &str, join: &[&str], extra: &[String]) -> BeamlinkProcess {
    let mut cmd = Command::new(example());
    cmd.args(["--sname", name, "--cookie", "sc"]).env("ERL_EPMD_PORT", epmd.port.to_string());
    for j in join {
        cmd.args(["--join", j]);
    }
    cmd.args(extra);
    BeamlinkProcess::spawn(cmd)
}

fn call(client: &TestNode, node: &str, request: &str) -> Term {
    let n = client.node.clone();
    let node = node.to_string();
    let request = parse(request).unwrap();
    client.run(T, async move {
        let mut p = n.process();
        p.call_named("simple_cache", &node, request, T).await.expect("call simple_cache")
    })
}

/// Polls a lookup until it answers `want`.
fn wait_lookup(client: &TestNode, node: &str, key: &str, want: &str) {
    let want = parse(want).unwrap();
    common::wait_for(&format!("lookup {key} on {node} to give {want}"), T, || {
        (call(client, node, &format!("{{lookup, {key}}}")) == want).then_some(())
    });
}

#[test]
fn erlang_and_rust_clients_share_the_cache() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let a = cache_node(&epmd, &format!("{}@localhost", common::unique_name("ca")), &[], &[]);
    let b = cache_node(&epmd, &format!("{}@localhost", common::unique_name("cb")), &[&a.node], &[]);
    let client = TestNode::short("client", "sc", epmd.port);
    let mut erl = ErlNode::start_short(&common::unique_name("erl"), "sc", epmd.port);

    // erl inserts on A (the original Simple Cache's call shapes); Rust reads on B.
    assert_eq!(
        erl.eval(&format!(
            "gen_server:call({{simple_cache, '{}'}}, {{insert, {{user, 1}}, #{{name => <<\"Ada\">>}}}})",
            a.node
        )),
        "ok"
    );
    wait_lookup(&client, &b.node, "{user, 1}", "{ok, #{name => <<\"Ada\">>}}");
    // Rust inserts on B; erl reads on A.
    assert_eq!(call(&client, &b.node, "{insert, [list, \"key\"], 3.5}"), Term::atom("ok"));
    let lookup = format!("gen_server:call({{simple_cache, '{}'}}, {{lookup, [list, \"key\"]}})", a.node);
    common::wait_for("erl to read Rust's insert", T, || (erl.eval(&lookup) == "{ok,3.5}").then_some(()));
    assert_eq!(
        erl.eval(&format!("gen_server:call({{simple_cache, '{}'}}, {{lookup, nothing}})", a.node)),
        "{error,not_found}"
    );
    assert_eq!(erl.eval(&format!("gen_server:call({{simple_cache, '{}'}}, {{delete, {{user, 1}}}})", b.node)), "ok");
    wait_lookup(&client, &a.node, "{user, 1}", "{error, not_found}");
}

#[test]
fn a_node_that_joins_later_receives_the_current_contents() {
    let epmd = OtpEpmd::start();
    let a = cache_node(&epmd, &format!("{}@localhost", common::unique_name("ja")), &[], &[]);
    let client = TestNode::short("client", "sc", epmd.port);
    for i in 0..50 {
        assert_eq!(call(&client, &a.node, &format!("{{insert, {i}, <<\"v{i}\">>}}")), Term::atom("ok"));
    }
    let late = cache_node(&epmd, &format!("{}@localhost", common::unique_name("jb")), &[&a.node], &[]);
    wait_lookup(&client, &late.node, "49", "{ok, <<\"v49\">>}");
    for i in 0..50 {
        assert_eq!(
            call(&client, &late.node, &format!("{{lookup, {i}}}")),
            parse(&format!("{{ok, <<\"v{i}\">>}}")).unwrap()
        );
    }
    // And a node that leaves does not take the data with it.
    drop(a);
    assert_eq!(call(&client, &late.node, "{lookup, 7}"), parse("{ok, <<\"v7\">>}").unwrap());
}

#[test]
fn entries_with_a_time_to_live_expire_everywhere() {
    let epmd = OtpEpmd::start();
    let a = cache_node(&epmd, &format!("{}@localhost", common::unique_name("ta")), &[], &[]);
    let b = cache_node(&epmd, &format!("{}@localhost", common::unique_name("tb")), &[&a.node], &[]);
    let client = TestNode::short("client", "sc", epmd.port);
    assert_eq!(call(&client, &a.node, "{insert, short_lived, 1, 1}"), Term::atom("ok"));
    assert_eq!(call(&client, &a.node, "{insert, long_lived, 2}"), Term::atom("ok"));
    wait_lookup(&client, &b.node, "short_lived", "{ok, 1}");
    let inserted = Instant::now();
    for node in [&a.node, &b.node] {
        wait_lookup(&client, node, "short_lived", "{error, not_found}");
    }
    assert!(inserted.elapsed() >= Duration::from_millis(500), "expired too early");
    wait_lookup(&client, &b.node, "long_lived", "{ok, 2}");
    assert_eq!(call(&client, &a.node, "{insert, bad_ttl, 1, forever}"), parse("{error, badarg}").unwrap());
}

#[test]
fn an_erlang_node_uses_the_cache_over_tls() {
    if !common::erlang_or_skip() {
        return;
    }
    use beamlink::certs::{CaOptions, IssueOptions, erlang_config, init_ca, issue};
    let dir = tempfile::tempdir().unwrap();
    let epmd = OtpEpmd::start();
    let cache = format!("{}@localhost", common::unique_name("tlscache"));
    let erl_alive = common::unique_name("tlserl");
    let erl_name = format!("{erl_alive}@localhost");
    init_ca(&CaOptions::new(dir.path()).days(2)).unwrap();
    issue(&IssueOptions::new(dir.path(), &cache).days(1)).unwrap();
    issue(&IssueOptions::new(dir.path(), &erl_name).days(1)).unwrap();
    let conf = erlang_config(dir.path(), &erl_name).unwrap();
    conf.write(false).unwrap();
    let file = |n: &str| dir.path().join(n).display().to_string();
    let tls = vec![
        "--ca".into(),
        file("ca.pem"),
        "--cert".into(),
        file(&format!("{cache}.pem")),
        "--key".into(),
        file(&format!("{cache}.key")),
    ];
    let node = cache_node(&epmd, &cache, &[], &tls);
    let mut erl = ErlNode::start(ErlOptions {
        name: ErlName::Short(erl_alive),
        cookie: "sc".into(),
        epmd_port: epmd.port,
        extra_args: vec![
            "-proto_dist".into(),
            "inet_tls".into(),
            "-ssl_dist_optfile".into(),
            conf.optfile_path.display().to_string(),
        ],
    });
    assert_eq!(
        erl.eval(&format!("gen_server:call({{simple_cache, '{}'}}, {{insert, secret, <<\"over tls\">>}})", node.node)),
        "ok"
    );
    assert_eq!(
        erl.eval(&format!("gen_server:call({{simple_cache, '{}'}}, {{lookup, secret}})", node.node)),
        "{ok,<<\"over tls\">>}"
    );
}

#[test]
fn a_cache_node_under_a_policy_file_serves_the_cache_and_nothing_else() {
    let epmd = OtpEpmd::start();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("cache-policy.toml");
    std::fs::write(
        &policy,
        "[default]\nspawn = false\nexit_signals = false\ngroup_leader = false\nrpc = []\nnames = [\"simple_cache\"]\n",
    )
    .unwrap();
    let firewall = vec!["--firewall".to_string(), policy.display().to_string()];
    let node = cache_node(&epmd, &format!("{}@localhost", common::unique_name("fwc")), &[], &firewall);
    let client = TestNode::short("client", "sc", epmd.port);
    assert_eq!(call(&client, &node.node, "{insert, k, <<\"v\">>}"), Term::atom("ok"));
    assert_eq!(call(&client, &node.node, "{lookup, k}"), parse("{ok, <<\"v\">>}").unwrap());
    let n = client.node.clone();
    let target = node.node.clone();
    match client.run(T, async move { n.rpc_call(&target, "erlang", "node", vec![], T).await }) {
        Err(beamlink::node::CallError::BadRpc(r)) => assert_eq!(r.to_string(), "{'EXIT',not_allowed}"),
        other => panic!("the policy file let an rpc through: {other:?}"),
    }

    // A bad file: the node refuses to start, naming the line.
    std::fs::write(&policy, "[default]\nnames = \"simple_cache\"\n").unwrap();
    let mut child = Command::new(example())
        .args(["--sname", &format!("{}@localhost", common::unique_name("fwbad")), "--firewall"])
        .arg(&policy)
        .env("ERL_EPMD_PORT", epmd.port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for("the example to exit", T, || child.try_wait().unwrap());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a bad policy file");
    assert!(stderr.contains("line 2: `names` in [default] must be a list of strings, not a string"), "{stderr}");
}

#[test]
fn elixir_clients_use_the_cache_with_the_same_calls() {
    if !common::erlang_or_skip() {
        return;
    }
    if !common::elixir_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let a = cache_node(&epmd, &format!("{}@localhost", common::unique_name("ca")), &[], &[]);
    let b = cache_node(&epmd, &format!("{}@localhost", common::unique_name("cb")), &[&a.node], &[]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cache.exs");
    std::fs::write(
        &script,
        r##"
[a, b] = System.argv() |> Enum.map(&String.to_atom/1)
say = fn label, value -> IO.puts("#{label} #{inspect(value)}") end
say.("INSERT", GenServer.call({:simple_cache, a}, {:insert, :lang, "elixir"}))
wait = fn wait, n ->
  case GenServer.call({:simple_cache, b}, {:lookup, :lang}) do
    {:ok, v} -> v
    _ when n > 0 -> Process.sleep(50); wait.(wait, n - 1)
    other -> other
  end
end
say.("LOOKUP_B", wait.(wait, 200))
say.("TTL", GenServer.call({:simple_cache, b}, {:insert, :short, 1, 60}))
say.("BAD", GenServer.call({:simple_cache, b}, {:insert, :short, 1, :forever}))
say.("DELETE", GenServer.call({:simple_cache, a}, {:delete, :lang}))
say.("MISSING", GenServer.call({:simple_cache, a}, {:lookup, :lang}))
say.("STATE", match?({:ok, n} when is_integer(n), :sys.get_state({:simple_cache, a})) or is_integer(:sys.get_state({:simple_cache, a})))
"##,
    )
    .unwrap();
    let me = format!("{}@localhost", common::unique_name("ex_cache"));
    let out = common::output_within(
        "elixir cache.exs",
        Command::new("elixir")
            .args(["--sname", &me, "--cookie", "sc"])
            .arg(&script)
            .args([&a.node, &b.node])
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0"),
        T,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "elixir failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "INSERT :ok",
            "LOOKUP_B \"elixir\"",
            "TTL :ok",
            "BAD {:error, :badarg}",
            "DELETE :ok",
            "MISSING {:error, :not_found}",
            "STATE true"
        ],
        "{stdout}"
    );
}
