//! Erlang terms and the External Term Format (ETF).

mod atom;
mod fun;
mod ids;
mod value;

pub use atom::{Atom, AtomError};
pub use fun::{ExportFun, Fun, LocalFun};
pub use ids::{Pid, Port, Reference};
pub use value::{BitString, Term};
