use super::*;

const BRIEF: &str = r#"
[default]                 # applies to every peer without a [peer] entry
spawn = false
exit_signals = false
group_leader = false
rpc = ["calc:add", "cache:*"]
names = ["inbox", "cache"]

[peer."admin@ops.example.com"]
spawn = true
exit_signals = true
group_leader = true
rpc = ["*"]
names = ["*"]
"#;

fn parse_ok(text: &str) -> Firewall {
    Firewall::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> PolicyFileError {
    match Firewall::from_toml_str(text) {
        Ok(fw) => panic!("accepted {text:?} as {fw:?}"),
        Err(e) => e,
    }
}

/// Asserts that `text` is refused with an error on `line` whose message has every needle.
fn refused(text: &str, line: usize, needles: &[&str]) -> PolicyFileError {
    let e = parse_err(text);
    let message = e.to_string();
    assert_eq!(e.line(), Some(line), "{message}");
    assert!(message.starts_with(&format!("line {line}: ")), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} missing from {message:?}");
    }
    e
}

fn names(list: &[&str]) -> NameRule {
    NameRule::Only(list.iter().map(|s| s.to_string()).collect())
}

#[test]
fn the_documented_example_parses() {
    let fw = parse_ok(BRIEF);
    let web = fw.policy_for("web@app.example.com");
    assert!(!web.spawn && !web.exit_signals && !web.group_leader);
    assert_eq!(web.rpc, RpcRule::Only(vec![("calc".into(), Some("add".into())), ("cache".into(), None)]));
    assert!(web.rpc.allows("calc", "add") && web.rpc.allows("cache", "anything"));
    assert!(!web.rpc.allows("calc", "sub") && !web.rpc.allows("os", "cmd"));
    assert_eq!(web.names, names(&["inbox", "cache", "net_kernel"]), "net_kernel stays reachable");
    assert_eq!(fw.policy_for("admin@ops.example.com"), &Policy::allow_all());
    assert!(!fw.allows_everything());
}

#[test]
fn keys_left_out_take_the_allow_all_values() {
    assert!(parse_ok("").allows_everything());
    assert!(parse_ok("# nothing but a comment\n").allows_everything());
    assert!(parse_ok("[default]\n").allows_everything());
    assert!(parse_ok("[default]\n[peer.\"a@b\"]\n").allows_everything());
    let fw = parse_ok("[default]\nspawn = false\n");
    let p = fw.policy_for("x@y");
    assert!(!p.spawn);
    assert_eq!(Policy { spawn: true, ..p.clone() }, Policy::allow_all());
    // A [peer] entry does not inherit from [default].
    let fw = parse_ok("[default]\nspawn = false\nrpc = []\n[peer.\"a@b\"]\nexit_signals = false\n");
    let peer = fw.policy_for("a@b");
    assert!(peer.spawn && peer.rpc == RpcRule::All && !peer.exit_signals);
    assert_eq!(fw.policy_for("c@d").rpc, RpcRule::None);
}

#[test]
fn empty_and_wildcard_lists() {
    let fw = parse_ok("[default]\nrpc = []\nnames = []\n");
    let p = fw.policy_for("x@y");
    assert_eq!(p.rpc, RpcRule::None);
    assert_eq!(p.names, names(&["net_kernel"]), "pings survive names = []");
    let fw = parse_ok("[default]\nrpc = [\"calc:add\", \"*\"]\nnames = [\"inbox\", \"*\"]\n");
    assert_eq!(fw.policy_for("x@y").rpc, RpcRule::All, "\"*\" anywhere allows every call");
    assert_eq!(fw.policy_for("x@y").names, NameRule::All);
    let fw = parse_ok("[default]\nrpc = [\n  \"calc:add\",\n  \"calc:add\",\n  \"Elixir.Cache:get\",\n]\n");
    assert!(fw.policy_for("x@y").rpc.allows("Elixir.Cache", "get"));
}

