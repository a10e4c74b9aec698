//! Typed terms, `GenServer` and `Supervisor` against stock Erlang and Elixir:
//! `erl` calls a Rust `GenServer` with records (one built by OTP itself,
//! `file:read_file_info/1`'s `#file_info{}`), maps, proplists and
//! Elixir-style struct maps, and pattern-matches the typed replies; it uses
//! `gen_server:cast`, `sys:get_state`, `supervisor:which_children`,
//! `supervisor:count_children` and `gen_server:stop` on Rust processes. Rust
//! calls OTP's own `application_controller` with a typed reply, and sends
//! `erl` a typed record it matches. A real Elixir `defstruct` goes to Rust
//! and comes back as the same struct.

mod common;

use std::process::Command;
use std::time::Duration;

use beamlink::node::{
    CallOutcome, ChildSpec, GenServer, GenServerRef, Outcome, Process, ReplyTo, Strategy, Supervisor,
};
use beamlink::term::{Atom, Pid, Term};
use common::erl::{ErlNode, OtpEpmd};
use common::rust::TestNode;
use serde::{Deserialize, Serialize};

const T: Duration = Duration::from_secs(30);
const COOKIE: &str = "typed_interop";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "#order")]
struct Order {
    id: u64,
    customer: String,
    items: Vec<Item>,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Item {
    sku: String,
    qty: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "Elixir.Shop.User")]
struct User {
    name: String,
    email: Option<String>,
}

/// OTP's `#file_info{}` from `file.hrl`, fields in record order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "#file_info")]
struct FileInfo {
    size: u64,
    #[serde(rename = "type")]
    kind: Atom,
    access: Atom,
    atime: Term,
    mtime: Term,
    ctime: Term,
    mode: u32,
    links: u32,
    major_device: u64,
    minor_device: u64,
    inode: u64,
    uid: u32,
    gid: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Options {
    verbose: bool,
    depth: u8,
}

#[derive(Deserialize, Debug)]
enum Request {
    Put(Order),
    Get(u64),
    Describe(FileInfo),
    PutUser(User),
    Configure(Options),
}

#[derive(Serialize, Debug)]
enum Reply {
    Ok,
    Order(Option<Order>),
    File { kind: Atom, mode: u32 },
    User(User),
    Options(Options),
}

#[derive(Deserialize, Debug)]
enum Cast {
    Forget(u64),
}

#[derive(Default)]
struct Orders {
    orders: Vec<Order>,
}

impl GenServer for Orders {
    type Call = Request;
    type Reply = Reply;
    type Cast = Cast;

    async fn handle_call(&mut self, request: Request, _from: &ReplyTo, _me: &mut Process) -> CallOutcome<Reply> {
        CallOutcome::Reply(match request {
            Request::Put(order) => {
                self.orders.push(order);
                Reply::Ok
            }
            Request::Get(id) => Reply::Order(self.orders.iter().find(|o| o.id == id).cloned()),
            Request::Describe(info) => Reply::File { kind: info.kind, mode: info.mode },
            Request::PutUser(user) => {
                let email = Some(format!("{}@example.com", user.name));
                Reply::User(User { email, ..user })
            }
            Request::Configure(options) => Reply::Options(options),
        })
    }

    async fn handle_cast(&mut self, Cast::Forget(id): Cast, _me: &mut Process) -> Outcome {
        self.orders.retain(|o| o.id != id);
        Outcome::Continue
    }

    fn state(&self) -> Option<Term> {
        Some(Term::from(self.orders.len() as u64))
    }
}

fn start(epmd: &OtpEpmd) -> (TestNode, ErlNode) {
    let rust = TestNode::short("typed", COOKIE, epmd.port);
    let erl = ErlNode::start_short(&common::unique_name("erl_typed"), COOKIE, epmd.port);
    (rust, erl)
}

#[test]
fn erl_calls_a_rust_gen_server_with_records_maps_and_struct_maps() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let (rust, mut erl) = start(&epmd);
    rust.run(T, rust.node.start_gen_server(Orders::default(), Some("orders"))).unwrap();
    let server = format!("{{orders, '{}'}}", rust.name());
    let call = |erl: &mut ErlNode, request: &str| erl.eval(&format!("gen_server:call({server}, {request}, 10000)"));

