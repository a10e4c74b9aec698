//! A hostile peer: speaks raw bytes to a node's distribution port, with or
//! without a real handshake first, so tests can send exactly the bytes a
//! broken or malicious peer would.
//!
//! - [`Carrier`] opens the byte stream: plain TCP (2-byte handshake
//!   framing), optionally from another loopback source address, or mutual
//!   TLS over TCP with a client certificate (4-byte handshake framing).
//! - [`Raw`] is a stream with helpers to send bytes, read handshake frames and
//!   wait (bounded) for the node to close.
//! - [`FakePeer`] is a raw stream after a real handshake as a fake node: it
//!   sends control messages, crafted packets or anything else in connected mode.
//! - [`Target`] is a node under test running in this process (its logs are
//!   captured, see [`log`]), with a `collector` process that reports what it
//!   receives; [`ServeTarget`] is `beamlink serve` as a child process, for
//!   resident-memory checks.
//!
//! Every wait is bounded, every socket goes to 127.0.0.1 (some come from
//! 127.0.0.2, to stand for an attacker's address).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use beamlink::node::{Limits, NodeBuilder, NodeEvent};
use beamlink::proto::control::Control;
use beamlink::proto::frame::{FrameDecoder, LengthPrefix, encode_frame};
use beamlink::proto::handshake::{HandshakeConfig, Initiator, InitiatorEvent, OutstandingChallenges};
use beamlink::proto::packet::{Fragments, PacketDecoder, PacketFormat, ReassemblyLimits, encode_message};
use beamlink::proto::{DistFlags, NodeName};
use beamlink::term::{self, Atom, Pid, Reference, Term};
use bytes::BytesMut;

use super::rust::{BeamlinkProcess, TestNode};

/// How long a test waits for something that should happen at once.
pub const PROMPT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------
// Captured logs

/// Everything the library logs in this test binary (captured once per binary).
pub struct Log(Arc<Mutex<Vec<u8>>>);