#[test]
fn other_toml_spellings_of_the_same_tables() {
    let inline = parse_ok("default = { spawn = false, names = [\"inbox\"] }\npeer = { \"a@b\" = { spawn = true } }\n");
    let dotted = parse_ok("default.spawn = false\ndefault.names = ['inbox']\npeer.'a@b'.spawn = true\n");
    let tables = parse_ok("[default]\nspawn = false\nnames = [\"inbox\"]\n[peer.\"a@b\"]\nspawn = true\n");
    assert_eq!(inline, tables);
    assert_eq!(dotted, tables);
}

#[test]
fn patterns_and_their_precedence() {
    let fw = parse_ok(
        r#"
[default]
spawn = false
[peer."*@ops.example.com"]
exit_signals = false
[peer."backup@*"]
group_leader = false
[peer."backup@ops.example.com"]
rpc = []
[peer."admin@10.0.0.1"]
names = []
[peer."admin@::1"]
"#,
    );
    assert_eq!(fw.policy_for("backup@ops.example.com").rpc, RpcRule::None, "exact first");
    assert!(fw.policy_for("backup@OPS.example.com").group_leader, "an exact rule, whatever the host's case");
    assert!(!fw.policy_for("backup@web.example.com").group_leader, "then name@*");
    assert!(!fw.policy_for("web@ops.example.com").exit_signals, "then *@host");
    assert!(!fw.policy_for("web@web.example.com").spawn, "then the default");
    assert_eq!(fw.policy_for("admin@10.0.0.1").names, names(&["net_kernel"]));
    assert_eq!(fw.policy_for("admin@::1"), &Policy::allow_all());
}

#[test]
fn host_parts_match_without_case_and_name_parts_exactly() {
    let fw = parse_ok("[default]\nspawn = false\n[peer.\"Admin@OPS.Example.com\"]\n[peer.\"*@Trusted.Example\"]\n");
    assert!(fw.policy_for("Admin@ops.example.COM").spawn);
    assert!(!fw.policy_for("admin@ops.example.com").spawn, "the name part is exact");
    assert!(fw.policy_for("anyone@TRUSTED.example").spawn);
}

#[test]
fn syntax_errors_name_the_line() {
    refused("[default]\nspawn = false\nrpc = [\"calc:add\"\n", 3, &["not valid TOML"]);
    refused("[default]\n\nspawn = \n", 3, &["not valid TOML"]);
    refused("[default]\nspawn = false\nspawn = true\n", 3, &["not valid TOML", "duplicate key (at `spawn`)"]);
    refused("[default]\n[default]\n", 2, &["not valid TOML"]);
    let e = parse_err("[default\n");
    assert!(matches!(e, PolicyFileError::Syntax { line: Some(1), .. }), "{e}");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
}

#[test]
fn unknown_keys_name_the_line_and_the_table() {
    let e = refused("[default]\nspawn = false\n\n[peer.\"admin@x\"]\nspawn = true\n\n\nspwan = true\n", 8, &[]);
    assert!(e.to_string().starts_with("line 8: unknown key `spwan` in [peer.\"admin@x\"]"), "{e}");
    assert!(matches!(&e, PolicyFileError::UnknownKey { key, .. } if key == "spwan"));
    refused("[default]\nspwan = false\n", 2, &["unknown key `spwan` in [default]", "spawn, exit_signals"]);
    refused("# policy\n\nversion = 1\n", 3, &["unknown key `version` in the top level", "default, peer"]);
    refused("[defaults]\nspawn = false\n", 1, &["unknown key `defaults` in the top level"]);
    refused("[peers.\"a@b\"]\n", 1, &["unknown key `peers`"]);
    refused("[peer.\"a@b\".rules]\n", 1, &["unknown key `rules` in [peer.\"a@b\"]"]);
    // The first error in the file is the one reported, whatever the key order.
    refused("[default]\nzzz = 1\naaa = 2\n", 2, &["`zzz`"]);
}

