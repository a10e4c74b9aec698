//! Erlang syntax for terms: `Display`, bounded printing for logs, and `Debug`.
//!
//! The output is what `io:format("~w")` prints, except that printable
//! charlists print as strings (`"abc"`) and printable binaries as
//! `<<"abc">>`, as `~p` does (printable meaning Latin-1 printable, OTP's
//! default range). Pids, ports and references print as `#Pid<'node'.Id.Serial.Creation>`,
//! `#Port<'node'.Id.Creation>` and `#Ref<'node'.Creation.W1.W2...>`, which
//! [`parse`](super::parse) reads back; local funs print as
//! `#Fun<module.index.uniq>` and do not parse back. Integers of more than
//! 4 KiB print in base 16 (`16#...`), which parses back and keeps printing
//! linear in the size of the number.

use std::fmt::{self, Write};

use super::float_fmt::write_float;
use super::{Fun, Map, Term};

/// How many characters `Debug` prints before cutting a term short with `...`.
pub(crate) const DEBUG_MAX_CHARS: usize = 4096;

/// Integers larger than this many bytes print in hexadecimal.
const DECIMAL_MAX_BYTES: u64 = 4096;

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self)
    }
}

impl fmt::Debug for Term {
    /// Erlang syntax, cut short after 4096 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.bounded(DEBUG_MAX_CHARS), f)
    }
}

impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_map(f, self)
    }
}

impl Term {
    /// Erlang syntax cut short with `...` after `max_chars` characters, for
    /// logs. Cost is bounded by `max_chars`, not by the size of the term.
    ///
    /// ```
    /// use beamlink::term::Term;
    /// let t = Term::list((0..1000).map(Term::from).collect());
    /// assert_eq!(t.bounded(10).to_string(), "[0,1,2,3,4...");
    /// ```
    pub fn bounded(&self, max_chars: usize) -> Bounded<'_> {
        Bounded { term: self, max_chars }
    }
}

/// A term printed in Erlang syntax, at most `max_chars` characters plus `...`.
/// Made by [`Term::bounded`].
#[derive(Clone, Copy)]
pub struct Bounded<'a> {
    term: &'a Term,
    max_chars: usize,
}

struct Limited<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    left: usize,
    cut: bool,
}

impl Write for Limited<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            // Byte length bounds the character count.
            self.left -= s.chars().count();
            return self.out.write_str(s);
        }
        let n = s.chars().count();
        if n <= self.left {
            self.left -= n;
            return self.out.write_str(s);
        }
        let end = s.char_indices().nth(self.left).map(|(i, _)| i).unwrap_or(s.len());
        self.out.write_str(&s[..end])?;
        self.left = 0;
        self.cut = true;
        Err(fmt::Error)
    }
}

