//! Typed messages, the `GenServer` trait and the `Supervisor`, between Rust
//! processes on one node (the Erlang-facing side is in typed_interop.rs):
//! typed send/receive with the unfit message kept, typed calls, casts, info,
//! deferred replies, stop outcomes, `sys` requests, the three restart
//! strategies, restart types, restart intensity and shutdown order, and the
//! cancel safety of `recv_as` and `call`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use beamlink::node::{
    CallError, CallOutcome, ChildSpec, GenServer, GenServerRef, Outcome, Process, RecvError, ReplyTo, Restart,
    Shutdown, Strategy, Supervisor,
};
use beamlink::term::{Pid, Term, parse};
use common::rust::TestNode;
use serde::{Deserialize, Serialize};

const T: Duration = Duration::from_secs(20);

fn node() -> TestNode {
    let name = format!("{}@localhost", common::unique_name("typed"));
    TestNode::start(&name, "typed_cookie", common::free_port(), |b| b.auto_start_epmd(true))
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Request {
    Insert {
        key: String,
        value: i64,
    },
    Lookup(String),
    /// Answered later, from handle_info.
    Deferred,
    Crash,
    StopWith(String),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Reply {
    Ok,
    Found(Option<i64>),
    Later(u32),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Cast {
    Clear,
}

/// A small key-value server that logs what happened to a shared journal.
struct Store {
    entries: Vec<(String, i64)>,
    pending: Option<ReplyTo>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl Store {
    fn new(journal: &Arc<Mutex<Vec<String>>>) -> Store {
        Store { entries: Vec::new(), pending: None, journal: journal.clone() }
    }
}

impl GenServer for Store {
    type Call = Request;
    type Reply = Reply;
    type Cast = Cast;

    async fn init(&mut self, _me: &mut Process) -> Result<(), Term> {
        self.journal.lock().unwrap().push("init".into());
        Ok(())
    }

    async fn handle_call(&mut self, request: Request, from: &ReplyTo, _me: &mut Process) -> CallOutcome<Reply> {
        match request {
            Request::Insert { key, value } => {
                self.entries.retain(|(k, _)| *k != key);
                self.entries.push((key, value));
                CallOutcome::Reply(Reply::Ok)
            }
            Request::Lookup(key) => {
                CallOutcome::Reply(Reply::Found(self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)))
            }
            Request::Deferred => {
                self.pending = Some(from.clone());
                CallOutcome::NoReply
            }
            Request::Crash => panic!("asked to crash"),
            Request::StopWith(reason) => CallOutcome::Stop { reason: Term::atom(&reason), reply: Some(Reply::Ok) },
        }
    }

    async fn handle_cast(&mut self, msg: Cast, _me: &mut Process) -> Outcome {
        match msg {
            Cast::Clear => self.entries.clear(),
        }
        Outcome::Continue
    }

    async fn handle_info(&mut self, msg: Term, me: &mut Process) -> Outcome {
        if msg.is_atom("answer_deferred")
            && let Some(to) = self.pending.take()
        {
            me.reply_as(&to, &Reply::Later(42)).await.unwrap();
        }
        if msg.is_atom("stop_normal") {
            return Outcome::Stop(Term::atom("normal"));
        }
        Outcome::Continue
    }

    async fn terminate(&mut self, reason: &Term, _me: &mut Process) {
        self.journal.lock().unwrap().push(format!("terminate {reason}"));
    }

    fn state(&self) -> Option<Term> {
        Some(Term::from(self.entries.len() as u64))
    }
}

#[test]
fn typed_send_and_receive_keep_what_does_not_fit() {
    let n = node();
    n.run(T, async {
        let mut a = n.node.process();
        let b = n.node.process();
        b.send_as(a.pid(), &Request::Lookup("k".into())).await.unwrap();
        b.send(a.pid(), Term::atom("stray")).await.unwrap();
        b.send_as(a.pid(), &Request::Insert { key: "k".into(), value: 1 }).await.unwrap();
        assert_eq!(a.recv_as::<Request>().await.unwrap(), Request::Lookup("k".into()));
        match a.recv_as::<Request>().await {
            Err(RecvError::Unfit { message, error }) => {
                assert!(message.is_atom("stray"));
                assert!(error.to_string().contains("stray"), "{error}");
            }
            other => panic!("expected the stray atom back, got {other:?}"),
        }
        assert_eq!(a.recv_as::<Request>().await.unwrap(), Request::Insert { key: "k".into(), value: 1 });
        assert_eq!(a.recv_as_timeout::<Request>(Duration::from_millis(50)).await.unwrap(), None);
    });
}

#[test]
fn a_gen_server_answers_calls_casts_and_deferred_replies() {
    let n = node();
    let journal = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let server = n.node.start_gen_server(Store::new(&journal), Some("store")).await.unwrap();
        let mut me = n.node.process();
        let by_name = GenServerRef::named("store", &n.name());
        let insert = Request::Insert { key: "a".into(), value: 7 };
        assert_eq!(server.call::<_, Reply>(&mut me, &insert, T).await.unwrap(), Reply::Ok);
        let found: Reply = by_name.call(&mut me, &Request::Lookup("a".into()), T).await.unwrap();
        assert_eq!(found, Reply::Found(Some(7)));

        // A cast, then a call: the server handles them in order.
        server.cast(&me, &Cast::Clear).await.unwrap();
        let found: Reply = server.call(&mut me, &Request::Lookup("a".into()), T).await.unwrap();
        assert_eq!(found, Reply::Found(None));

        // A request that does not fit is answered with an error and the server goes on.
        let raw = me.call(server.pid().unwrap(), parse("{bogus, 1}").unwrap(), T).await.unwrap();
        let text = raw.to_string();
        assert!(text.starts_with("{error,{bad_request,<<\"expected one of insert,"), "{text}");
        // A reply of the wrong type is kept in the error.
        match server.call::<_, u32>(&mut me, &Request::Lookup("a".into()), T).await {
            Err(CallError::UnfitReply { reply, .. }) => assert_eq!(reply.to_string(), "{found,undefined}"),
            other => panic!("expected an unfit reply, got {other:?}"),
        }

        // A deferred reply comes when handle_info sends it.
        let pid = server.pid().unwrap().clone();
        let caller = async {
            let mut me2 = n.node.process();
            server.call::<_, Reply>(&mut me2, &Request::Deferred, T).await
        };
        let trigger = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            me.send(&pid, Term::atom("answer_deferred")).await.unwrap();
        };
        let (reply, ()) = tokio::join!(caller, trigger);
        assert_eq!(reply.unwrap(), Reply::Later(42));

        // Stop with a reply: the caller gets it, terminate runs, the process is gone.
        let reply: Reply = server.call(&mut me, &Request::StopWith("done".into()), T).await.unwrap();
        assert_eq!(reply, Reply::Ok);
        common::wait_for("the server to exit", T, || n.node.whereis("store").is_none().then_some(()));
        assert_eq!(*journal.lock().unwrap(), vec!["init".to_string(), "terminate done".to_string()]);
        // A call to the pid now: noproc, naming the callee as a term.
        match server.call::<_, Reply>(&mut me, &Request::Lookup("a".into()), T).await {
            Err(CallError::NoProc(callee)) => assert_eq!(callee, Term::Pid(pid.clone())),
            other => panic!("expected noproc, got {other:?}"),
        }
    });
}