#[test]
fn wrong_types_name_the_line_and_the_key() {
    refused("[default]\nspawn = \"no\"\n", 2, &["`spawn` in [default] must be true or false, not a string"]);
    refused(
        "[peer.\"a@b\"]\nexit_signals = 0\n",
        2,
        &["`exit_signals` in [peer.\"a@b\"] must be true or false, not an integer"],
    );
    refused("[default]\ngroup_leader = [true]\n", 2, &["`group_leader`", "not a list"]);
    refused("[default]\nrpc = \"*\"\n", 2, &["`rpc` in [default] must be a list of strings, not a string"]);
    refused("[default]\nnames = { inbox = true }\n", 2, &["`names`", "not a table"]);
    refused("[default]\nrpc = [\n  \"calc:add\",\n  42,\n]\n", 4, &["`rpc`", "a list holding an integer"]);
    refused("[default]\nnames = [\"inbox\", [\"x\"]]\n", 2, &["`names`", "a list holding a list"]);
    refused("\ndefault = true\n", 2, &["`default` in the top level must be a table"]);
    refused("peer = [\"a@b\"]\n", 1, &["`peer` in the top level must be a table of [peer.\"NAME@HOST\"] entries"]);
    refused("[peer]\n\"a@b\" = true\n", 2, &["`a@b` in [peer] must be a table", "not a boolean"]);
    refused("[default]\nspawn = 1979-05-27\n", 2, &["not a date-time"]);
    refused("[default]\nspawn = 1.5\n", 2, &["not a float"]);
}

#[test]
fn bad_patterns_name_the_line() {
    let cases: &[(&str, &str)] = &[
        ("admin", "no '@'"),
        ("@host", "nothing before the '@'"),
        ("admin@", "nothing after the '@'"),
        ("a@b@c", "more than one '@'"),
        ("*", "\"*\" alone"),
        ("*@*", "\"*@*\" matches every peer"),
        ("ad*@host", "'*' stands only for a whole part"),
        ("admin@*.example.com", "'*' stands only for a whole part"),
        ("ad min@host", "' ' cannot be in a node name"),
        ("admin@ho/st", "'/' cannot be in a host name"),
        ("", "no '@'"),
    ];
    for (pattern, why) in cases {
        let text = format!("[default]\nspawn = false\n\n[peer.{pattern:?}]\nspawn = true\n");
        let e = refused(&text, 4, &[&format!("bad peer pattern {pattern:?}"), why]);
        assert!(matches!(e, PolicyFileError::BadPattern { .. }));
    }
    let long = format!("{}@host", "a".repeat(300));
    refused(&format!("[peer.\"{long}\"]\n"), 1, &["longer than a node name"]);
}

#[test]
fn the_same_pattern_twice_is_refused() {
    let e = refused("[peer.\"a@host\"]\nspawn = true\n[peer.\"a@HOST\"]\nspawn = false\n", 3, &["line 1"]);
    assert!(matches!(e, PolicyFileError::DuplicatePeer { first_line: 1, .. }), "{e}");
    refused("[peer.\"*@Host\"]\n[peer.\"*@hOST\"]\n", 2, &["repeats the pattern of line 1"]);
}

#[test]
fn bad_rpc_entries_name_the_line() {
    let cases: &[(&str, &str)] = &[
        ("calc", "expected module:function"),
        ("", "expected module:function"),
        (":add", "a module name is missing"),
        ("calc:", "a function name is missing"),
        ("calc:add/2", "arities are not supported: write calc:add"),
        ("*:add", "'*' cannot be part of a module name"),
        ("calc:ad*", "'*' cannot be part of a function name"),
        ("calc:add:x", "':' cannot be in a function name"),
        ("calc: add", "' ' cannot be in a function name"),
        ("'calc':add", "write atoms without quotes"),
        ("calc:\"add\"", "write atoms without quotes"),
    ];
    for (entry, why) in cases {
        let text = format!("[peer.\"a@b\"]\nrpc = [\n  \"calc:sub\",\n  {entry:?},\n]\n");
        let e = refused(&text, 4, &[&format!("bad rpc entry {entry:?} in [peer.\"a@b\"]"), why]);
        assert!(matches!(e, PolicyFileError::BadRpc { .. }));
    }
}

