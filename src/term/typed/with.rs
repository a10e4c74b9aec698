//! Field attributes for the conventions that are not the default:
//! `#[serde(with = "beamlink::term::charlist")]` and
//! `#[serde(with = "beamlink::term::bigint")]`.

/// Strings written as charlists (Erlang's `"text"`, a list of code points)
/// instead of UTF-8 binaries; reading takes either. Works on any field type
/// that holds strings: `String`, `Vec<String>`, `Option<String>`...
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use beamlink::term::{self, Term};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Login {
///     #[serde(with = "beamlink::term::charlist")]
///     user: String,
/// }
///
/// let login = Login { user: "joe".into() };
/// let t = term::to_term(&login).unwrap();
/// assert_eq!(t.to_string(), r#"#{user => "joe"}"#);
/// assert_eq!(term::from_term::<Login>(&t).unwrap(), login);
/// ```
pub mod charlist {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::term::typed::passthrough::CHARLIST_TOKEN;

    /// Writes the strings in `value` as charlists (other formats see `value` unchanged).
    pub fn serialize<T: ?Sized + Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(CHARLIST_TOKEN, value)
    }

    /// Reads `T`; its strings may be binaries or charlists.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        T::deserialize(deserializer)
    }
}

/// A `num_bigint::BigInt` field as an Erlang integer of any size.
///
/// ```
/// use num_bigint::BigInt;
/// use serde::{Deserialize, Serialize};
/// use beamlink::term;
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Balance {
///     #[serde(with = "beamlink::term::bigint")]
///     amount: BigInt,
/// }
///
/// let b = Balance { amount: BigInt::from(10).pow(30) };
/// let t = term::to_term(&b).unwrap();
/// assert_eq!(t.to_string(), "#{amount => 1000000000000000000000000000000}");
/// assert_eq!(term::from_term::<Balance>(&t).unwrap(), b);
/// ```
pub mod bigint {
    use num_bigint::BigInt;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    use crate::term::Term;

    /// Writes `value` as an integer term (other formats see its decimal text).
    pub fn serialize<S: Serializer>(value: &BigInt, serializer: S) -> Result<S::Ok, S::Error> {
        Term::from_bigint(value.clone()).serialize(serializer)
    }

    /// Reads an integer of any size.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BigInt, D::Error> {
        let term = Term::deserialize(deserializer)?;
        term.as_bigint().ok_or_else(|| {
            de::Error::custom(format!("expected an integer, got {}", crate::term::typed::error::describe(&term)))
        })
    }
}