#[test]
fn sys_requests_get_state_and_terminate() {
    let n = node();
    let journal = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let server = n.node.start_gen_server(Store::new(&journal), None).await.unwrap();
        let pid = server.pid().unwrap().clone();
        let mut me = n.node.process();
        let _: Reply = server.call(&mut me, &Request::Insert { key: "x".into(), value: 1 }, T).await.unwrap();
        // sys:get_state/1 and sys:terminate/3 as OTP sends them: {system, {From, Tag}, Request}.
        let mref = me.make_ref();
        let from = Term::Tuple(vec![Term::Pid(me.pid().clone()), Term::Ref(Box::new(mref.clone()))]);
        me.send(&pid, Term::Tuple(vec![Term::atom("system"), from.clone(), Term::atom("get_state")])).await.unwrap();
        let state = me.recv_timeout(T).await.unwrap().unwrap();
        assert_eq!(state, Term::Tuple(vec![Term::Ref(Box::new(mref.clone())), parse("{ok, 1}").unwrap()]));
        let monitor = me.monitor(&pid);
        let terminate = parse("{terminate, because}").unwrap();
        me.send(&pid, Term::Tuple(vec![Term::atom("system"), from, terminate])).await.unwrap();
        let ok = me.recv_timeout(T).await.unwrap().unwrap();
        assert_eq!(ok, Term::Tuple(vec![Term::Ref(Box::new(mref)), Term::atom("ok")]));
        let down = me.recv_timeout(T).await.unwrap().unwrap();
        assert_eq!(down.as_tuple().unwrap()[1], Term::Ref(Box::new(monitor)));
        assert!(down.as_tuple().unwrap()[4].is_atom("because"), "{down}");
    });
    assert_eq!(journal.lock().unwrap().last().unwrap(), "terminate because");
}

