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
//! | [`pki`] | certificates and keys: PEM loading, certificate facts, node identity check (feature `tls`) |
//! | [`certs`] | provisioning: cluster CA, node certificates, Erlang optfiles, inspection (feature `certs`) |
//!
//! Lower layers never depend on higher ones; see `DESIGN.md` in the source
//! repository for the full picture.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "certs")]
pub mod certs;
#[cfg(feature = "tls")]
pub mod pki;
