//! Connection set-up races (fault matrix row H10), played step by step by a
//! scripted peer, so that the interleavings a loaded machine produces only
//! now and then happen every time.
//!
//! The node under test is named `aa_…`, the scripted peer `zz_…`: the peer's
//! name compares greater, so it wins a simultaneous connect. The peer holds a
//! listener the node dials (found through a static resolver) and dials the
//! node itself, driving both handshakes by hand. What must hold in every
//! interleaving: one connection comes up, the node never announces the peer
//! down, and `connect` succeeds.
//!
//! Random interleavings of the same races between two real nodes:
//! `simultaneous_connects_leave_exactly_one_connection` in tests/cluster.rs
//! and tests/tls_simultaneous.rs.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use beamlink::node::NodeEvent;
use beamlink::proto::handshake::messages::Status;
use beamlink::proto::handshake::{HandshakeConfig, Initiator, InitiatorEvent, OutstandingChallenges};
use beamlink::proto::{DistFlags, NodeName};
use beamlink::transport::StaticResolver;
use common::hostile::{Carrier, Heard, PROMPT, Raw, Target, events_for};

/// The node under test, dialling `peer` at `listener`'s address.
fn node_dialling(peer: &NodeName, listener: &TcpListener) -> Target {
    let resolver = StaticResolver::default().insert(peer, listener.local_addr().unwrap());
    Target::start_named(&format!("{}@localhost", common::unique_name("aa")), |b| b.resolver(resolver))
}

/// The node's dial to the scripted peer, accepted within [`PROMPT`].
fn accept_dial(listener: &TcpListener) -> Raw {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PROMPT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return Raw::accepted(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("the node did not dial the peer within {PROMPT:?}: {e}"),
        }
    }
}