/// A server whose init fails with `no_config`.
struct Refuses;

impl GenServer for Refuses {
    type Call = ();
    type Reply = ();
    type Cast = ();
    async fn init(&mut self, _me: &mut Process) -> Result<(), Term> {
        Err(Term::atom("no_config"))
    }
    async fn handle_call(&mut self, _: (), _: &ReplyTo, _: &mut Process) -> CallOutcome<()> {
        CallOutcome::Reply(())
    }
}

#[test]
fn a_failing_init_fails_the_start() {
    let n = node();
    let err = n.run(T, n.node.start_gen_server(Refuses, Some("refuses"))).unwrap_err();
    assert_eq!(err.to_string(), "init failed: no_config");
    assert!(n.node.whereis("refuses").is_none());
}

#[test]
fn a_dropped_call_leaves_no_late_reply_in_the_mailbox() {
    let n = node();
    let journal = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let server = n.node.start_gen_server(Store::new(&journal), None).await.unwrap();
        let pid = server.pid().unwrap().clone();
        let mut me = n.node.process();
        // The call is cancelled (select! takes the sleep) while the server holds the reply back.
        tokio::select! {
            r = server.call::<_, Reply>(&mut me, &Request::Deferred, T) => panic!("the call returned: {r:?}"),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        me.send(&pid, Term::atom("answer_deferred")).await.unwrap();
        // An ordinary message sent after the late reply still arrives, and nothing else does.
        let other = n.node.process();
        tokio::time::sleep(Duration::from_millis(100)).await;
        other.send(me.pid(), Term::atom("after")).await.unwrap();
        assert_eq!(me.recv_timeout(T).await.unwrap(), Some(Term::atom("after")));
        assert_eq!(me.recv_timeout(Duration::from_millis(100)).await.unwrap(), None);
    });
}