/// The log of this test binary; installs the capturing subscriber on first use.
pub fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("beamlink=debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        Log(buf)
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        text.lines().filter(|l| needles.iter().all(|n| l.contains(n))).map(str::to_owned).collect()
    }

    /// Waits (bounded) for a line containing every one of `needles`; panics with the needles on timeout.
    pub fn expect(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + PROMPT * 2;
        loop {
            if let Some(line) = self.lines_with(needles).pop() {
                return line;
            }
            if Instant::now() >= deadline {
                let near = needles.first().map(|n| self.lines_with(&[n])).unwrap_or_default();
                panic!("no log line with {needles:?}; lines with {:?}:\n{}", needles.first(), near.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------
// Carriers and raw streams

/// A byte stream to the node (a TCP socket, or a TLS session over one).
pub trait Wire: Read + Write + Send {
    /// Bounds each blocking read.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// This end's address: the `peer_addr` the node logs for the connection.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Wire for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }
}

type Connect = Box<dyn Fn(SocketAddr) -> io::Result<Box<dyn Wire>> + Send + Sync>;

/// How to reach a node: the stream and the handshake's length prefix.
pub struct Carrier {
    /// A name for messages.
    pub name: &'static str,
    /// The handshake's length prefix (2 bytes over TCP, 4 inside TLS).
    pub handshake_framing: LengthPrefix,
    connect: Connect,
}

impl Carrier {
    /// Plain TCP, as OTP's `inet_tcp_dist`.
    pub fn tcp() -> Carrier {
        Carrier {
            name: "tcp",
            handshake_framing: LengthPrefix::U16,
            connect: Box::new(|addr| {
                let s = TcpStream::connect_timeout(&addr, PROMPT)?;
                s.set_nodelay(true)?;
                Ok(Box::new(s) as Box<dyn Wire>)
            }),
        }
    }

    /// Plain TCP from the loopback address `source` (e.g. 127.0.0.2), so an
    /// attacker's address can be told apart from the honest peers' 127.0.0.1.
    pub fn tcp_from(source: IpAddr) -> Carrier {
        Carrier {
            name: "tcp",
            handshake_framing: LengthPrefix::U16,
            connect: Box::new(move |addr| Ok(Box::new(tcp_connect_from(source, addr)?) as Box<dyn Wire>)),
        }
    }

    /// Mutual TLS over TCP, as OTP's `inet_tls_dist`: trusts the CA in `ca`,
    /// presents the certificate `cert` with key `key`, checks the node's
    /// certificate for `localhost`, and frames the handshake with 4-byte
    /// lengths. The TLS handshake completes (bounded by [`PROMPT`]) before
    /// `connect` returns.
    #[cfg(feature = "tls")]
    pub fn tls(ca: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Carrier {
        let config = tls_client_config(ca, Some((cert, key)));
        Carrier {
            name: "tls",
            handshake_framing: LengthPrefix::U32,
            connect: Box::new(move |addr| {
                let tcp = TcpStream::connect_timeout(&addr, PROMPT)?;
                tcp.set_nodelay(true)?;
                Ok(Box::new(tls_handshake(config.clone(), tcp)?) as Box<dyn Wire>)
            }),
        }
    }

    /// A carrier built from any connect function (e.g. TLS over TCP).
    pub fn custom(
        name: &'static str,
        handshake_framing: LengthPrefix,
        connect: impl Fn(SocketAddr) -> io::Result<Box<dyn Wire>> + Send + Sync + 'static,
    ) -> Carrier {
        Carrier { name, handshake_framing, connect: Box::new(connect) }
    }

    /// Opens a raw stream to `addr`.
    pub fn connect(&self, addr: SocketAddr) -> Raw {
        let wire = (self.connect)(addr).unwrap_or_else(|e| panic!("{} connect to {addr}: {e}", self.name));
        Raw { wire, framing: self.handshake_framing, buf: BytesMut::new() }
    }
}

/// How a wait for the node to close ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// The node closed (EOF or reset) after this long.
    After(Duration),
    /// Still open when the wait ended.
    StillOpen,
}

/// What a node did on a raw stream within a wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// It sent this handshake message.
    Message(Vec<u8>),
    /// It closed the connection (EOF or reset).
    Closed,
    /// Neither.
    Nothing,
}

/// A raw stream to the node.
pub struct Raw {
    wire: Box<dyn Wire>,
    framing: LengthPrefix,
    /// Bytes read and not yet consumed.
    pub buf: BytesMut,
}

impl Raw {
    /// A plain-TCP connection the node made to a listener the test holds
    /// (the test plays the node being dialled).
    pub fn accepted(stream: TcpStream) -> Raw {
        Raw { wire: Box::new(stream), framing: LengthPrefix::U16, buf: BytesMut::new() }
    }

    /// `peer_addr=ADDR` with this end's address: a needle for [`Log::expect`]
    /// that matches the node's log lines about this connection only, not
    /// those about another test's.
    pub fn logged_as(&self) -> String {
        format!("peer_addr={}", self.wire.local_addr().expect("the local address of a raw stream"))
    }

    /// Writes `bytes`; a node that already closed makes this fail, which callers may ignore.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wire.write_all(bytes)?;
        self.wire.flush()
    }

    /// Writes one handshake message with the carrier's length prefix.
    pub fn send_handshake(&mut self, msg: &[u8]) -> io::Result<()> {
        let mut out = BytesMut::new();
        encode_frame(self.framing, msg, &mut out).expect("handshake message fits its prefix");
        self.send(&out)
    }

    /// Reads more bytes into the buffer: `Ok(0)` on EOF, an error on timeout or reset.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.wire.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 * 1024];
        let n = self.wire.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next handshake message, or `None` when the node closes first.
    /// Panics if nothing decisive happens within `timeout`.
    pub fn recv_handshake(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match self.await_handshake(timeout) {
            Heard::Message(m) => Some(m),
            Heard::Closed => None,
            Heard::Nothing => panic!("no handshake message and no close within {timeout:?}"),
        }
    }

    /// What the node does within `timeout`: sends a handshake message, closes, or neither.
    pub fn await_handshake(&mut self, timeout: Duration) -> Heard {
        let decoder = FrameDecoder::handshake(self.framing, 1 << 16);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = decoder.decode(&mut self.buf).expect("the node sent a bad handshake frame") {
                return Heard::Message(frame.to_vec());
            }
            match self.fill(deadline) {
                Ok(0) => return Heard::Closed,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => return Heard::Nothing,
                Err(_) => return Heard::Closed,
            }
        }
    }

    /// Reads (and discards) until the node closes, for at most `within`.
    pub fn wait_closed(&mut self, within: Duration) -> Closed {
        let started = Instant::now();
        let deadline = started + within;
        loop {
            match self.fill(deadline) {
                Ok(0) => return Closed::After(started.elapsed()),
                Ok(_) => self.buf.clear(),
                Err(e) if is_timeout(&e) => return Closed::StillOpen,
                Err(_) => return Closed::After(started.elapsed()),
            }
        }
    }

    /// Panics unless the node closes within `within`; returns how long it took.
    pub fn expect_closed(&mut self, within: Duration, what: &str) -> Duration {
        match self.wait_closed(within) {
            Closed::After(t) => t,
            Closed::StillOpen => panic!("{what}: the node kept the connection open for {within:?}"),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// A blocking TCP connection to `addr` from the loopback address `source`.
pub fn tcp_connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    // std cannot bind before connecting; a small shared runtime does it with Tokio's socket.
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for source-bound connects")
    });
    let stream = rt.block_on(async {
        let socket = if source.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(source, 0))?;
        match tokio::time::timeout(PROMPT, socket.connect(addr)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A TLS session over a TCP stream, as the hostile peer's [`Wire`].
#[cfg(feature = "tls")]
pub type TlsWire = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

#[cfg(feature = "tls")]
impl Wire for TlsWire {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }
}

/// A rustls client configuration that trusts the CA in `ca` and presents
/// `identity` (certificate and key files), if given.
#[cfg(feature = "tls")]
pub fn tls_client_config(
    ca: &std::path::Path,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Arc<rustls::ClientConfig> {
    use beamlink::pki::{load_certs, load_private_key};
    let mut roots = rustls::RootCertStore::empty();
    for der in load_certs(ca).expect("read the CA file") {
        roots.add(der).expect("a usable CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                load_certs(cert).expect("read the certificate"),
                load_private_key(key).expect("read the key"),
            )
            .expect("a usable client certificate"),
    };
    Arc::new(config)
}

/// A complete ClientHello (server name `localhost`) from a client with
/// `config`, as the bytes on the wire.
#[cfg(feature = "tls")]
pub fn client_hello(config: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid server name");
    let mut conn = rustls::ClientConnection::new(config, name).expect("a client connection");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write to a Vec");
    }
    assert_eq!(out.first(), Some(&0x16), "a TLS handshake record");
    out
}

/// Runs a TLS client handshake (server name `localhost`) over `tcp`,
/// bounded by [`PROMPT`].
#[cfg(feature = "tls")]
pub fn tls_handshake(config: Arc<rustls::ClientConfig>, mut tcp: TcpStream) -> io::Result<TlsWire> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid server name");
    let mut conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    let deadline = Instant::now() + PROMPT;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake did not complete"));
        }
        tcp.set_read_timeout(Some(left))?;
        conn.complete_io(&mut tcp)?;
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

// ---------------------------------------------------------------------------
// A fake node

/// Who the fake node claims to be, and how it answers.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Its node name.
    pub name: String,
    /// The cookie it uses.
    pub cookie: String,
    /// The flags it advertises.
    pub flags: DistFlags,
    /// Its creation.
    pub creation: u32,
    /// Its answer when the node says `alive` (true: replace the old connection).
    pub replace_alive: bool,
}

impl PeerOptions {
    /// A well-behaved fake node `PREFIX_<unique>@localhost` with beamlink's flags.
    pub fn new(prefix: &str, cookie: &str) -> PeerOptions {
        PeerOptions {
            name: format!("{}@localhost", super::unique_name(prefix)),
            cookie: cookie.into(),
            flags: DistFlags::DEFAULT,
            creation: 0x5eed_0001,
            replace_alive: true,
        }
    }

    /// The same, without FRAGMENTS: the connection then uses pass-through packets (`112`).
    pub fn pass_through(mut self) -> PeerOptions {
        self.flags = DistFlags::from_bits(self.flags.bits() & !DistFlags::FRAGMENTS.bits());
        self
    }
}

/// A connection after a completed handshake, as a fake node.
pub struct FakePeer {
    /// The stream (its buffer holds connected-mode bytes already read).
    pub raw: Raw,
    /// Who we claimed to be.
    pub name: NodeName,
    /// Our creation.
    pub creation: u32,
    /// The flags both sides use.
    pub flags: DistFlags,
    /// The packet format those flags call for.
    pub format: PacketFormat,
    next_id: u32,
}

impl FakePeer {
    /// Dials `target` at `addr` over `carrier` and completes a real handshake.
    /// `Err` describes how the node refused (its status, or a close).
    pub fn connect(
        carrier: &Carrier,
        addr: SocketAddr,
        target: &str,
        options: &PeerOptions,
    ) -> Result<FakePeer, String> {
        let name = NodeName::new(&options.name).expect("a valid fake node name");
        let config = Arc::new(HandshakeConfig {
            name: name.clone(),
            creation: options.creation,
            flags: options.flags,
            required: DistFlags::from_bits(0),
            cookie: options.cookie.clone().into_bytes(),
            outstanding: Arc::new(OutstandingChallenges::default()),
        });
        let mut raw = carrier.connect(addr);
        let mut hs = Initiator::new(config, NodeName::new(target).expect("a valid target name"));
        while let Some(m) = hs.poll_transmit() {
            raw.send_handshake(&m).map_err(|e| format!("send: {e}"))?;
        }
        loop {
            let Some(msg) = raw.recv_handshake(PROMPT * 3) else {
                return Err(if hs.awaiting_ack() { "closed after our reply".into() } else { "closed".into() });
            };
            let event = hs.handle(&msg);
            if let Ok(InitiatorEvent::AliveQuestion) = event {
                let _ = hs.answer_alive(options.replace_alive);
            }
            while let Some(m) = hs.poll_transmit() {
                raw.send_handshake(&m).map_err(|e| format!("send: {e}"))?;
            }
            match event.map_err(|e| e.to_string())? {
                InitiatorEvent::Established(est) => {
                    return Ok(FakePeer {
                        raw,
                        name,
                        creation: options.creation,
                        flags: est.flags,
                        format: PacketFormat::for_flags(est.flags),
                        next_id: 1,
                    });
                }
                InitiatorEvent::AliveQuestion if !options.replace_alive => {
                    return Err("alive; we keep the old one".into());
                }
                _ => {}
            }
        }
    }

    /// A new pid on the fake node.
    pub fn new_pid(&mut self) -> Pid {
        self.next_id += 1;
        Pid::new(self.name.atom().clone(), self.next_id, 0, self.creation)
    }

    /// A reference minted by the fake node.
    pub fn new_ref(&mut self) -> Reference {
        self.next_id += 1;
        Reference::new(self.name.atom().clone(), self.creation, &[self.next_id, 0, 0]).expect("a 3-word reference")
    }

    /// Sends one well-formed control message, encoded by beamlink's own
    /// encoder (fragmented in 64 KiB pieces when negotiated).
    pub fn send_control(&mut self, control: &Control) -> io::Result<()> {
        let body = encode_message(self.format, control, self.flags).expect("encodable control message");
        let mut fragments = Fragments::new(self.format, body, 1, 64 * 1024);
        let mut out = Vec::new();
        loop {
            let mut chunks = Vec::new();
            if fragments.next_packet(&mut chunks) == 0 {
                break;
            }
            for c in chunks {
                out.extend_from_slice(&c);
            }
        }
        self.raw.send(&out)
    }

    /// Sends any control term and optional payload term (valid ETF, whatever
    /// their shape) as one packet.
    pub fn send_terms(&mut self, control: &Term, payload: Option<&Term>) -> io::Result<()> {
        let mut body = self.term_bytes(control);
        if let Some(p) = payload {
            body.extend_from_slice(&self.term_bytes(p));
        }
        self.send_body(&body)
    }

    /// Sends a message body (control and payload bytes, each term encoded
    /// as the format wants: with `131` in pass-through, bare in header
    /// mode) behind the right packet start, in one packet.
    pub fn send_body(&mut self, body: &[u8]) -> io::Result<()> {
        let start: &[u8] = match self.format {
            PacketFormat::PassThrough => &[112],
            PacketFormat::Header { .. } => &[131, 68, 0],
        };
        self.send_packet(&[start, body].concat())
    }

    /// Sends a SEND of `payload_bytes` (raw, as the format wants them) to `to`.
    pub fn send_raw_payload(&mut self, to: &Pid, payload_bytes: &[u8]) -> io::Result<()> {
        let control = Term::tuple(vec![Term::from(2), Term::atom(""), Term::Pid(to.clone())]);
        let mut body = self.term_bytes(&control);
        body.extend_from_slice(payload_bytes);
        self.send_body(&body)
    }

    /// A term's bytes as this connection's format carries them.
    pub fn term_bytes(&self, t: &Term) -> Vec<u8> {
        let full = term::encode(t).expect("encodable term");
        match self.format {
            PacketFormat::PassThrough => full,
            PacketFormat::Header { .. } => full[1..].to_vec(),
        }
    }

    /// Sends one packet: a 4-byte length and `packet`.
    pub fn send_packet(&mut self, packet: &[u8]) -> io::Result<()> {
        let mut out = BytesMut::new();
        encode_frame(LengthPrefix::U32, packet, &mut out).expect("packet fits");
        self.raw.send(&out)
    }

    /// The next control message from the node (ticks are skipped), or `None`
    /// when the node closes or nothing comes within `timeout`.
    pub fn recv_control(&mut self, timeout: Duration) -> Option<Control> {
        let frames = FrameDecoder::connected(256 << 20);
        let mut packets = PacketDecoder::new(self.format, term::Decoder::default(), ReassemblyLimits::default());
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(frame) = frames.decode(&mut self.raw.buf).expect("the node sent a bad frame") {
                if frame.is_empty() {
                    continue;
                }
                if let Some(c) = packets.decode(frame).expect("the node sent a bad packet") {
                    return Some(c);
                }
            }
            match self.raw.fill(deadline) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Counts the ticks (empty frames) the node sends within `window`.
    pub fn count_ticks(&mut self, window: Duration) -> usize {
        let frames = FrameDecoder::connected(256 << 20);
        let deadline = Instant::now() + window;
        let mut ticks = 0;
        loop {
            while let Some(frame) = frames.decode(&mut self.raw.buf).expect("the node sent a bad frame") {
                ticks += usize::from(frame.is_empty());
            }
            match self.raw.fill(deadline) {
                Ok(0) | Err(_) => return ticks,
                Ok(_) => {}
            }
        }
    }

    /// `net_adm:ping` done by hand: a `{is_auth, Node}` call to `net_kernel`,
    /// answered `{Ref, yes}`. True when the answer arrives within `timeout`.
    pub fn ping(&mut self, timeout: Duration) -> bool {
        let from = self.new_pid();
        let reference = self.new_ref();
        let request = Term::tuple(vec![
            Term::atom("$gen_call"),
            Term::tuple(vec![Term::Pid(from.clone()), Term::Ref(Box::new(reference.clone()))]),
            Term::tuple(vec![Term::atom("is_auth"), Term::Atom(self.name.atom().clone())]),
        ]);
        let control = Control::RegSend { from, to: Atom::new("net_kernel"), message: request };
        if self.send_control(&control).is_err() {
            return false;
        }
        let deadline = Instant::now() + timeout;
        while let Some(c) = self.recv_control(deadline.saturating_duration_since(Instant::now())) {
            let reply = match c {
                Control::Send { message, .. } | Control::AliasSend { message, .. } => message,
                _ => continue,
            };
            if reply == Term::tuple(vec![Term::Ref(Box::new(reference.clone())), Term::atom("yes")]) {
                return true;
            }
        }
        false
    }
}

/// Encodes the `send_name` ('N') message for `name` with `flags`, without validating anything.
pub fn send_name(flags: DistFlags, creation: u32, name: &[u8]) -> Vec<u8> {
    beamlink::proto::handshake::messages::SendName { flags, creation, name: name.to_vec() }.encode()
}

// ---------------------------------------------------------------------------
// Nodes under test

/// A node under test in this process: its logs are captured, its EPMD (our
/// daemon, started in-process) listens on a private port, and a registered
/// `collector` process forwards everything it receives to [`Target::received`].
pub struct Target {
    /// The node.
    pub test: TestNode,
    /// Its EPMD port.
    pub epmd_port: u16,
    /// Its distribution address (127.0.0.1).
    pub addr: SocketAddr,
    /// The collector's pid.
    pub collector: Pid,
    /// What the collector received, in order.
    pub received: Receiver<Term>,
    /// Its cookie.
    pub cookie: String,
    /// How fake peers reach it (plain TCP unless [`Target::with_carrier`] says otherwise).
    pub carrier: Carrier,
    /// How an honest peer named by the first argument is configured to reach
    /// it (nothing to add over plain TCP; a TLS target gives it a certificate).
    honest: HonestConfig,
}

/// Configures an honest peer's node (its name, then the builder).
pub type HonestConfig = Arc<dyn Fn(&str, NodeBuilder) -> NodeBuilder + Send + Sync>;

impl Target {
    /// Starts a target named `PREFIX_<unique>@localhost` with `limits`.
    pub fn start(prefix: &str, limits: Limits) -> Target {
        Target::start_with(prefix, |b| b.limits(limits))
    }

    /// Starts a target with a custom configuration (limits, message size...).
    pub fn start_with(prefix: &str, configure: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Target {
        Target::start_named(&format!("{}@localhost", super::unique_name(prefix)), configure)
    }

    /// Starts a target named `name` (e.g. a name a certificate was issued for first).
    pub fn start_named(name: &str, configure: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Target {
        log();
        let epmd_port = super::free_port();
        let name = name.to_string();
        let cookie = format!("cookie-{}", super::unique_name("c"));
        let test = TestNode::start(&name, &cookie, epmd_port, |b| {
            configure(b.listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).auto_start_epmd(true))
        });
        let addr = test.node.listen_addr().expect("the target listens");
        let (tx, received) = channel();
        let collector = test
            .node
            .spawn_registered("collector", move |mut p| async move {
                while let Ok(m) = p.recv().await {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
            })
            .expect("register the collector");
        let honest: HonestConfig = Arc::new(|_, b| b);
        Target { test, epmd_port, addr, collector, received, cookie, carrier: Carrier::tcp(), honest }
    }

    /// The same target reached through `carrier` (e.g. TLS, for a node
    /// started with a TLS transport through [`Target::start_named`]).
    pub fn with_carrier(mut self, carrier: Carrier) -> Target {
        self.carrier = carrier;
        self
    }

    /// The same target, with honest peers configured by `honest` (given the
    /// peer's name and its builder), e.g. with a TLS transport and a certificate.
    pub fn with_honest_peers(
        mut self,
        honest: impl Fn(&str, NodeBuilder) -> NodeBuilder + Send + Sync + 'static,
    ) -> Target {
        self.honest = Arc::new(honest);
        self
    }

    /// The node's name.
    pub fn name(&self) -> String {
        self.test.name()
    }

    /// Options for a well-behaved fake peer (right cookie).
    pub fn peer_options(&self, prefix: &str) -> PeerOptions {
        PeerOptions::new(prefix, &self.cookie)
    }

    /// A fake peer with a completed handshake; panics if the node refuses it.
    pub fn fake_peer(&self, options: &PeerOptions) -> FakePeer {
        FakePeer::connect(&self.carrier, self.addr, &self.name(), options)
            .unwrap_or_else(|e| panic!("the target refused a well-behaved fake peer {}: {e}", options.name))
    }

    /// A raw stream (over the target's carrier) to the node's distribution port.
    pub fn raw(&self) -> Raw {
        self.carrier.connect(self.addr)
    }

    /// The first `count` messages the collector receives, each waited for at
    /// most [`PROMPT`] (the collector passes them on from a task of its own),
    /// then whatever else arrives within `linger`: a message that should
    /// not have come shows up at the end.
    pub fn receive(&self, count: usize, linger: Duration) -> Vec<Term> {
        let mut out = Vec::new();
        while out.len() < count {
            match self.received.recv_timeout(PROMPT) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out.extend(self.drain_received(linger));
        out
    }

    /// Everything the collector received within `wait`.
    pub fn drain_received(&self, wait: Duration) -> Vec<Term> {
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while let Ok(m) = self.received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            out.push(m);
        }
        out
    }

    /// Subscribes to the node's up/down events.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.test.node.events()
    }

    /// Runs `attack` on a fresh fake peer between two good messages to the
    /// collector (`marker(1)` before, `marker(2)` after); then checks that the
    /// node closed the connection, logged a line with the peer's name and
    /// `why`, and delivered `marker(1)` only.
    pub fn expect_refused(&self, options: &PeerOptions, why: &str, attack: impl FnOnce(&mut FakePeer)) {
        let mut peer = self.fake_peer(options);
        send_marker(&mut peer, self, 1);
        attack(&mut peer);
        let from = peer.new_pid();
        let _ = peer.send_control(&Control::Send { from: Some(from), to: self.collector.clone(), message: marker(2) });
        peer.raw.expect_closed(PROMPT, why);
        log().expect(&[&options.name, why]);
        assert_eq!(self.receive(1, Duration::from_millis(200)), vec![marker(1)], "{why}: delivered messages");
    }

    /// Asserts that a fresh beamlink node (through EPMD, over the target's
    /// transport) can ping the target.
    pub fn assert_serves_honest_peer(&self) {
        assert_serves_honest_peer_with(&self.name(), &self.cookie, self.epmd_port, &*self.honest);
    }
}

/// `{marker, N}`: a message whose arrival (or not) shows where delivery stopped.
pub fn marker(n: i64) -> Term {
    Term::tuple(vec![Term::atom("marker"), Term::from(n)])
}

/// Sends a good SEND of `marker(n)` to the target's collector.
pub fn send_marker(peer: &mut FakePeer, target: &Target, n: i64) {
    let from = peer.new_pid();
    peer.send_control(&Control::Send { from: Some(from), to: target.collector.clone(), message: marker(n) })
        .expect("send a marker");
}

/// Asserts that a fresh beamlink node, looking `node` up in the EPMD on
/// `epmd_port`, can ping it.
pub fn assert_serves_honest_peer(node: &str, cookie: &str, epmd_port: u16) {
    assert_serves_honest_peer_with(node, cookie, epmd_port, &|_, b| b);
}

/// [`assert_serves_honest_peer`] with the peer's node configured by `configure`
/// (given the peer's name), e.g. for a TLS transport.
pub fn assert_serves_honest_peer_with(
    node: &str,
    cookie: &str,
    epmd_port: u16,
    configure: &dyn Fn(&str, NodeBuilder) -> NodeBuilder,
) {
    let honest = format!("{}@localhost", super::unique_name("honest"));
    let peer = TestNode::start(&honest, cookie, epmd_port, |b| {
        configure(&honest, b.listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
    });
    let ok = peer.run(Duration::from_secs(30), peer.node.ping(node));
    assert!(ok, "the node under attack no longer serves a well-behaved peer");
}

/// Events that concern `peer`, up to and including the first that `wanted`
/// accepts, or all of them seen within `limit` if none does.
pub fn events_until(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    peer: &str,
    limit: Duration,
    wanted: impl Fn(&NodeEvent) -> bool,
) -> Vec<NodeEvent> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(e) => {
                let node = match &e {
                    NodeEvent::Up { node, .. } | NodeEvent::Down { node, .. } => node.as_str().to_string(),
                };
                if node == peer {
                    let done = wanted(&e);
                    out.push(e);
                    if done {
                        break;
                    }
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    out
}

/// Events seen within `window` that concern `peer`.
pub fn events_for(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    peer: &str,
    window: Duration,
) -> Vec<NodeEvent> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(e) => {
                let node = match &e {
                    NodeEvent::Up { node, .. } | NodeEvent::Down { node, .. } => node.as_str().to_string(),
                };
                if node == peer {
                    out.push(e);
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    out
}

/// `beamlink serve` as a child process with its own EPMD on a private port,
/// for checks on its resident memory.
pub struct ServeTarget {
    /// The child.
    pub process: BeamlinkProcess,
    /// Its EPMD port.
    pub epmd_port: u16,
    /// Its distribution address (127.0.0.1).
    pub addr: SocketAddr,
    /// Its cookie.
    pub cookie: String,
}

impl ServeTarget {
    /// Starts `beamlink serve --sname PREFIX_<unique>@localhost` on a free port, plus `extra` arguments.
    pub fn start(prefix: &str, extra: &[&str]) -> ServeTarget {
        let epmd_port = super::free_port();
        let port = super::free_port();
        let cookie = format!("cookie-{}", super::unique_name("c"));
        let name = format!("{}@localhost", super::unique_name(prefix));
        let port_text = port.to_string();
        // The EPMD on its private port lives and dies with it.
        let mut args = vec!["serve", "--sname", &name, "--cookie", &cookie, "--port", &port_text, "--no-epmd-daemon"];
        args.extend_from_slice(extra);
        let mut command = std::process::Command::new(super::rust::beamlink_exe());
        // Refusals are logged as warnings; keep the test output to errors.
        command.args(&args).env("ERL_EPMD_PORT", epmd_port.to_string()).env("RUST_LOG", "error");
        let process = BeamlinkProcess::spawn(command);
        ServeTarget { process, epmd_port, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), cookie }
    }

    /// The node's name.
    pub fn name(&self) -> String {
        self.process.node.clone()
    }

    /// The child's resident memory in KiB (`VmRSS` in /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.process.pid())
    }

    /// A fake peer with a completed handshake.
    pub fn fake_peer(&self, prefix: &str) -> FakePeer {
        let options = PeerOptions::new(prefix, &self.cookie);
        FakePeer::connect(&Carrier::tcp(), self.addr, &self.name(), &options)
            .unwrap_or_else(|e| panic!("beamlink serve refused a well-behaved fake peer: {e}"))
    }

    /// Asserts that a fresh beamlink node can ping the child.
    pub fn assert_serves_honest_peer(&self) {
        assert_serves_honest_peer(&self.name(), &self.cookie, self.epmd_port);
    }
}

/// CPU seconds (user and system) used so far by process `pid`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (which may hold spaces) start at `state`;
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').expect("a command name in /proc/PID/stat") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("a tick count");
    (ticks(11) + ticks(12)) / 100.0
}

/// The resident memory of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
