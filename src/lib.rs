//! # beamlink
//!
//! Join Erlang/OTP clusters from Rust. beamlink speaks the real Erlang
//! distribution protocol (EPMD, the distribution handshake, framing and the
//! External Term Format), so a Rust node and a stock `erl` node are peers, and
//! it can carry that protocol over mutual TLS for networks that cannot be
//! trusted.
//!
//! ## Layers
//!
//! | module | job |
//! |---|---|
//! | [`term`] | External Term Format codec and Erlang term syntax; no I/O |
//! | [`proto`] | sans-IO protocol core: flags, node names, handshake, framing, control messages, packets |
//! | [`epmd`] | port mapper: sans-IO codec, async client, embeddable daemon, registrar with auto-start |
//! | [`transport`] | the only layer that names TCP or TLS: transports and resolvers |
//! | [`conn`] | the handshake driver and the reader/writer tasks of a connection |
//! | [`node`] | the runtime: processes, links, monitors, connections, `net_kernel`, `rex` |
//! | [`pki`] | certificates and keys: PEM loading, certificate facts, node identity check (feature `tls`) |
//! | [`certs`] | provisioning: cluster CA, node certificates, Erlang optfiles, inspection (feature `certs`) |
//! | [`utc`] | times as text (`2026-12-04 19:50:01 UTC`); depends on nothing |
//!
//! Lower layers never depend on higher ones: `term` depends on nothing else
//! in the crate, `proto` does no I/O, and only `transport` names TCP or TLS.
//!
//! ## Two nodes
//!
//! ```no_run
//! use std::time::Duration;
//! use beamlink::node::Node;
//! use beamlink::term::Term;
//!
//! # async fn two_nodes() -> Result<(), Box<dyn std::error::Error>> {
//! // Two nodes (in one program here; usually on two machines). The first one
//! // to start runs an EPMD in its process if none is running.
//! let a = Node::builder("a@localhost").cookie("secret").start().await?;
//! let b = Node::builder("b@localhost").cookie("secret").start().await?;
//!
//! // A process on B that answers `{From, Msg}` with `{got, Msg}`.
//! b.spawn_registered("greeter", |mut p| async move {
//!     while let Ok(msg) = p.recv().await {
//!         if let Some([Term::Pid(from), m]) = msg.as_tuple() {
//!             let reply = Term::Tuple(vec![Term::atom("got"), m.clone()]);
//!             let _ = p.send(from, reply).await;
//!         }
//!     }
//! })?;
//!
//! // From A: the first send connects; the reply comes back to our pid.
//! let mut me = a.process();
//! let hello = Term::Tuple(vec![Term::Pid(me.pid().clone()), Term::atom("hello")]);
//! me.send_named("greeter", "b@localhost", hello).await?;
//! let reply = me.recv_timeout(Duration::from_secs(5)).await?;
//! assert_eq!(reply.unwrap().to_string(), "{got,hello}");
//!
//! // The same `send` works for a pid on either node, or on an Erlang node.
//! # Ok(()) }
//! ```
//!
//! A stock Erlang node talks to these nodes as to any other:
//! `{greeter, 'b@localhost'} ! {self(), hello}` from `erl -sname e -setcookie secret`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "certs")]
pub mod certs;
pub mod conn;
pub mod epmd;
#[cfg(any(feature = "tls", feature = "policy-file"))]
mod file_stamp;
pub mod node;
#[cfg(feature = "tls")]
pub mod pki;
pub mod proto;
pub mod term;
pub mod transport;
pub mod utc;

/// The README's Rust example, compiled with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