impl fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = Limited { out: f, left: self.max_chars, cut: false };
        match write_term(&mut w, self.term) {
            Ok(()) => Ok(()),
            Err(_) if w.cut => w.out.write_str("..."),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub(crate) fn write_term<W: Write + ?Sized>(w: &mut W, t: &Term) -> fmt::Result {
    match t {
        Term::Int(i) => write!(w, "{i}"),
        Term::BigInt(b) => {
            if b.bits() > DECIMAL_MAX_BYTES * 8 {
                let (sign, mag) = b.to_bytes_be();
                if sign == num_bigint::Sign::Minus {
                    w.write_char('-')?;
                }
                w.write_str("16#")?;
                let mut first = true;
                for byte in mag {
                    if first {
                        write!(w, "{byte:X}")?;
                        first = false;
                    } else {
                        write!(w, "{byte:02X}")?;
                    }
                }
                Ok(())
            } else {
                write!(w, "{b}")
            }
        }
        Term::Float(x) => write_float(w, *x),
        Term::Atom(a) => write_atom(w, a.as_str()),
        Term::Binary(b) => write_binary(w, b, None),
        Term::BitString(b) => write_binary(w, &b.bytes, Some(b.bits)),
        Term::Pid(p) => {
            w.write_str("#Pid<")?;
            write_quoted_atom(w, p.node.as_str())?;
            write!(w, ".{}.{}.{}>", p.id, p.serial, p.creation)
        }
        Term::Port(p) => {
            w.write_str("#Port<")?;
            write_quoted_atom(w, p.node.as_str())?;
            write!(w, ".{}.{}>", p.id, p.creation)
        }
        Term::Ref(r) => {
            w.write_str("#Ref<")?;
            write_quoted_atom(w, r.node.as_str())?;
            write!(w, ".{}", r.creation)?;
            for word in r.id() {
                write!(w, ".{word}")?;
            }
            w.write_char('>')
        }
        Term::Fun(fun) => match &**fun {
            Fun::Export(e) => {
                w.write_str("fun ")?;
                write_atom(w, e.module.as_str())?;
                w.write_char(':')?;
                write_atom(w, e.function.as_str())?;
                write!(w, "/{}", e.arity)
            }
            Fun::Local(l) => {
                w.write_str("#Fun<")?;
                write_atom(w, l.module.as_str())?;
                write!(w, ".{}.", l.index)?;
                for b in l.uniq {
                    write!(w, "{b:02x}")?;
                }
                w.write_char('>')
            }
        },
        Term::Tuple(elems) => {
            w.write_char('{')?;
            write_seq(w, elems)?;
            w.write_char('}')
        }
        Term::List(elems) => {
            if let Some(text) = printable_charlist(elems) {
                return write_string(w, text, '"');
            }
            w.write_char('[')?;
            write_seq(w, elems)?;
            w.write_char(']')
        }
        Term::ImproperList(elems, tail) => {
            w.write_char('[')?;
            write_seq(w, elems)?;
            w.write_char('|')?;
            write_term(w, tail)?;
            w.write_char(']')
        }
        Term::Map(m) => write_map(w, m),
        Term::Local(b) => write!(w, "#Local<{} bytes>", b.len()),
    }
}

fn write_seq<W: Write + ?Sized>(w: &mut W, elems: &[Term]) -> fmt::Result {
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write_term(w, e)?;
    }
    Ok(())
}

fn write_map<W: Write + ?Sized>(w: &mut W, m: &Map) -> fmt::Result {
    w.write_str("#{")?;
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write_term(w, k)?;
        w.write_str(" => ")?;
        write_term(w, v)?;
    }
    w.write_char('}')
}

/// Latin-1 printable, as `io_lib:printable_latin1_list/1` judges a character.
fn is_printable_latin1(c: u32) -> bool {
    matches!(c, 32..=126 | 160..=255 | 8..=13 | 27)
}

/// The characters of a non-empty, printable charlist, or `None`.
fn printable_charlist(elems: &[Term]) -> Option<impl Iterator<Item = char> + '_> {
    if elems.is_empty() {
        return None;
    }
    let ok = elems.iter().all(|e| matches!(e, Term::Int(i) if u32::try_from(*i).is_ok_and(is_printable_latin1)));
    ok.then(|| {
        elems.iter().map(|e| match e {
            Term::Int(i) => char::from(*i as u8),
            _ => '?',
        })
    })
}

fn write_binary<W: Write + ?Sized>(w: &mut W, bytes: &[u8], bits: Option<u8>) -> fmt::Result {
    w.write_str("<<")?;
    let printable = bits.is_none() && !bytes.is_empty() && bytes.iter().all(|b| is_printable_latin1(u32::from(*b)));
    if printable {
        write_string(w, bytes.iter().map(|b| char::from(*b)), '"')?;
        return w.write_str(">>");
    }
    let (whole, last) = match bits {
        Some(n) if !bytes.is_empty() => (&bytes[..bytes.len() - 1], Some((bytes[bytes.len() - 1], n))),
        _ => (bytes, None),
    };
    for (i, b) in whole.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write!(w, "{b}")?;
    }
    if let Some((byte, n)) = last {
        if !whole.is_empty() {
            w.write_char(',')?;
        }
        write!(w, "{}:{n}", byte >> (8 - n))?;
    }
    w.write_str(">>")
}