    let order = r#"{order, 1, <<"ann">>, [#{sku => <<"A1">>, qty => 2}], undefined}"#;
    assert_eq!(call(&mut erl, &format!("{{put, {order}}}")), "ok");
    assert_eq!(call(&mut erl, "{get, 2}"), "{order,undefined}");
    // The reply matches an Erlang pattern as a record would.
    assert_eq!(
        erl.eval(&format!(
            "{{order, {{order, 1, <<\"ann\">>, [#{{qty := 2}}], undefined}}}} = gen_server:call({server}, {{get, 1}}), matched"
        )),
        "matched"
    );

    // A record OTP builds itself.
    let described = erl.eval(&format!(
        "{{ok, Info}} = file:read_file_info(\"/\"), {{file, #{{kind := directory, mode := M}}}} = gen_server:call({server}, {{describe, Info}}), M =:= element(8, Info)"
    ));
    assert_eq!(described, "true");

    // An Elixir-style struct map; nil is Elixir's missing value.
    let user = erl.eval(&format!(
        "{{user, U}} = gen_server:call({server}, {{put_user, #{{'__struct__' => 'Elixir.Shop.User', name => <<\"bo\">>, email => nil}}}}), U =:= #{{'__struct__' => 'Elixir.Shop.User', name => <<\"bo\">>, email => <<\"bo@example.com\">>}}"
    ));
    assert_eq!(user, "true");

    // A proplist for a struct, with a bare atom for true.
    let options = erl.eval(&format!("gen_server:call({server}, {{configure, [verbose, {{depth, 3}}]}}) =:= {{options, #{{depth => 3, verbose => true}}}}"));
    assert_eq!(options, "true");

    // A request that does not fit: a clear error, and the server is still there.
    let bad = call(&mut erl, "{get, -1}");
    assert_eq!(bad, r#"{error,{bad_request,<<"Get: -1 does not fit in u64">>}}"#);

    // Casts, and sys:get_state/1 (the state this server shows is its order count).
    assert_eq!(erl.eval(&format!("gen_server:cast({server}, {{forget, 1}})")), "ok");
    assert_eq!(call(&mut erl, "{get, 1}"), "{order,undefined}");
    // Current OTP's sys:get_state/1 unwraps {ok, State}; OTP 25's shows it whole.
    let state = if erl.eval("erlang:system_info(otp_release)") == "\"25\"" { "{ok,0}" } else { "0" };
    assert_eq!(erl.eval(&format!("sys:get_state({server})")), state);
    // gen_server:stop/1 from Erlang ends it.
    assert_eq!(erl.eval(&format!("gen_server:stop({server})")), "ok");
    common::wait_for("the server to go", T, || rust.node.whereis("orders").is_none().then_some(()));
}

#[test]
fn erl_sees_a_rust_supervisor() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let (rust, mut erl) = start(&epmd);
    let spec = Supervisor::new(Strategy::OneForOne)
        .child(ChildSpec::gen_server("orders", Some("sup_orders"), Orders::default))
        .child(ChildSpec::process("idle", |mut me: Process| async move { while me.recv().await.is_ok() {} }));
    rust.run(T, rust.node.start_supervisor(spec, Some("rust_sup"))).unwrap();
    let sup = format!("{{rust_sup, '{}'}}", rust.name());
    let children =
        erl.eval(&format!("[{{Id, is_pid(P), Type}} || {{Id, P, Type, _}} <- supervisor:which_children({sup})]"));
    assert_eq!(children, "[{idle,true,worker},{orders,true,worker}]");
    assert_eq!(
        erl.eval(&format!("supervisor:count_children({sup})")),
        "[{specs,2},{active,2},{supervisors,0},{workers,2}]"
    );
    // exit(Pid, kill) from Erlang on the gen_server child: the supervisor starts a new one.
    let before = erl.eval(&format!("P = rpc:call('{}', erlang, whereis, [sup_orders]), is_pid(P)", rust.name()));
    assert_eq!(before, "true");
    let old = rust.node.whereis("sup_orders").unwrap();
    erl.eval(&format!("exit(rpc:call('{}', erlang, whereis, [sup_orders]), kill)", rust.name()));
    common::wait_for("a new sup_orders", T, || rust.node.whereis("sup_orders").filter(|p| *p != old));
    assert_eq!(
        erl.eval(&format!("gen_server:call({{sup_orders, '{}'}}, {{get, 9}})", rust.name())),
        "{order,undefined}"
    );
    assert_eq!(erl.eval(&format!("gen_server:stop({sup})")), "ok");
    common::wait_for("the supervisor and its children to go", T, || {
        (rust.node.whereis("rust_sup").is_none() && rust.node.whereis("sup_orders").is_none()).then_some(())
    });
}

