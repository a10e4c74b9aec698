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
//!
//! Lower layers never depend on higher ones; see `DESIGN.md` in the source
//! repository for the full picture.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "certs")]
pub mod certs;
pub mod conn;
pub mod epmd;
pub mod node;
#[cfg(feature = "tls")]
pub mod pki;
pub mod proto;
pub mod term;
pub mod transport;