/// Whether the node dials the scripted peer within `window`.
fn dials_within(listener: &TcpListener, window: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        if let Ok((stream, _)) = listener.accept() {
            return Some(stream);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The scripted peer's own dial to the node, one message at a time.
struct ScriptedDial {
    raw: Raw,
    hs: Initiator,
}

impl ScriptedDial {
    /// Connects to `target` as `name` and sends the `send_name`.
    fn start(target: &Target, name: &NodeName) -> ScriptedDial {
        let config = Arc::new(HandshakeConfig {
            name: name.clone(),
            creation: 0x5eed_0002,
            flags: DistFlags::DEFAULT,
            required: DistFlags::from_bits(0),
            cookie: target.cookie.clone().into_bytes(),
            outstanding: Arc::new(OutstandingChallenges::default()),
        });
        let mut dial = ScriptedDial {
            raw: Carrier::tcp().connect(target.addr),
            hs: Initiator::new(config, NodeName::new(&target.name()).unwrap()),
        };
        dial.flush();
        dial
    }

    /// Reads and handles the node's next message; sends nothing yet.
    fn next(&mut self) -> (Vec<u8>, InitiatorEvent) {
        let msg = self.raw.recv_handshake(PROMPT).expect("the node answers the scripted dial");
        let event = self.hs.handle(&msg).unwrap_or_else(|e| panic!("the node's answer: {e}"));
        (msg, event)
    }

    /// Sends what the handshake has queued.
    fn flush(&mut self) {
        while let Some(m) = self.hs.poll_transmit() {
            self.raw.send_handshake(&m).expect("send to the node");
        }
    }
}

/// Asserts that the node holds exactly one connection, to `peer`, and
/// announced it up once and never down.
fn assert_one_connection_never_down(target: &Target, events: Vec<NodeEvent>, peer: &NodeName) {
    let connected: Vec<String> = target.test.node.connected_nodes().iter().map(|n| n.to_string()).collect();
    assert_eq!(connected, vec![peer.to_string()], "exactly one connection, to the peer");
    let ups = events.iter().filter(|e| matches!(e, NodeEvent::Up { .. })).count();
    let downs: Vec<&NodeEvent> = events.iter().filter(|e| matches!(e, NodeEvent::Down { .. })).collect();
    assert_eq!(ups, 1, "one nodeup: {events:?}");
    assert!(downs.is_empty(), "the peer was never announced down: {downs:?}");
}

#[test]
fn a_dial_asked_alive_while_the_peer_is_being_accepted_waits_for_that_attempt() {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let peer = NodeName::new(&format!("{}@localhost", common::unique_name("zz"))).unwrap();
    let target = node_dialling(&peer, &listener);
    let mut events = target.events();
    let node = target.test.node.clone();
    let peer_text = peer.to_string();
    let connect = target.test.rt.spawn(async move { node.connect(&peer_text).await });

    // The node dials the peer: hold its send_name unanswered.
    let mut their_dial = accept_dial(&listener);
    let hello = their_dial.recv_handshake(PROMPT).expect("the node's send_name");
    assert!(matches!(hello.first(), Some(b'N' | b'n')), "a send_name: {hello:?}");

    // The peer dials the node too; its name wins, so the node gives way and
    // goes on with the peer's attempt (status, then its challenge).
    let mut our_dial = ScriptedDial::start(&target, &peer);
    let (status, _) = our_dial.next();
    assert_eq!(Status::decode(&status).unwrap(), Status::OkSimultaneous);
    let (_, event) = our_dial.next();
    assert_eq!(event, InitiatorEvent::Continue, "the node's challenge");

    // On the node's dial the peer now says it has a connection up already
    // (as it would once its own attempt completed at its end). The node
    // must not answer while the peer's attempt is still under way at its
    // own end: told `true`, the peer would bring a second connection up.
    their_dial.send_handshake(&Status::Alive.encode()).unwrap();
    match their_dial.await_handshake(Duration::from_millis(500)) {
        Heard::Nothing => {}
        other => panic!("the node answered `alive` while accepting the same peer: {other:?}"),
    }

    // The peer's attempt completes: it takes the dial's place, and the dial
    // stops without ever answering.
    our_dial.flush();
    let (_, event) = our_dial.next();
    assert!(matches!(event, InitiatorEvent::Established(_)), "the scripted dial completes: {event:?}");
    assert_eq!(their_dial.await_handshake(PROMPT), Heard::Closed, "the node's own dial stops");

    let result = target.test.rt.block_on(async { tokio::time::timeout(PROMPT, connect).await });
    assert!(matches!(result, Ok(Ok(Ok(())))), "connect succeeds on the peer's connection: {result:?}");
    let seen = events_for(&mut events, peer.as_str(), Duration::from_millis(300));
    assert_one_connection_never_down(&target, seen, &peer);
}

#[test]
fn a_dial_started_while_the_peer_is_being_accepted_waits_for_that_attempt() {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let peer = NodeName::new(&format!("{}@localhost", common::unique_name("zz"))).unwrap();
    let target = node_dialling(&peer, &listener);
    let mut events = target.events();

    // The peer dials first; the node, with no entry for it, answers `ok`.
    let mut our_dial = ScriptedDial::start(&target, &peer);
    let (status, _) = our_dial.next();
    assert_eq!(Status::decode(&status).unwrap(), Status::Ok);
    let (_, event) = our_dial.next();
    assert_eq!(event, InitiatorEvent::Continue, "the node's challenge");

    // Before the peer answers the challenge, the node is asked to connect to
    // it. It must not dial while the peer's attempt is under way.
    let node = target.test.node.clone();
    let peer_text = peer.to_string();
    let connect = target.test.rt.spawn(async move { node.connect(&peer_text).await });
    if let Some(stream) = dials_within(&listener, Duration::from_millis(500)) {
        panic!("the node dialled a peer whose own attempt was under way (from {:?})", stream.peer_addr());
    }

    our_dial.flush();
    let (_, event) = our_dial.next();
    assert!(matches!(event, InitiatorEvent::Established(_)), "the scripted dial completes: {event:?}");
    let result = target.test.rt.block_on(async { tokio::time::timeout(PROMPT, connect).await });
    assert!(matches!(result, Ok(Ok(Ok(())))), "connect succeeds on the peer's connection: {result:?}");
    assert!(dials_within(&listener, Duration::from_millis(200)).is_none(), "and the node never dials");
    let seen = events_for(&mut events, peer.as_str(), Duration::from_millis(300));
    assert_one_connection_never_down(&target, seen, &peer);
}