#[test]
fn recv_as_in_select_loses_no_message() {
    let n = node();
    n.run(T, async {
        let mut me = n.node.process();
        let sender = n.node.process();
        let to = me.pid().clone();
        let feeder = async {
            for i in 0..200u32 {
                sender.send_as(&to, &i).await.unwrap();
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        };
        let reader = async {
            let mut got = Vec::new();
            let mut cancelled = 0;
            while got.len() < 200 {
                tokio::select! {
                    r = me.recv_as::<u32>() => got.push(r.unwrap()),
                    () = tokio::time::sleep(Duration::from_micros(200)) => cancelled += 1,
                }
            }
            (got, cancelled)
        };
        let ((), (got, cancelled)) = tokio::join!(feeder, reader);
        assert_eq!(got, (0..200).collect::<Vec<_>>(), "after {cancelled} cancelled receives");
    });
}

/// A child that reports each start (its pid) to `starts` and exits when told.
fn reporting_child(id: &str, starts: &Arc<Mutex<Vec<(String, Pid)>>>) -> ChildSpec {
    let (starts, name) = (starts.clone(), id.to_string());
    ChildSpec::process(id, move |mut me: Process| {
        starts.lock().unwrap().push((name.clone(), me.pid().clone()));
        async move {
            loop {
                match me.recv().await {
                    Ok(m) if m.is_atom("crash") => return Term::atom("crashed"),
                    Ok(m) if m.is_atom("finish") => return Term::atom("normal"),
                    Ok(_) => {}
                    Err(e) => return e.0,
                }
            }
        }
    })
}

fn started(starts: &Arc<Mutex<Vec<(String, Pid)>>>) -> Vec<String> {
    starts.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
}

fn pid_of(starts: &Arc<Mutex<Vec<(String, Pid)>>>, id: &str) -> Pid {
    starts.lock().unwrap().iter().rev().find(|(i, _)| i == id).map(|(_, p)| p.clone()).unwrap()
}

async fn wait_starts(starts: &Arc<Mutex<Vec<(String, Pid)>>>, n: usize) {
    for _ in 0..2000 {
        if starts.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {n} starts, got {:?}", started(starts));
}

#[test]
fn the_three_strategies_restart_what_they_should() {
    let n = node();
    for (strategy, expected) in [
        (Strategy::OneForOne, vec!["a", "b", "c", "b"]),
        (Strategy::OneForAll, vec!["a", "b", "c", "a", "b", "c"]),
        (Strategy::RestForOne, vec!["a", "b", "c", "b", "c"]),
    ] {
        let starts = Arc::new(Mutex::new(Vec::new()));
        n.run(T, async {
            let spec = Supervisor::new(strategy)
                .child(reporting_child("a", &starts))
                .child(reporting_child("b", &starts))
                .child(reporting_child("c", &starts));
            let sup = n.node.start_supervisor(spec, None).await.unwrap();
            assert_eq!(started(&starts), ["a", "b", "c"]);
            let mut me = n.node.process();
            me.send(&pid_of(&starts, "b"), Term::atom("crash")).await.unwrap();
            wait_starts(&starts, expected.len()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(started(&starts), expected, "{strategy:?}");
            let children = sup.which_children(&mut me, T).await.unwrap();
            let ids: Vec<&str> = children.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["a", "b", "c"]);
            assert_eq!(children[1].pid.as_ref(), Some(&pid_of(&starts, "b")));
            sup.stop(&mut me, T).await.unwrap();
        });
    }
}

#[test]
fn restart_types_and_intensity() {
    let n = node();
    let starts = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let spec = Supervisor::new(Strategy::OneForOne)
            .intensity(2, Duration::from_secs(30))
            .child(reporting_child("permanent", &starts))
            .child(reporting_child("transient", &starts).restart(Restart::Transient))
            .child(reporting_child("temporary", &starts).restart(Restart::Temporary));
        let sup = n.node.start_supervisor(spec, Some("types_sup")).await.unwrap();
        let mut me = n.node.process();
        // A transient child that finishes normally stays down; a temporary one that crashes is forgotten.
        me.send(&pid_of(&starts, "transient"), Term::atom("finish")).await.unwrap();
        me.send(&pid_of(&starts, "temporary"), Term::atom("crash")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(started(&starts).len(), 3);
        let children = sup.which_children(&mut me, T).await.unwrap();
        let ids: Vec<&str> = children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["permanent", "transient"]);
        assert_eq!(children[1].pid, None);
        // Two restarts are allowed in the period; the third crash ends the supervisor.
        let sup_monitor = me.monitor(sup.pid());
        for round in 0..3 {
            me.send(&pid_of(&starts, "permanent"), Term::atom("crash")).await.unwrap();
            if round < 2 {
                wait_starts(&starts, 4 + round).await;
            }
        }
        let down = me.recv_timeout(T).await.unwrap().expect("the supervisor's DOWN");
        let parts = down.as_tuple().unwrap();
        assert_eq!(parts[1], Term::Ref(Box::new(sup_monitor)));
        assert!(parts[4].is_atom("shutdown"), "{down}");
        assert!(n.node.whereis("types_sup").is_none());
    });
}