#[test]
fn rust_calls_otp_gen_servers_and_sends_erl_typed_records() {
    if !common::erlang_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let (rust, mut erl) = start(&epmd);
    // OTP's application_controller: {Name, Description, Version} with charlists.
    let apps: Vec<(Atom, String, String)> = rust.run(T, async {
        let mut me = rust.node.process();
        let controller = GenServerRef::named("application_controller", &erl.node);
        controller.call(&mut me, &Term::atom("which_applications"), T).await.unwrap()
    });
    let kernel = apps.iter().find(|(name, _, _)| name.as_str() == "kernel").expect("kernel is running");
    assert_eq!(kernel.1, "ERTS  CXC 138 10");
    assert!(kernel.2.chars().next().is_some_and(|c| c.is_ascii_digit()), "{kernel:?}");

    // erl matches a record sent from a typed Rust value. (The match is in a
    // `case`: on Debian trixie's OTP 27 a map pattern in an interpreted
    // `receive` sometimes crashes the emulator, with messages from erl peers too.)
    let checker = erl.eval(
        "register(checker, spawn(fun() -> receive {From, Msg} -> From ! case Msg of {order, 7, <<\"zed\">>, [#{qty := 3, sku := <<\"B\">>}], undefined} -> matched; Other -> {unmatched, Other} end end end))",
    );
    assert_eq!(checker, "true");
    let answer = rust.run(T, async {
        let mut me = rust.node.process();
        let order = Order { id: 7, customer: "zed".into(), items: vec![Item { sku: "B".into(), qty: 3 }], note: None };
        let from: Pid = me.pid().clone();
        me.send_named_as("checker", &erl.node, &(from, order)).await.unwrap();
        me.recv_timeout(T).await.unwrap().expect("an answer from checker")
    });
    assert!(answer.is_atom("matched"), "{answer}");
}

#[test]
fn an_elixir_struct_goes_to_rust_and_comes_back() {
    if !common::erlang_or_skip() {
        return;
    }
    if !common::elixir_or_skip() {
        return;
    }
    let epmd = OtpEpmd::start();
    let rust = TestNode::short("typed_ex", COOKIE, epmd.port);
    rust.run(T, rust.node.start_gen_server(Orders::default(), Some("orders"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("struct.exs");
    std::fs::write(
        &script,
        r#"
defmodule Shop.User do
  defstruct [:name, :email]
end
defmodule Check do
  def run(peer) do
    {:user, back} = GenServer.call({:orders, peer}, {:put_user, %Shop.User{name: "eve"}}, 10_000)
    IO.puts("STRUCT #{inspect(back)}")
    IO.puts("MATCH #{match?(%Shop.User{name: "eve", email: "eve@example.com"}, back)}")
  end
end
[peer] = System.argv() |> Enum.map(&String.to_atom/1)
Check.run(peer)
"#,
    )
    .unwrap();
    let me = format!("{}@localhost", common::unique_name("ex_typed"));
    let out = common::output_within(
        "elixir struct.exs",
        Command::new("elixir")
            .args(["--sname", &me, "--cookie", COOKIE])
            .arg(&script)
            .arg(rust.name())
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .env("ERL_CRASH_DUMP_SECONDS", "0"),
        T,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "elixir failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("MATCH true"), "{stdout}");
    assert!(stdout.contains("STRUCT %Shop.User{"), "{stdout}");
}
