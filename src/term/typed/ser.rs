//! [`Serializer`]: any `Serialize` value to a [`Term`].

use bytes::Bytes;
use serde::ser::{self, Serialize};

use super::error::{ConvertError, ConvertErrorKind, PathSegment};
use super::names::{Naming, Shape, static_atom, variant_atom};
use super::passthrough::{CHARLIST_TOKEN, TERM_TOKEN, take_serialized};
use crate::term::{Atom, AtomError, Map, Term};

/// What `None` and `()` become: Erlang's `undefined` or Elixir's `nil`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Absent {
    /// The atom `undefined`, as Erlang code writes a missing value (the default).
    #[default]
    Undefined,
    /// The atom `nil`, as Elixir writes it.
    Nil,
}

impl Absent {
    fn atom(self) -> Term {
        Term::Atom(Atom::new(match self {
            Absent::Undefined => "undefined",
            Absent::Nil => "nil",
        }))
    }
}

/// Turns any `Serialize` value into a [`Term`], by the conventions described
/// in [`crate::term::to_term`]. [`Serializer::new`] writes missing values as
/// `undefined`; [`Serializer::elixir`] as `nil`. The fields of an Elixir
/// struct are always written with `nil`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serializer {
    absent: Absent,
    charlists: bool,
}

impl Serializer {
    /// A serializer for Erlang peers: `None` is `undefined`.
    pub fn new() -> Serializer {
        Serializer::default()
    }

    /// A serializer for Elixir peers: `None` is `nil`.
    pub fn elixir() -> Serializer {
        Serializer { absent: Absent::Nil, charlists: false }
    }

    /// This serializer with `None` and `()` written as `absent`.
    pub fn absent_as(self, absent: Absent) -> Serializer {
        Serializer { absent, ..self }
    }

    fn atom(atom: Result<Atom, AtomError>) -> Result<Term, ConvertError> {
        atom.map(Term::Atom).map_err(|e| ConvertError::new(ConvertErrorKind::Atom(e)))
    }
}

type Result<T, E = ConvertError> = std::result::Result<T, E>;

impl ser::Serializer for Serializer {
    type Ok = Term;
    type Error = ConvertError;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = Elements;
    type SerializeMap = MapBuilder;
    type SerializeStruct = StructBuilder;
    type SerializeStructVariant = StructBuilder;

