//! [`Deserializer`]: a [`Term`] to any `Deserialize` value, borrowing strings
//! and bytes from the term's binaries where it can.

use std::sync::LazyLock;

use num_bigint::BigInt;
use serde::de::value::{StrDeserializer, U8Deserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::{ConvertError, ConvertErrorKind, PathSegment};
use super::names::{Naming, Shape, static_atom, variant_atom_text, variant_is};
use super::passthrough::{TERM_TOKEN, offer_for_deserialize};
use super::ser::path_for_key;
use crate::term::Term;

type Result<T, E = ConvertError> = std::result::Result<T, E>;

static UNDEFINED: LazyLock<Term> = LazyLock::new(|| Term::atom("undefined"));
static TRUE: LazyLock<Term> = LazyLock::new(|| Term::atom("true"));

/// Reads one [`Term`] as any `Deserialize` value, by the conventions
/// described in [`crate::term::to_term`]. Strings and byte slices borrow from
/// the term's binaries.
#[derive(Clone, Copy, Debug)]
pub struct Deserializer<'de> {
    term: &'de Term,
}

impl<'de> Deserializer<'de> {
    /// A deserializer reading `term`.
    pub fn new(term: &'de Term) -> Deserializer<'de> {
        Deserializer { term }
    }

    fn mismatch(&self, expected: &str) -> ConvertError {
        ConvertError::mismatch(expected, self.term)
    }

    fn is_absent(&self) -> bool {
        self.term.is_atom("undefined") || self.term.is_atom("nil")
    }

    fn integer<T>(&self, target: &'static str) -> Result<T>
    where
        T: TryFrom<i64> + for<'a> TryFrom<&'a BigInt>,
    {
        let out_of_range =
            || ConvertError::new(ConvertErrorKind::OutOfRange { value: self.term.bounded(60).to_string(), target });
        match self.term {
            Term::Int(i) => T::try_from(*i).map_err(|_| out_of_range()),
            Term::BigInt(b) => T::try_from(&**b).map_err(|_| out_of_range()),
            _ => Err(self.mismatch("an integer")),
        }
    }

    fn float(&self) -> Result<f64> {
        match self.term {
            Term::Float(f) => Ok(*f),
            // Erlang code often writes a whole number where a float is meant.
            Term::Int(i) => Ok(*i as f64),
            _ => Err(self.mismatch("a float")),
        }
    }

    fn visit_struct_map<V: Visitor<'de>>(&self, visitor: V, module: Option<&str>) -> Result<V::Value> {
        match self.term {
            Term::Map(map) => {
                if let Some(module) = module
                    && let Some(found) = map.get_atom("__struct__")
                    && !found.is_atom(module)
                {
                    return Err(ConvertError::mismatch(format!("a %{}{{}} struct", elixir_name(module)), found)
                        .at(PathSegment::Field("__struct__".into())));
                }
                visitor.visit_map(Entries::new(map.as_slice(), true))
            }
            Term::List(items) => visitor.visit_map(Proplist::new(items)),
            _ => Err(self.mismatch("a map")),
        }
    }
}

fn elixir_name(module: &str) -> &str {
    module.strip_prefix("Elixir.").unwrap_or(module)
}

macro_rules! integers {
    ($($method:ident, $visit:ident, $ty:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            visitor.$visit(self.integer::<$ty>(stringify!($ty))?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Deserializer<'de> {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Int(i) => visitor.visit_i64(*i),
            Term::BigInt(b) => match (i128::try_from(&**b), u128::try_from(&**b)) {
                (Ok(i), _) => visitor.visit_i128(i),
                (_, Ok(u)) => visitor.visit_u128(u),
                _ => Err(ConvertError::new(ConvertErrorKind::OutOfRange {
                    value: self.term.bounded(60).to_string(),
                    target: "i128",
                })),
            },
            Term::Float(f) => visitor.visit_f64(*f),
            Term::Atom(a) => match a.as_str() {
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                "undefined" | "nil" => visitor.visit_unit(),
                text => visitor.visit_borrowed_str(text),
            },
            Term::Binary(b) => match std::str::from_utf8(b) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            Term::List(items) | Term::Tuple(items) => visitor.visit_seq(Elements::new(items)),
            Term::Map(map) => visitor.visit_map(Entries::new(map.as_slice(), false)),
            _ => Err(self.mismatch("a term with a Rust counterpart (use Term, Pid or Reference for this one)")),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Atom(a) if a.as_str() == "true" => visitor.visit_bool(true),
            Term::Atom(a) if a.as_str() == "false" => visitor.visit_bool(false),
            _ => Err(self.mismatch("true or false")),
        }
    }

    integers! {
        deserialize_i8, visit_i8, i8;
        deserialize_i16, visit_i16, i16;
        deserialize_i32, visit_i32, i32;
        deserialize_i64, visit_i64, i64;
        deserialize_i128, visit_i128, i128;
        deserialize_u8, visit_u8, u8;
        deserialize_u16, visit_u16, u16;
        deserialize_u32, visit_u32, u32;
        deserialize_u64, visit_u64, u64;
        deserialize_u128, visit_u128, u128;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f32(self.float()? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let c = match self.term {
            Term::Int(i) => u32::try_from(*i).ok().and_then(char::from_u32),
            Term::Binary(b) => std::str::from_utf8(b).ok().and_then(single_char),
            _ => None,
        };
        visitor.visit_char(c.ok_or_else(|| self.mismatch("a character (a code point)"))?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Binary(b) => match std::str::from_utf8(b) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => Err(self.mismatch("a string (a UTF-8 binary)")),
            },
            Term::Atom(a) => visitor.visit_borrowed_str(a.as_str()),
            Term::List(_) => match self.term.to_string_value() {
                Some(text) => visitor.visit_string(text),
                None => Err(self.mismatch("a string (a UTF-8 binary or a charlist)")),
            },
            _ => Err(self.mismatch("a string (a UTF-8 binary)")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Binary(b) => visitor.visit_borrowed_bytes(b),
            Term::List(items) => {
                let bytes: Option<Vec<u8>> =
                    items.iter().map(|t| t.as_i64().and_then(|i| u8::try_from(i).ok())).collect();
                visitor.visit_byte_buf(bytes.ok_or_else(|| self.mismatch("a binary"))?)
            }
            _ => Err(self.mismatch("a binary")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_absent() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_absent() { visitor.visit_unit() } else { Err(self.mismatch("undefined or nil")) }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value> {
        let atom = static_atom(name, Naming::Converted).map_err(|e| ConvertError::new(ConvertErrorKind::Atom(e)))?;
        if self.term.as_atom() == Some(&atom) {
            visitor.visit_unit()
        } else {
            Err(self.mismatch(&format!("the atom {}", Term::Atom(atom))))
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value> {
        if name == TERM_TOKEN {
            offer_for_deserialize(self.term, || visitor.visit_unit())
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::List(items) => visitor.visit_seq(Elements::new(items)),
            Term::Binary(bytes) => visitor.visit_seq(ByteElements { bytes: bytes.iter(), index: 0 }),
            _ => Err(self.mismatch("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Tuple(items) if items.len() == len => visitor.visit_seq(Elements::new(items)),
            _ => Err(self.mismatch(&format!("a tuple of {len} elements"))),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, name: &'static str, len: usize, visitor: V) -> Result<V::Value> {
        match Shape::of(name) {
            Shape::Record(tag) => match self.term {
                Term::Tuple(items) if items.len() == len + 1 && items[0].is_atom(tag) => {
                    visitor.visit_seq(Elements::new(&items[1..]))
                }
                _ => Err(self.mismatch(&format!("a {tag} record ({} elements tagged {tag})", len + 1))),
            },
            _ => self.deserialize_tuple(len, visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Map(map) => visitor.visit_map(Entries::new(map.as_slice(), false)),
            Term::List(items) => visitor.visit_map(Proplist::new(items)),
            _ => Err(self.mismatch("a map")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match Shape::of(name) {
            Shape::Map => self.visit_struct_map(visitor, None),
            Shape::ElixirStruct(module) => self.visit_struct_map(visitor, Some(module)),
            Shape::Record(tag) => match self.term {
                Term::Tuple(items) if items.len() == fields.len() + 1 && items[0].is_atom(tag) => {
                    visitor.visit_seq(Elements::named(&items[1..], fields))
                }
                _ => Err(self.mismatch(&format!("a {tag} record ({} elements tagged {tag})", fields.len() + 1))),
            },
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let (tag, rest) = match self.term {
            Term::Atom(a) => (a, &[][..]),
            Term::Tuple(items) => match items.split_first() {
                Some((Term::Atom(a), rest)) => (a, rest),
                _ => return Err(self.mismatch("a tuple tagged with an atom")),
            },
            _ => return Err(self.mismatch("an atom or a tagged tuple")),
        };
        let variant = variants.iter().copied().find(|v| variant_is(name, v, tag.as_str())).ok_or_else(|| {
            let names: Vec<String> = variants.iter().map(|v| variant_atom_text(name, v).into_owned()).collect();
            ConvertError::mismatch(format!("one of {}", names.join(", ")), &Term::Atom(tag.clone()))
        })?;
        visitor.visit_enum(Variant { enum_name: name, variant, rest, term: self.term })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.term {
            Term::Int(i) if *i >= 0 => visitor.visit_u64(*i as u64),
            _ => self.deserialize_str(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

fn single_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// The elements of a list, a tuple or a record; a record's carry field names
/// for the error path.
struct Elements<'de> {
    items: std::slice::Iter<'de, Term>,
    index: usize,
    names: Option<&'static [&'static str]>,
}

impl<'de> Elements<'de> {
    fn new(items: &'de [Term]) -> Elements<'de> {
        Elements { items: items.iter(), index: 0, names: None }
    }

    fn named(items: &'de [Term], names: &'static [&'static str]) -> Elements<'de> {
        Elements { items: items.iter(), index: 0, names: Some(names) }
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = ConvertError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(item) = self.items.next() else { return Ok(None) };
        let index = self.index;
        self.index += 1;
        seed.deserialize(Deserializer::new(item)).map(Some).map_err(|e| match self.names.and_then(|n| n.get(index)) {
            Some(name) => e.at(PathSegment::Field((*name).to_owned())),
            None => e.at(PathSegment::Index(index)),
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The bytes of a binary read as a sequence (`Vec<u8>` without `serde_bytes`).
struct ByteElements<'de> {
    bytes: std::slice::Iter<'de, u8>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for ByteElements<'de> {
    type Error = ConvertError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(&byte) = self.bytes.next() else { return Ok(None) };
        self.index += 1;
        let byte: U8Deserializer<ConvertError> = byte.into_deserializer();
        seed.deserialize(byte).map(Some).map_err(|e| e.at(PathSegment::Index(self.index - 1)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.bytes.len())
    }
}

/// The entries of a map; a struct's map skips an Elixir struct's `__struct__`.
struct Entries<'de> {
    entries: std::slice::Iter<'de, (Term, Term)>,
    value: Option<(&'de Term, &'de Term)>,
    skip_struct_key: bool,
}

impl<'de> Entries<'de> {
    fn new(entries: &'de [(Term, Term)], skip_struct_key: bool) -> Entries<'de> {
        Entries { entries: entries.iter(), value: None, skip_struct_key }
    }
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = ConvertError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        loop {
            let Some((key, value)) = self.entries.next() else { return Ok(None) };
            if self.skip_struct_key && key.is_atom("__struct__") {
                continue;
            }
            self.value = Some((key, value));
            return seed.deserialize(Deserializer::new(key)).map(Some).map_err(|e| e.at(path_for_key(key)));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| <ConvertError as de::Error>::custom("a map value asked for before its key"))?;
        seed.deserialize(Deserializer::new(value)).map_err(|e| e.at(path_for_key(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A proplist read as a map: `{Key, Value}` pairs, and bare atoms meaning `true`.
struct Proplist<'de> {
    items: std::slice::Iter<'de, Term>,
    value: Option<(&'de Term, &'de Term)>,
}

impl<'de> Proplist<'de> {
    fn new(items: &'de [Term]) -> Proplist<'de> {
        Proplist { items: items.iter(), value: None }
    }
}

impl<'de> de::MapAccess<'de> for Proplist<'de> {
    type Error = ConvertError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(item) = self.items.next() else { return Ok(None) };
        let (key, value) = match item {
            Term::Tuple(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
            atom @ Term::Atom(_) => (atom, &*TRUE),
            other => return Err(ConvertError::mismatch("a {Key, Value} pair or an atom (a proplist)", other)),
        };
        self.value = Some((key, value));
        seed.deserialize(Deserializer::new(key)).map(Some).map_err(|e| e.at(path_for_key(key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let (key, value) =
            self.value.take().ok_or_else(|| <ConvertError as de::Error>::custom("a value asked for before its key"))?;
        seed.deserialize(Deserializer::new(value)).map_err(|e| e.at(path_for_key(key)))
    }
}

/// One enum value: its tag atom matched to `variant`, and what follows the tag.
struct Variant<'de> {
    enum_name: &'static str,
    variant: &'static str,
    rest: &'de [Term],
    term: &'de Term,
}

impl Variant<'_> {
    fn mismatch(&self, expected: String) -> ConvertError {
        ConvertError::mismatch(expected, self.term).at(PathSegment::Variant(self.variant))
    }

    fn tag(&self) -> String {
        variant_atom_text(self.enum_name, self.variant).into_owned()
    }
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = ConvertError;
    type Variant = Variant<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Variant<'de>)> {
        let name: StrDeserializer<ConvertError> = self.variant.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = ConvertError;

    fn unit_variant(self) -> Result<()> {
        if self.rest.is_empty() { Ok(()) } else { Err(self.mismatch(format!("the atom {}", self.tag()))) }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        let value = match self.rest {
            [value] => value,
            // Erlang's bare `ok` is `Ok(())`.
            [] if self.enum_name == "Result" && self.variant == "Ok" => &*UNDEFINED,
            _ => return Err(self.mismatch(format!("a tuple of 2 elements tagged {}", self.tag()))),
        };
        seed.deserialize(Deserializer::new(value)).map_err(|e| e.at(PathSegment::Variant(self.variant)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        if self.rest.len() != len {
            return Err(self.mismatch(format!("a tuple of {} elements tagged {}", len + 1, self.tag())));
        }
        visitor.visit_seq(Elements::new(self.rest)).map_err(|e| e.at(PathSegment::Variant(self.variant)))
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        let result = match self.rest {
            [Term::Map(map)] => visitor.visit_map(Entries::new(map.as_slice(), false)),
            // Positional, as a record; trailing fields with `#[serde(default)]` may be left out.
            rest if !rest.is_empty() && rest.len() <= fields.len() => visitor.visit_seq(Elements::named(rest, fields)),
            _ => return Err(self.mismatch(format!("{{{}, #{{...}}}}", self.tag()))),
        };
        result.map_err(|e| e.at(PathSegment::Variant(self.variant)))
    }
}