#[test]
fn shutdown_stops_children_last_started_first_and_kills_the_stubborn() {
    let n = node();
    let order = Arc::new(Mutex::new(Vec::new()));
    let child = |id: &'static str, order: &Arc<Mutex<Vec<String>>>, stubborn: bool| {
        let order = order.clone();
        ChildSpec::process(id, move |mut me: Process| {
            let order = order.clone();
            me.trap_exit(true);
            async move {
                while let Ok(m) = me.recv().await {
                    if m.as_tuple().is_some_and(|t| t[0].is_atom("EXIT")) {
                        order.lock().unwrap().push(id.to_string());
                        if !stubborn {
                            return;
                        }
                    }
                }
            }
        })
        .shutdown(Shutdown::Timeout(Duration::from_millis(300)))
    };
    n.run(T, async {
        let spec = Supervisor::new(Strategy::OneForOne)
            .child(child("first", &order, false))
            .child(child("stubborn", &order, true))
            .child(child("last", &order, false));
        let sup = n.node.start_supervisor(spec, None).await.unwrap();
        let mut me = n.node.process();
        let children = sup.which_children(&mut me, T).await.unwrap();
        let stubborn = children[1].pid.clone().unwrap();
        let monitor = me.monitor(&stubborn);
        let began = std::time::Instant::now();
        sup.stop(&mut me, T).await.unwrap();
        assert!(began.elapsed() >= Duration::from_millis(300), "the stubborn child had its grace time");
        assert_eq!(*order.lock().unwrap(), ["last", "stubborn", "first"]);
        let down = me.recv_timeout(T).await.unwrap().unwrap();
        assert_eq!(down.as_tuple().unwrap()[1], Term::Ref(Box::new(monitor)));
        assert!(down.as_tuple().unwrap()[4].is_atom("killed"), "{down}");
    });
}

#[test]
fn a_gen_server_child_is_restarted_after_a_panic() {
    let n = node();
    let journal = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let j = journal.clone();
        let spec =
            Supervisor::new(Strategy::OneForOne)
                .child(ChildSpec::gen_server("store", Some("sup_store"), move || Store::new(&j)));
        let _sup = n.node.start_supervisor(spec, None).await.unwrap();
        let store = GenServerRef::named("sup_store", &n.name());
        let mut me = n.node.process();
        let _: Reply = store.call(&mut me, &Request::Insert { key: "k".into(), value: 1 }, T).await.unwrap();
        let crashed = store.call::<_, Reply>(&mut me, &Request::Crash, T).await;
        assert!(matches!(crashed, Err(CallError::Exit(ref r)) if r.is_atom("rust_panic")), "{crashed:?}");
        // Restarted with a fresh state under the same name.
        let found: Reply = loop {
            match store.call(&mut me, &Request::Lookup("k".into()), T).await {
                Ok(found) => break found,
                Err(CallError::NoProc(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(found, Reply::Found(None));
        assert_eq!(journal.lock().unwrap().iter().filter(|e| *e == "init").count(), 2);
    });
}

#[test]
fn a_child_that_fails_to_start_fails_the_supervisor_and_stops_the_others() {
    let n = node();
    let starts = Arc::new(Mutex::new(Vec::new()));
    n.run(T, async {
        let spec = Supervisor::new(Strategy::OneForOne)
            .child(reporting_child("ok", &starts))
            .child(ChildSpec::gen_server("bad", None, || Refuses));
        let err = n.node.start_supervisor(spec, None).await.unwrap_err();
        assert_eq!(err.to_string(), "init failed: {shutdown,{failed_to_start_child,bad,no_config}}");
        let first = pid_of(&starts, "ok");
        let mut me = n.node.process();
        let monitor = me.monitor(&first);
        let down = me.recv_timeout(T).await.unwrap().unwrap();
        assert_eq!(down.as_tuple().unwrap()[1], Term::Ref(Box::new(monitor)));
    });
}