    fn serialize_bool(self, v: bool) -> Result<Term> {
        Ok(Term::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Term> {
        Ok(Term::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Term> {
        Ok(Term::from(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Term> {
        Ok(Term::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Term> {
        Ok(Term::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Term> {
        Ok(Term::from(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Term> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Term> {
        Term::float(v).ok_or_else(|| ConvertError::new(ConvertErrorKind::NotFinite(v.to_string())))
    }
    fn serialize_char(self, v: char) -> Result<Term> {
        Ok(Term::Int(i64::from(u32::from(v))))
    }
    fn serialize_str(self, v: &str) -> Result<Term> {
        Ok(if self.charlists { Term::string(v) } else { Term::Binary(Bytes::copy_from_slice(v.as_bytes())) })
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Term> {
        Ok(Term::Binary(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> Result<Term> {
        Ok(self.absent.atom())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Term> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Term> {
        Ok(self.absent.atom())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Term> {
        Serializer::atom(static_atom(name, Naming::Converted))
    }
    fn serialize_unit_variant(self, name: &'static str, _index: u32, variant: &'static str) -> Result<Term> {
        Serializer::atom(variant_atom(name, variant))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> Result<Term> {
        match name {
            TERM_TOKEN => match take_serialized(value, |v| v.serialize(self)) {
                (_, Some(term)) => Ok(term),
                (result, None) => result,
            },
            CHARLIST_TOKEN => value.serialize(Serializer { charlists: true, ..self }),
            _ => value.serialize(self),
        }
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Term> {
        let inner = value.serialize(self).map_err(|e| e.at(PathSegment::Variant(variant)))?;
        // `Ok(())` is Erlang's bare `ok`.
        if name == "Result" && variant == "Ok" && inner == self.absent.atom() {
            return Ok(Term::atom("ok"));
        }
        Ok(Term::Tuple(vec![Serializer::atom(variant_atom(name, variant))?, inner]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Elements> {
        Ok(Elements::new(self, len.unwrap_or(0), false, None))
    }
    fn serialize_tuple(self, len: usize) -> Result<Elements> {
        Ok(Elements::new(self, len, true, None))
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Elements> {
        let tag = match Shape::of(name) {
            Shape::Record(tag) => Some(Serializer::atom(static_atom(tag, Naming::Verbatim))?),
            _ => None,
        };
        Ok(Elements::new(self, len, true, tag))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Elements> {
        let tag = Serializer::atom(variant_atom(name, variant))?;
        Ok(Elements::new(self, len, true, Some(tag)).in_variant(variant))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder { ser: self, pairs: Vec::with_capacity(len.unwrap_or(0)), key: None })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<StructBuilder> {
        StructBuilder::new(self, Shape::of(name), len, None)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<StructBuilder> {
        // `#insert`: the tagged tuple `{insert, Field1, ...}`, skipped fields left out.
        if let Some(tag) = variant.strip_prefix('#') {
            let mut builder = StructBuilder::new(self, Shape::Record(tag), len, None)?;
            builder.variant = Some(variant);
            builder.omit_skipped = true;
            return Ok(builder);
        }
        let tag = Serializer::atom(variant_atom(name, variant))?;
        let mut builder = StructBuilder::new(self, Shape::Map, len, Some(tag))?;
        builder.variant = Some(variant);
        Ok(builder)
    }
}

/// A list or a tuple being built, with an optional tag first (records, variants).
#[derive(Debug)]
pub struct Elements {
    ser: Serializer,
    items: Vec<Term>,
    tuple: bool,
    tagged: bool,
    variant: Option<&'static str>,
}

impl Elements {
    fn new(ser: Serializer, len: usize, tuple: bool, tag: Option<Term>) -> Elements {
        let mut items = Vec::with_capacity(len + usize::from(tag.is_some()));
        let tagged = tag.is_some();
        items.extend(tag);
        Elements { ser, items, tuple, tagged, variant: None }
    }

    fn in_variant(mut self, variant: &'static str) -> Elements {
        self.variant = Some(variant);
        self
    }

    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        let index = self.items.len() - usize::from(self.tagged);
        let term = value.serialize(self.ser).map_err(|e| {
            let e = e.at(PathSegment::Index(index));
            match self.variant {
                Some(v) => e.at(PathSegment::Variant(v)),
                None => e,
            }
        })?;
        self.items.push(term);
        Ok(())
    }

    fn finish(self) -> Term {
        if self.tuple { Term::Tuple(self.items) } else { Term::List(self.items) }
    }
}

macro_rules! elements_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Elements {
            type Ok = Term;
            type Error = ConvertError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
                self.push(value)
            }
            fn end(self) -> Result<Term> {
                Ok(self.finish())
            }
        }
    )*};
}
elements_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// A map being built from a Rust map.
#[derive(Debug)]
pub struct MapBuilder {
    ser: Serializer,
    pairs: Vec<(Term, Term)>,
    key: Option<Term>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Term;
    type Error = ConvertError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(self.ser)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        let key = self.key.take().ok_or_else(|| <ConvertError as ser::Error>::custom("a map value without a key"))?;
        let value = value.serialize(self.ser).map_err(|e| e.at(path_for_key(&key)))?;
        self.pairs.push((key, value));
        Ok(())
    }

    fn end(self) -> Result<Term> {
        Ok(Term::Map(Map::from_pairs(self.pairs)))
    }
}

/// The path step for the value under `key`: a field for an atom key.
pub(crate) fn path_for_key(key: &Term) -> PathSegment {
    match key {
        Term::Atom(a) => PathSegment::Field(a.as_str().to_owned()),
        other => PathSegment::Key(other.bounded(40).to_string()),
    }
}

/// A struct being built: a map, an Elixir struct, a record, or the map of a
/// struct variant.
#[derive(Debug)]
pub struct StructBuilder {
    ser: Serializer,
    record: bool,
    items: Vec<Term>,
    pairs: Vec<(Term, Term)>,
    /// The tag of a struct variant's `{Tag, #{...}}`.
    wrap: Option<Term>,
    /// The variant's Rust name, for error paths.
    variant: Option<&'static str>,
    /// Skipped fields are left out (a tagged tuple) rather than `undefined` (a record).
    omit_skipped: bool,
}

impl StructBuilder {
    fn new(ser: Serializer, shape: Shape<'static>, len: usize, wrap: Option<Term>) -> Result<StructBuilder> {
        let mut builder = StructBuilder {
            ser,
            record: false,
            items: Vec::new(),
            pairs: Vec::new(),
            wrap,
            variant: None,
            omit_skipped: false,
        };
        match shape {
            Shape::Map => builder.pairs.reserve(len),
            Shape::ElixirStruct(module) => {
                builder.ser = Serializer { absent: Absent::Nil, ..ser };
                builder.pairs.reserve(len + 1);
                builder
                    .pairs
                    .push((Term::atom("__struct__"), Serializer::atom(static_atom(module, Naming::Verbatim))?));
            }
            Shape::Record(tag) => {
                builder.ser = Serializer { absent: Absent::Undefined, ..ser };
                builder.record = true;
                builder.items.reserve(len + 1);
                builder.items.push(Serializer::atom(static_atom(tag, Naming::Verbatim))?);
            }
        }
        Ok(builder)
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
        let term = value.serialize(self.ser).map_err(|e| {
            let e = e.at(PathSegment::Field(key.to_owned()));
            match self.variant {
                Some(v) => e.at(PathSegment::Variant(v)),
                None => e,
            }
        })?;
        if self.record {
            self.items.push(term);
        } else {
            self.pairs.push((Serializer::atom(static_atom(key, Naming::Verbatim))?, term));
        }
        Ok(())
    }

    fn skip(&mut self) {
        // A record keeps its arity: a skipped field is `undefined`, as in a record without a default.
        if self.record && !self.omit_skipped {
            self.items.push(Absent::Undefined.atom());
        }
    }

    fn finish(self) -> Term {
        let body = if self.record { Term::Tuple(self.items) } else { Term::Map(Map::from_pairs(self.pairs)) };
        match self.wrap {
            Some(tag) => Term::Tuple(vec![tag, body]),
            None => body,
        }
    }
}

macro_rules! struct_impl {
    ($($trait:ident),*) => {$(
        impl ser::$trait for StructBuilder {
            type Ok = Term;
            type Error = ConvertError;
            fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
                self.field(key, value)
            }
            fn skip_field(&mut self, _key: &'static str) -> Result<()> {
                self.skip();
                Ok(())
            }
            fn end(self) -> Result<Term> {
                Ok(self.finish())
            }
        }
    )*};
}
struct_impl!(SerializeStruct, SerializeStructVariant);