#[test]
fn bad_names_name_the_line() {
    for (entry, why) in [("", "is missing"), ("in*", "'*' cannot be part of"), ("in box", "' ' cannot be in")] {
        let text = format!("[default]\n\nnames = [\"inbox\", {entry:?}]\n");
        let e = refused(&text, 3, &[&format!("bad registered name {entry:?} in [default]"), why]);
        assert!(matches!(e, PolicyFileError::BadName { .. }));
    }
}

#[test]
fn errors_from_a_file_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "[default]\nspawn = false\n\n[peer.\"admin@x\"]\nspawn = true\n\n\nspwan = true\n").unwrap();
    let e = Firewall::from_policy_file(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{} line 8: unknown key `spwan` in [peer.\"admin@x\"] (known keys: {POLICY_KEYS})", path.display())
    );
    assert_eq!(e.file(), Some(path.as_path()));
    assert!(std::error::Error::source(&e).is_none());

    let missing = dir.path().join("missing.toml");
    let e = Firewall::from_policy_file(&missing).unwrap_err();
    assert!(matches!(&e, PolicyFileError::Read { .. }));
    assert!(e.to_string().contains("missing.toml"), "{e}");
    assert_eq!(e.line(), None);
    let source = std::error::Error::source(&e).expect("the I/O error is kept");
    assert_eq!(source.downcast_ref::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));

    std::fs::write(&path, b"[default]\nnames = [\"\xff\"]\n").unwrap();
    assert!(matches!(Firewall::from_policy_file(&path), Err(PolicyFileError::Read { .. })), "not UTF-8");
}

#[test]
fn error_lines_count_from_one_and_survive_odd_input() {
    assert_eq!(line_of("abc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 4), 3);
    assert_eq!(line_of("a\n", 99), 2);
    // Unusual but valid TOML and odd bytes do not panic.
    for text in ["\u{feff}[default]\n", "[default]\r\nspawn = false\r\n", "\0", "[[peer]]\n", "[peer]\n[[peer.x]]\n"] {
        let _ = Firewall::from_toml_str(text);
    }
    refused("[[peer]]\n", 1, &["`peer` in the top level must be a table", "not a list"]);
}

#[test]
fn a_policy_file_reloads_keeps_the_old_policy_on_error_and_polls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, "[default]\nspawn = false\n").unwrap();
    let policy = PolicyFile::load(&path).unwrap();
    assert_eq!(policy.path(), path.as_path());
    assert_eq!(policy.generation(), 1);
    assert!(!policy.firewall().policy_for("a@b").spawn);

    std::fs::write(&path, "[default]\nspawn = true\nrpc = []\n").unwrap();
    policy.reload().unwrap();
    assert_eq!(policy.generation(), 2);
    assert_eq!(policy.firewall().policy_for("a@b").rpc, RpcRule::None);

    std::fs::write(&path, "[default]\nspawn = true\nrpc = [calc]\n").unwrap();
    let e = policy.reload().unwrap_err();
    assert_eq!(e.line(), Some(3), "{e}");
    assert_eq!(policy.generation(), 2, "a bad file is not loaded");
    assert_eq!(policy.firewall().policy_for("a@b").rpc, RpcRule::None, "the old policy stays");

    assert!(matches!(policy.watch(Duration::from_millis(10)), Err(PolicyFileError::NoRuntime { .. })));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        policy.watch(Duration::from_millis(20)).unwrap();
        // A new file renamed over the old one is noticed.
        let next = dir.path().join("next.toml");
        std::fs::write(&next, "[default]\ngroup_leader = false\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while policy.generation() < 3 {
            assert!(tokio::time::Instant::now() < deadline, "the change was not picked up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!policy.firewall().policy_for("a@b").group_leader);
        // A bad edit leaves the policy alone; the next good one is picked up.
        std::fs::write(&path, "[default]\ngroup_leader = 'no'\n").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(policy.generation(), 3);
        std::fs::write(&path, "[default]\nexit_signals = false\n").unwrap();
        while policy.generation() < 4 {
            assert!(tokio::time::Instant::now() < deadline, "the change was not picked up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!policy.firewall().policy_for("a@b").exit_signals);
        assert!(policy.firewall().policy_for("a@b").group_leader);
    });
}