/// Writes characters between `quote`s with Erlang's escapes.
fn write_string<W: Write + ?Sized>(w: &mut W, chars: impl Iterator<Item = char>, quote: char) -> fmt::Result {
    w.write_char(quote)?;
    for c in chars {
        match c {
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            '\u{b}' => w.write_str("\\v")?,
            '\u{8}' => w.write_str("\\b")?,
            '\u{c}' => w.write_str("\\f")?,
            '\u{1b}' => w.write_str("\\e")?,
            '\\' => w.write_str("\\\\")?,
            c if c == quote => {
                w.write_char('\\')?;
                w.write_char(c)?;
            }
            c if (c as u32) < 32 || (127..160).contains(&(c as u32)) => write!(w, "\\x{{{:X}}}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_char(quote)
}

const RESERVED: &[&str] = &[
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case", "catch", "cond", "div",
    "end", "fun", "if", "let", "not", "of", "or", "orelse", "receive", "rem", "try", "when", "xor",
];

fn is_lower(c: char) -> bool {
    c.is_ascii_lowercase() || (('\u{df}'..='\u{ff}').contains(&c) && c != '\u{f7}')
}

fn is_upper(c: char) -> bool {
    c.is_ascii_uppercase() || (('\u{c0}'..='\u{de}').contains(&c) && c != '\u{d7}')
}

/// True for characters that may follow the first in an unquoted atom.
pub(crate) fn is_atom_char(c: char) -> bool {
    is_lower(c) || is_upper(c) || c.is_ascii_digit() || c == '_' || c == '@'
}

/// True for characters that may start an unquoted atom.
pub(crate) fn is_atom_start(c: char) -> bool {
    is_lower(c)
}

/// True when `text` must be quoted to read back as an atom.
pub(crate) fn atom_needs_quotes(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if is_lower(c) => {}
        _ => return true,
    }
    !chars.all(is_atom_char) || RESERVED.contains(&text)
}

/// Writes an atom, quoted only when needed.
pub(crate) fn write_atom<W: Write + ?Sized>(w: &mut W, text: &str) -> fmt::Result {
    if atom_needs_quotes(text) { write_string(w, text.chars(), '\'') } else { w.write_str(text) }
}

fn write_quoted_atom<W: Write + ?Sized>(w: &mut W, text: &str) -> fmt::Result {
    write_string(w, text.chars(), '\'')
}

#[cfg(test)]
mod tests {
    use crate::term::Term;

    #[test]
    fn atoms_are_quoted_like_erlang() {
        for (text, shown) in [
            ("ok", "ok"),
            ("a@b_C9", "a@b_C9"),
            ("Hello", "'Hello'"),
            ("_x", "'_x'"),
            ("a.b", "'a.b'"),
            ("after", "'after'"),
            ("", "''"),
            ("h\u{e9}llo", "h\u{e9}llo"),
            ("\u{539f}", "'\u{539f}'"),
            ("a'b\\", "'a\\'b\\\\'"),
            ("a\nb", "'a\\nb'"),
        ] {
            assert_eq!(Term::atom(text).to_string(), shown);
        }
    }

    #[test]
    fn strings_binaries_and_bounded_output() {
        assert_eq!(Term::string("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(Term::string("\u{263a}").to_string(), "[9786]");
        assert_eq!(Term::binary(vec![0u8, 255]).to_string(), "<<0,255>>");
        assert_eq!(Term::binary(&b"x y"[..]).to_string(), "<<\"x y\">>");
        let t = Term::list((0..100).map(Term::from).collect());
        assert_eq!(t.bounded(5).to_string(), "[0,1,...");
        assert_eq!(format!("{:?}", Term::from(7)), "7");
    }
}
