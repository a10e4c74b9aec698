//! How Rust names become atoms, and which shape a struct's name asks for.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::term::{Atom, AtomError};

/// How a name becomes an atom: as written (struct fields) or by [`atom_text`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Naming {
    /// The name as written.
    Verbatim,
    /// [`atom_text`]'s rules.
    Converted,
}

/// Atoms by the address, length and naming of their static name.
type NameTable = HashMap<(usize, usize, Naming), Atom, BuildHasherDefault<AddressHasher>>;

thread_local! {
    /// Atoms for the names serde hands over: every one is a `&'static str`
    /// from a Rust type, so the table holds one entry per name in the
    /// program, never anything a peer sent.
    static NAME_ATOMS: RefCell<NameTable> = RefCell::new(HashMap::default());
}

/// Hashes the address of a static name: the words are already well spread.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The atom for a static name, made once per thread and then cloned.
pub(crate) fn static_atom(name: &'static str, naming: Naming) -> Result<Atom, AtomError> {
    let key = (name.as_ptr() as usize, name.len(), naming);
    if let Some(atom) = NAME_ATOMS.with(|t| t.borrow().get(&key).cloned()) {
        return Ok(atom);
    }
    let atom = match naming {
        Naming::Verbatim => Atom::try_new(name)?,
        Naming::Converted => Atom::try_new(atom_text(name))?,
    };
    NAME_ATOMS.with(|t| t.borrow_mut().insert(key, atom.clone()));
    Ok(atom)
}

/// The atom of `enum_name`'s `variant`, cached: `Result`'s `Err` is `error`.
pub(crate) fn variant_atom(enum_name: &str, variant: &'static str) -> Result<Atom, AtomError> {
    if enum_name == "Result" && variant == "Err" {
        return Ok(Atom::new("error"));
    }
    static_atom(variant, Naming::Converted)
}

/// The atom for a unit struct, an enum variant or a tagged tuple's tag:
/// - `'Text'` (quoted, as Erlang quotes atoms): `Text`, as written;
/// - `#text` (a struct variant written as a tagged tuple): `text`;
/// - UpperCamelCase, Rust's default for types and variants: snake_case
///   (`InProgress` → `in_progress`, `HTTPError` → `http_error`);
/// - anything else (a `rename`d `EXIT`, `in_progress`, `Elixir.Foo`): as written.
pub(crate) fn atom_text(name: &str) -> Cow<'_, str> {
    match naming_of(name) {
        Spelling::Quoted(inner) => Cow::Borrowed(inner),
        Spelling::AsWritten => Cow::Borrowed(name),
        Spelling::SnakeCase => Cow::Owned(snake_case(name).collect()),
    }
}

/// Whether `name` becomes the atom `text` by [`atom_text`]'s rules, without
/// building the atom's text.
pub(crate) fn atom_text_is(name: &str, text: &str) -> bool {
    // Most names differ from the atom at the first letter: reject those before any scan.
    if let (Some(&n), Some(&t)) = (name.as_bytes().first(), text.as_bytes().first())
        && n.is_ascii_uppercase()
        && t != n
        && t != n.to_ascii_lowercase()
    {
        return false;
    }
    match naming_of(name) {
        Spelling::Quoted(inner) => inner == text,
        Spelling::AsWritten => name == text,
        // A one-word name (`Open`) is its lowercase.
        Spelling::SnakeCase if !name.bytes().skip(1).any(|c| c.is_ascii_uppercase()) => {
            name.len() == text.len() && name.eq_ignore_ascii_case(text) && name[1..] == text[1..]
        }
        Spelling::SnakeCase => snake_case(name).eq(text.chars()),
    }
}

enum Spelling<'a> {
    Quoted(&'a str),
    AsWritten,
    SnakeCase,
}

