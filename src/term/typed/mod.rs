//! serde between Rust types and [`Term`]s (feature `serde`), with the
//! conventions Erlang and Elixir code uses. Re-exported from [`crate::term`].

mod de;
pub(crate) mod error;
mod names;
pub(crate) mod passthrough;
mod ser;
mod with;

pub use de::Deserializer;
pub use error::{ConvertError, ConvertErrorKind, PathSegment};
pub use ser::{Absent, Serializer};
pub use with::{bigint, charlist};

use crate::term::Term;

/// Converts any `Serialize` value to a [`Term`], for Erlang peers (`None` is
/// `undefined`; use [`Serializer::elixir`] for `nil`).
///
/// | Rust | Erlang |
/// |---|---|
/// | integers of any width | integers (`u64`, `i128`... beyond 64 bits are bignums); [`bigint`] for `BigInt` |
/// | `f32`, `f64` | floats (NaN and infinities are an error) |
/// | `bool` | `true`, `false` |
/// | `None`, `()` | `undefined` (`nil` with [`Serializer::elixir`], and in Elixir structs) |
/// | `String`, `&str` | UTF-8 binaries; [`charlist`] for `"text"` |
/// | `serde_bytes` | binaries |
/// | `char` | its code point |
/// | `Vec`, slices, sets | lists |
/// | tuples, tuple structs | tuples |
/// | maps | maps |
/// | struct | map with atom keys |
/// | struct renamed `"Elixir.Shop.Order"` | Elixir struct `%Shop.Order{}` (`__struct__` set) |
/// | struct or tuple struct renamed `"#order"` | record `{order, Field1, ...}`, fields in order |
/// | newtype struct `Id(u64)` | its content |
/// | unit struct `Ping`, unit variant `InProgress` | atoms `ping`, `in_progress` |
/// | newtype / tuple variant `Insert(K, V)` | `{insert, K, V}` |
/// | struct variant `Put { key }` | `{put, #{key => K}}` (read also from `{put, K}`) |
/// | struct variant renamed `"#put"` | `{put, K, ...}`, fields in order; skipped fields left out |
/// | `Ok(())`, `Ok(v)`, `Err(e)` | `ok`, `{ok, V}`, `{error, E}` |
/// | [`Term`], [`Pid`](crate::term::Pid), [`Reference`](crate::term::Reference), [`Atom`](crate::term::Atom), [`Port`](crate::term::Port), [`Map`](crate::term::Map) | themselves, untouched |
///
/// Names become atoms this way: UpperCamelCase (Rust's default for types
/// and variants) becomes snake_case; any other name is kept as written, so
/// `#[serde(rename = "EXIT")]` gives `'EXIT'`; a name in single quotes,
/// `#[serde(rename = "'InProgress'")]`, is the atom inside them. Struct
/// fields keep their names.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use beamlink::term::{self, Pid, Term};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Item { sku: String, qty: u32 }
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Order { id: u64, items: Vec<Item>, note: Option<String> }
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// enum Status { InProgress, Shipped { tracking: String }, Cancelled(String) }
///
/// let order = Order { id: 7, items: vec![Item { sku: "A1".into(), qty: 2 }], note: None };
/// let t = term::to_term(&order).unwrap();
/// assert_eq!(t.to_string(), r#"#{id => 7,items => [#{qty => 2,sku => <<"A1">>}],note => undefined}"#);
/// assert_eq!(term::from_term::<Order>(&t).unwrap(), order);
///
/// assert_eq!(term::to_term(&Status::InProgress).unwrap(), Term::atom("in_progress"));
/// let shipped = term::parse(r#"{shipped, #{tracking => <<"Z9">>}}"#).unwrap();
/// assert_eq!(term::from_term::<Status>(&shipped).unwrap(), Status::Shipped { tracking: "Z9".into() });
/// assert_eq!(term::to_term(&Status::Cancelled("late".into())).unwrap().to_string(), r#"{cancelled,<<"late">>}"#);
///
/// // Erlang records and Elixir structs, chosen by the type's serde name.
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// #[serde(rename = "#point")]
/// struct Point { x: i64, y: i64 }
/// assert_eq!(term::to_term(&Point { x: 1, y: 2 }).unwrap().to_string(), "{point,1,2}");
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// #[serde(rename = "Elixir.Shop.User")]
/// struct User { name: String, email: Option<String> }
/// let user = User { name: "ann".into(), email: None };
/// assert_eq!(
///     term::to_term(&user).unwrap().to_string(),
///     r#"#{'__struct__' => 'Elixir.Shop.User',email => nil,name => <<"ann">>}"#
/// );
///
/// // Results are Erlang's ok/error conventions.
/// let ok: Result<(), String> = Ok(());
/// assert_eq!(term::to_term(&ok).unwrap(), Term::atom("ok"));
/// let err: Result<u32, String> = term::from_term(&term::parse(r#"{error, <<"full">>}"#).unwrap()).unwrap();
/// assert_eq!(err, Err("full".to_string()));
///
/// // A pid (or any term) travels untouched inside a typed message.
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Subscribe { from: Pid, topic: String, extra: Term }
/// let from = Pid::new(term::Atom::new("a@host"), 42, 0, 1);
/// let sub = Subscribe { from: from.clone(), topic: "t".into(), extra: term::parse("{any, [thing]}").unwrap() };
/// let t = term::to_term(&sub).unwrap();
/// assert_eq!(t.as_map().unwrap().get_atom("from"), Some(&Term::Pid(from)));
/// assert_eq!(term::from_term::<Subscribe>(&t).unwrap(), sub);
/// ```
pub fn to_term<T: ?Sized + serde::Serialize>(value: &T) -> Result<Term, ConvertError> {
    value.serialize(Serializer::new())
}

/// Reads a [`Term`] as any `Deserialize` type, by the conventions of
/// [`to_term`]. Strings and byte slices may borrow from the term's binaries.
///
/// Reading is lenient where Erlang code is: a string may be a binary, a
/// charlist or an atom; `None` may be `undefined` or `nil`; a float may be
/// written as an integer; a map (or a struct) may be a proplist
/// (`[{Key, Value}, Flag]`), and its keys atoms or binaries; a `Vec<u8>` may
/// be a binary. An integer that does not fit is an error, never a wrap.
/// Errors name the place they failed:
///
/// ```
/// use serde::Deserialize;
/// use beamlink::term;
///
/// #[derive(Deserialize, Debug)]
/// struct Item { price: u32 }
/// #[derive(Deserialize, Debug)]
/// struct Order { items: Vec<Item> }
///
/// let t = term::parse("#{items => [#{price => 1}, #{price => foo}]}").unwrap();
/// let e = term::from_term::<Order>(&t).unwrap_err();
/// assert_eq!(e.to_string(), "items[1].price: expected an integer, got the atom foo");
///
/// let t = term::parse("#{items => [#{price => 5000000000}]}").unwrap();
/// assert_eq!(term::from_term::<Order>(&t).unwrap_err().to_string(), "items[0].price: 5000000000 does not fit in u32");
///
/// // Borrowing: no copy of the binary.
/// let t = term::parse(r#"<<"hello">>"#).unwrap();
/// let s: &str = term::from_term(&t).unwrap();
/// assert_eq!(s, "hello");
/// ```
pub fn from_term<'de, T: serde::Deserialize<'de>>(term: &'de Term) -> Result<T, ConvertError> {
    T::deserialize(Deserializer::new(term))
}

#[cfg(test)]
mod tests;