fn naming_of(name: &str) -> Spelling<'_> {
    if let Some(inner) = name.strip_prefix('\'').and_then(|rest| rest.strip_suffix('\'')) {
        return Spelling::Quoted(inner);
    }
    // `#insert`: a variant written as a tagged tuple, tagged `insert`.
    if let Some(tag) = name.strip_prefix('#') {
        return Spelling::Quoted(tag);
    }
    let upper_camel = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|c| c.is_ascii_alphanumeric())
        && name.bytes().any(|c| c.is_ascii_lowercase());
    if upper_camel { Spelling::SnakeCase } else { Spelling::AsWritten }
}

/// The snake_case characters of an ASCII UpperCamelCase name.
fn snake_case(name: &str) -> impl Iterator<Item = char> + '_ {
    let bytes = name.as_bytes();
    bytes.iter().enumerate().flat_map(move |(i, &c)| {
        let mut underscore = false;
        if c.is_ascii_uppercase() && i > 0 {
            let prev = bytes[i - 1];
            let next_lower = bytes.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            underscore =
                prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower);
        }
        underscore.then_some('_').into_iter().chain(std::iter::once(char::from(c.to_ascii_lowercase())))
    })
}

/// The Erlang shape a struct or tuple struct takes, chosen by its serde name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape<'a> {
    /// A map with atom keys (the default).
    Map,
    /// An Elixir struct: a map with `__struct__` set to this module atom
    /// (the name, which starts with `Elixir.`).
    ElixirStruct(&'a str),
    /// An Erlang record: a tuple tagged with this atom (the name after `#`),
    /// the fields in declaration order.
    Record(&'a str),
}

impl<'a> Shape<'a> {
    /// `Elixir.Shop.Order` → an Elixir struct; `#order` → a record; else a map.
    pub(crate) fn of(name: &'a str) -> Shape<'a> {
        if name.starts_with("Elixir.") {
            Shape::ElixirStruct(name)
        } else if let Some(tag) = name.strip_prefix('#') {
            Shape::Record(tag)
        } else {
            Shape::Map
        }
    }
}

/// The atom `Result`'s `Err` variant takes: Erlang's `{error, Reason}`.
pub(crate) fn variant_atom_text<'a>(enum_name: &str, variant: &'a str) -> Cow<'a, str> {
    if enum_name == "Result" && variant == "Err" { Cow::Borrowed("error") } else { atom_text(variant) }
}

/// Whether `enum_name`'s `variant` is the atom `text`.
pub(crate) fn variant_is(enum_name: &str, variant: &str, text: &str) -> bool {
    if enum_name == "Result" && variant == "Err" { text == "error" } else { atom_text_is(variant, text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_camel_case_becomes_snake_case_and_the_rest_is_kept() {
        for (name, atom) in [
            ("InProgress", "in_progress"),
            ("Ok", "ok"),
            ("HTTPError", "http_error"),
            ("V2Thing", "v2_thing"),
            ("Insert", "insert"),
            ("EXIT", "EXIT"),
            ("A", "A"),
            ("already_snake", "already_snake"),
            ("Elixir.Shop.Order", "Elixir.Shop.Order"),
            ("'InProgress'", "InProgress"),
            ("'$gen_call'", "$gen_call"),
            ("#insert", "insert"),
        ] {
            assert_eq!(atom_text(name), atom, "{name}");
            assert!(atom_text_is(name, atom), "{name}");
            assert!(!atom_text_is(name, &format!("{atom}x")), "{name}");
        }
        assert_eq!(variant_atom_text("Result", "Err"), "error");
        assert_eq!(variant_atom_text("Other", "Err"), "err");
        assert!(variant_is("Result", "Err", "error") && !variant_is("Result", "Err", "err"));
    }

    #[test]
    fn the_name_picks_the_shape() {
        assert_eq!(Shape::of("Order"), Shape::Map);
        assert_eq!(Shape::of("Elixir.Shop.Order"), Shape::ElixirStruct("Elixir.Shop.Order"));
        assert_eq!(Shape::of("#order"), Shape::Record("order"));
    }
}
