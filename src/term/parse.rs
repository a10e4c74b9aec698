//! A reader for Erlang term syntax: the inverse of `Display` for [`Term`].
//!
//! Accepts atoms (bare and quoted, with escapes), integers (`42`, `-7`,
//! `16#FF`, `2#101`, `1_000`, `$a`, `$\n`, any size), floats (`1.0`,
//! `-2.5e-3`), strings (`"a\nb\x{263a}"`, a charlist), binaries (`<<"x">>`,
//! `<<"x"/utf8>>`, `<<1,2,3>>`, `<<1,2:3>>`), lists (`[1,2]`, `[H|T]`), tuples,
//! maps (`#{k => v}`), `fun M:F/A`, and the `#Pid<...>`, `#Port<...>`,
//! `#Ref<...>` forms that `Display` prints. Whitespace and `%` comments may
//! appear between tokens; one trailing `.` is allowed.

use num_bigint::BigInt;
use num_traits::{Num, Zero};

use super::display::{is_atom_char, is_atom_start};
use super::{Atom, ExportFun, Fun, Map, Pid, Port, Reference, Term};

/// Text that is not a term, with the position where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

/// How deeply terms in text may nest.
const MAX_DEPTH: usize = 512;

pub(crate) fn parse(text: &str) -> Result<Term, ParseError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, text };
    p.skip_ws();
    let t = p.term(0)?;
    p.skip_ws();
    if p.peek() == Some('.') {
        p.pos += 1;
        p.skip_ws();
    }
    if p.pos < p.chars.len() {
        return p.fail("end of input");
    }
    Ok(t)
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    #[allow(dead_code)]
    text: &'a str,
}

impl Parser<'_> {
    fn position(&self, at: usize) -> (usize, usize) {
        let mut line = 1;
        let mut col = 1;
        for c in &self.chars[..at.min(self.chars.len())] {
            if *c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn error_at(&self, at: usize, message: String) -> ParseError {
        let (line, column) = self.position(at);
        ParseError { line, column, message }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn fail<T>(&self, expected: &str) -> Result<T, ParseError> {
        Err(self.error_at(self.pos, format!("expected {expected}, found {}", self.found())))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += 1;
            } else if c == '%' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat(c) { Ok(()) } else { self.fail(&format!("{c:?}")) }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n && self.chars[self.pos..self.pos + n].iter().copied().eq(s.chars()) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// One term. Only containers recurse; everything else is read out of
    /// line in [`Parser::scalar`] so the recursive frames stay small.
    fn term(&mut self, depth: usize) -> Result<Term, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("terms nest deeper than {MAX_DEPTH}")));
        }
        self.skip_ws();
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let elems = self.seq('}', depth)?;
                Ok(Term::Tuple(elems))
            }
            Some('[') => {
                self.pos += 1;
                self.list(depth)
            }
            Some('#') if self.peek_at(1) == Some('{') => {
                self.pos += 2;
                self.map(depth)
            }
            _ => self.scalar(),
        }
    }

    #[inline(never)]
    fn scalar(&mut self) -> Result<Term, ParseError> {
        let start = self.pos;
        let Some(c) = self.peek() else { return self.fail("a term") };
        match c {
            '#' => self.id_form(),
            '<' if self.peek_at(1) == Some('<') => {
                self.pos += 2;
                self.binary()
            }
            '"' => Ok(Term::List(self.string()?.into_iter().map(|c| Term::Int(i64::from(c))).collect())),
            '\'' => Ok(Term::Atom(self.quoted_atom()?)),
            '$' | '0'..='9' => self.number(false),
            '-' | '+' => {
                self.pos += 1;
                self.skip_ws();
                match self.peek() {
                    Some('0'..='9' | '$') => self.number(c == '-'),
                    _ => self.fail("a number after the sign"),
                }
            }
            c if is_atom_start(c) => {
                let word = self.bare_word();
                if word == "fun" {
                    return self.fun_export();
                }
                Atom::try_new(&word).map(Term::Atom).map_err(|e| self.error_at(start, e.to_string()))
            }
            c if c.is_uppercase() || c == '_' => {
                Err(self.error_at(start, format!("expected a term, found a variable starting with {c:?}")))
            }
            _ => self.fail("a term"),
        }
    }

    /// `#{` already read: pairs up to `}`.
    fn map(&mut self, depth: usize) -> Result<Term, ParseError> {
        let mut pairs = Vec::new();
        if !self.eat('}') {
            loop {
                let k = self.term(depth + 1)?;
                if !self.eat_str("=>") {
                    return self.fail("'=>'");
                }
                let v = self.term(depth + 1)?;
                pairs.push((k, v));
                if self.eat(',') {
                    continue;
                }
                self.expect('}')?;
                break;
            }
        }
        Ok(Term::Map(Map::from_pairs(pairs)))
    }

    fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Term>, ParseError> {
        let mut elems = Vec::new();
        if self.eat(close) {
            return Ok(elems);
        }
        loop {
            elems.push(self.term(depth + 1)?);
            if self.eat(',') {
                continue;
            }
            self.expect(close)?;
            return Ok(elems);
        }
    }

    fn list(&mut self, depth: usize) -> Result<Term, ParseError> {
        let mut elems = Vec::new();
        if self.eat(']') {
            return Ok(Term::nil());
        }
        loop {
            elems.push(self.term(depth + 1)?);
            if self.eat(',') {
                continue;
            }
            if self.eat('|') {
                let tail = self.term(depth + 1)?;
                self.expect(']')?;
                return Ok(Term::improper(elems, tail));
            }
            if self.eat(']') {
                return Ok(Term::List(elems));
            }
            return self.fail("',', '|' or ']'");
        }
    }

    /// `#Pid<...>`, `#Port<...>` or `#Ref<...>`.
    #[inline(never)]
    fn id_form(&mut self) -> Result<Term, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let word: String = std::iter::from_fn(|| {
            let c = self.peek().filter(|c| c.is_ascii_alphabetic())?;
            self.pos += 1;
            Some(c)
        })
        .collect();
        if self.peek() != Some('<') {
            return Err(self.error_at(start, "expected '#{', '#Pid<', '#Port<' or '#Ref<'".to_string()));
        }
        self.pos += 1;
        let node = self.atom_any()?;
        let mut nums: Vec<u64> = Vec::new();
        while self.eat('.') {
            self.skip_ws();
            nums.push(self.plain_u64()?);
        }
        self.expect('>')?;
        let bad = |p: &Parser, what: &str| Err(p.error_at(start, format!("malformed {what}")));
        let u32_of = |v: u64| u32::try_from(v).ok();
        match word.as_str() {
            "Pid" => match nums[..] {
                [id, serial, creation] => match (u32_of(id), u32_of(serial), u32_of(creation)) {
                    (Some(id), Some(serial), Some(creation)) => Ok(Term::Pid(Pid::new(node, id, serial, creation))),
                    _ => bad(self, "#Pid<Node.Id.Serial.Creation> (a number is over 32 bits)"),
                },
                _ => bad(self, "#Pid<Node.Id.Serial.Creation>"),
            },
            "Port" => match nums[..] {
                [id, creation] => match u32_of(creation) {
                    Some(creation) => Ok(Term::Port(Port { node, id, creation })),
                    None => bad(self, "#Port<Node.Id.Creation> (creation is over 32 bits)"),
                },
                _ => bad(self, "#Port<Node.Id.Creation>"),
            },
            "Ref" => {
                let words: Option<Vec<u32>> = nums.iter().map(|v| u32_of(*v)).collect();
                match words.as_deref() {
                    Some([creation, id @ ..]) => match Reference::new(node, *creation, id) {
                        Some(r) => Ok(Term::Ref(Box::new(r))),
                        None => bad(self, "#Ref<Node.Creation.Word...> (1 to 5 words)"),
                    },
                    _ => bad(self, "#Ref<Node.Creation.Word...>"),
                }
            }
            _ => Err(self.error_at(start, format!("unknown form #{word}<...> (expected #Pid, #Port or #Ref)"))),
        }
    }

    fn fun_export(&mut self) -> Result<Term, ParseError> {
        self.skip_ws();
        let module = self.atom_any()?;
        self.expect(':')?;
        self.skip_ws();
        let function = self.atom_any()?;
        self.expect('/')?;
        self.skip_ws();
        let at = self.pos;
        let arity = self.plain_u64()?;
        let arity = u8::try_from(arity).map_err(|_| self.error_at(at, "arity over 255".to_string()))?;
        Ok(Term::Fun(Box::new(Fun::Export(ExportFun { module, function, arity }))))
    }

    /// A bare or quoted atom.
    fn atom_any(&mut self) -> Result<Atom, ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('\'') => self.quoted_atom(),
            Some(c) if is_atom_start(c) => {
                let w = self.bare_word();
                Atom::try_new(&w).map_err(|e| self.error_at(start, e.to_string()))
            }
            _ => self.fail("an atom"),
        }
    }

    fn bare_word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if is_atom_char(c) {
                s.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        s
    }

    fn quoted_atom(&mut self) -> Result<Atom, ParseError> {
        let start = self.pos;
        let chars = self.quoted('\'')?;
        let text: String = chars.iter().filter_map(|c| char::from_u32(*c)).collect();
        Atom::try_new(&text).map_err(|e| self.error_at(start, e.to_string()))
    }

    fn string(&mut self) -> Result<Vec<u32>, ParseError> {
        let mut out = self.quoted('"')?;
        // Adjacent strings concatenate, as in Erlang source.
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.peek() == Some('"') {
                out.extend(self.quoted('"')?);
            } else {
                self.pos = save;
                return Ok(out);
            }
        }
    }

    /// Reads `q ... q` with escapes; returns the code points.
    fn quoted(&mut self, q: char) -> Result<Vec<u32>, ParseError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.fail(&format!("closing {q}")),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(c as u32);
                }
            }
        }
    }

    /// The character after a backslash.
    fn escape(&mut self) -> Result<u32, ParseError> {
        let Some(c) = self.peek() else { return self.fail("an escape sequence") };
        self.pos += 1;
        Ok(match c {
            'n' => 10,
            'r' => 13,
            't' => 9,
            'v' => 11,
            'b' => 8,
            'f' => 12,
            'e' => 27,
            's' => 32,
            'd' => 127,
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                v
            }
            'x' => {
                if self.peek() == Some('{') {
                    self.pos += 1;
                    let start = self.pos;
                    let mut v: u32 = 0;
                    while let Some(d) = self.peek().and_then(|d| d.to_digit(16)) {
                        v = v
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(d))
                            .ok_or_else(|| self.error_at(start, "character code too large".to_string()))?;
                        self.pos += 1;
                    }
                    if self.pos == start || self.peek() != Some('}') {
                        return self.fail("hex digits and '}'");
                    }
                    self.pos += 1;
                    if char::from_u32(v).is_none() {
                        return Err(self.error_at(start, format!("{v:#x} is not a character")));
                    }
                    v
                } else {
                    let mut v = 0;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                self.pos += 1;
                            }
                            None => return self.fail("two hex digits"),
                        }
                    }
                    v
                }
            }
            '^' => match self.peek() {
                Some(k) if k.is_ascii_alphabetic() => {
                    self.pos += 1;
                    (k.to_ascii_lowercase() as u32) - ('a' as u32) + 1
                }
                _ => return self.fail("a letter after \\^"),
            },
            other => other as u32,
        })
    }

    fn plain_u64(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or_else(|| self.error_at(start, "number too large".to_string()))?;
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("digits");
        }
        Ok(v)
    }

    fn digits(&mut self, radix: u32) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_digit(radix) {
                s.push(c);
                self.pos += 1;
            } else if c == '_' && self.peek_at(1).is_some_and(|d| d.is_digit(radix)) && !s.is_empty() {
                self.pos += 1;
            } else {
                break;
            }
        }
        s
    }

    /// A number (or `$c`), the sign already read.
    fn number(&mut self, negative: bool) -> Result<Term, ParseError> {
        let start = self.pos;
        if self.peek() == Some('$') {
            self.pos += 1;
            let c = match self.peek() {
                None => return self.fail("a character after '$'"),
                Some('\\') => {
                    self.pos += 1;
                    self.escape()?
                }
                Some(c) => {
                    self.pos += 1;
                    c as u32
                }
            };
            let v = i64::from(c);
            return Ok(Term::Int(if negative { -v } else { v }));
        }
        let int_part = self.digits(10);
        if self.peek() == Some('#') {
            let radix: u32 = int_part.parse().unwrap_or(0);
            if !(2..=36).contains(&radix) {
                return Err(self.error_at(start, format!("base {int_part} is not between 2 and 36")));
            }
            self.pos += 1;
            let ds = self.digits(radix);
            if ds.is_empty() {
                return self.fail(&format!("base-{radix} digits"));
            }
            let v = BigInt::from_str_radix(&ds, radix).map_err(|e| self.error_at(start, e.to_string()))?;
            return Ok(Term::from_bigint(if negative { -v } else { v }));
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            let frac = self.digits(10);
            let mut text = format!("{int_part}.{frac}");
            if matches!(self.peek(), Some('e' | 'E')) {
                let save = self.pos;
                self.pos += 1;
                let mut exp = String::new();
                if let Some(s @ ('+' | '-')) = self.peek() {
                    exp.push(s);
                    self.pos += 1;
                }
                let ds = self.digits(10);
                if ds.is_empty() {
                    self.pos = save;
                } else {
                    text.push('e');
                    text.push_str(&exp);
                    text.push_str(&ds);
                }
            }
            let v: f64 = text.parse().map_err(|_| self.error_at(start, format!("bad float {text}")))?;
            let v = if negative { -v } else { v };
            return Term::float(v).ok_or_else(|| self.error_at(start, format!("float {text} is out of range")));
        }
        let v: BigInt = int_part.parse().map_err(|_| self.error_at(start, "bad integer".to_string()))?;
        Ok(Term::from_bigint(if negative { -v } else { v }))
    }

    /// `<<` already read: segments up to `>>`.
    fn binary(&mut self) -> Result<Term, ParseError> {
        let mut bits = BitWriter::default();
        if self.eat_str(">>") {
            return Ok(bits.finish());
        }
        loop {
            self.segment(&mut bits)?;
            if self.eat(',') {
                continue;
            }
            if self.eat_str(">>") {
                return Ok(bits.finish());
            }
            return self.fail("',' or '>>'");
        }
    }

    fn segment(&mut self, out: &mut BitWriter) -> Result<(), ParseError> {
        self.skip_ws();
        let start = self.pos;
        enum Value {
            Int(BigInt),
            Chars(Vec<u32>),
            Float(f64),
        }
        let value = match self.peek() {
            Some('"') => Value::Chars(self.string()?),
            Some('$' | '0'..='9' | '-' | '+') => {
                let neg = self.peek() == Some('-');
                if matches!(self.peek(), Some('-' | '+')) {
                    self.pos += 1;
                }
                match self.number(neg)? {
                    Term::Float(f) => Value::Float(f),
                    t => Value::Int(t.as_bigint().unwrap_or_default()),
                }
            }
            _ => return self.fail("a binary segment (integer, float or string)"),
        };
        let mut size: Option<u64> = None;
        if self.eat(':') {
            self.skip_ws();
            size = Some(self.plain_u64()?);
        }
        let mut ty = String::new();
        if self.eat('/') {
            self.skip_ws();
            ty = self.bare_word();
            while self.eat('-') {
                self.bare_word();
            }
        }
        let bad = |p: &Parser, m: &str| Err(p.error_at(start, m.to_string()));
        match (value, ty.as_str()) {
            (Value::Chars(cs), "" | "integer") => {
                for c in cs {
                    out.put_int(&BigInt::from(c), size.unwrap_or(8));
                }
            }
            (Value::Chars(cs), "utf8") => {
                if size.is_some() {
                    return bad(self, "a utf8 segment takes no size");
                }
                for c in cs {
                    let ch = char::from_u32(c).ok_or_else(|| self.error_at(start, "not a character".into()))?;
                    let mut buf = [0u8; 4];
                    for b in ch.encode_utf8(&mut buf).bytes() {
                        out.put_int(&BigInt::from(b), 8);
                    }
                }
            }
            (Value::Int(v), "" | "integer") => out.put_int(&v, size.unwrap_or(8)),
            (Value::Int(v), "utf8") => {
                let ch = u32::try_from(&v)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error_at(start, "not a character".into()))?;
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    out.put_int(&BigInt::from(b), 8);
                }
            }
            (Value::Float(f), "float" | "") => match size.unwrap_or(64) {
                64 => out.put_int(&BigInt::from(f.to_bits()), 64),
                32 => out.put_int(&BigInt::from((f as f32).to_bits()), 32),
                _ => return bad(self, "a float segment is 32 or 64 bits"),
            },
            (Value::Int(v), "float") => {
                let f = v.to_string().parse::<f64>().unwrap_or(0.0);
                out.put_int(&BigInt::from(f.to_bits()), 64)
            }
            (_, other) => return bad(self, &format!("unsupported segment type /{other}")),
        }
        if out.len_bits > (1u64 << 35) {
            return bad(self, "binary too large");
        }
        Ok(())
    }
}

/// Collects bits for a binary written in text.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    len_bits: u64,
}

impl BitWriter {
    /// Appends the low `size` bits of `v` (two's complement), most significant first.
    fn put_int(&mut self, v: &BigInt, size: u64) {
        if size == 0 {
            return;
        }
        if size == 8 && self.len_bits.is_multiple_of(8) {
            let (sign, mut digits) = v.to_u64_digits();
            let low = digits.drain(..).next().unwrap_or(0) as u8;
            self.bytes.push(if sign == num_bigint::Sign::Minus { low.wrapping_neg() } else { low });
            self.len_bits += 8;
            return;
        }
        let modulus = BigInt::from(1) << size;
        let mut u = v % &modulus;
        if u < BigInt::zero() {
            u += &modulus;
        }
        let (_, be) = u.to_bytes_be();
        // Left-pad to whole bytes covering `size` bits.
        let nbytes = size.div_ceil(8) as usize;
        let mut padded = vec![0u8; nbytes.saturating_sub(be.len())];
        padded.extend_from_slice(&be[be.len().saturating_sub(nbytes)..]);
        let skip = nbytes as u64 * 8 - size;
        for i in 0..size {
            let bitpos = skip + i;
            let bit = (padded[(bitpos / 8) as usize] >> (7 - bitpos % 8)) & 1;
            self.push_bit(bit);
        }
    }

    fn push_bit(&mut self, bit: u8) {
        if self.len_bits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit != 0 {
            let i = self.bytes.len() - 1;
            self.bytes[i] |= 0x80 >> (self.len_bits % 8);
        }
        self.len_bits += 1;
    }

    fn finish(self) -> Term {
        let rem = (self.len_bits % 8) as u8;
        if rem == 0 {
            Term::Binary(self.bytes.into())
        } else {
            Term::BitString(super::BitString { bytes: self.bytes.into(), bits: rem })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::term::Term;

    #[test]
    fn syntax() {
        let cases: &[(&str, &str)] = &[
            ("16#FF", "255"),
            ("2#101", "5"),
            ("-16#10", "-16"),
            ("1_000", "1000"),
            ("$a", "97"),
            ("$\\n", "10"),
            ("-2.5e-3", "-0.0025"),
            ("'hello world'", "'hello world'"),
            ("'a\\'b'", "'a\\'b'"),
            ("\"a\\nb\\x{263a}\"", "[97,10,98,9786]"),
            ("<<\"x\"/utf8>>", "<<\"x\">>"),
            ("<<\"\\x{263a}\"/utf8>>", "<<226,152,186>>"),
            ("<<1,2:3>>", "<<1,2:3>>"),
            ("<<-1:16>>", "<<\"ÿÿ\">>"),
            ("[1,2|3]", "[1,2|3]"),
            ("[1|[2]]", "[1,2]"),
            ("{ a , [ ] , #{ } }.", "{a,[],#{}}"),
            ("fun lists:map/2", "fun lists:map/2"),
            ("#{b => 2, a => 1}", "#{a => 1,b => 2}"),
            ("#Pid<'a@h'.1.2.3>", "#Pid<'a@h'.1.2.3>"),
            ("#Port<a@h.5.3>", "#Port<'a@h'.5.3>"),
            ("#Ref<'a@h'.3.1.2.3>", "#Ref<'a@h'.3.1.2.3>"),
            ("% a comment\n ok % another\n.", "ok"),
            ("\"ab\" \"cd\"", "\"abcd\""),
            ("123456789012345678901234567890", "123456789012345678901234567890"),
        ];
        for (text, shown) in cases {
            let t = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.to_string(), *shown, "{text}");
        }
        assert_eq!(parse("\"\"").unwrap(), Term::nil());
    }

    #[test]
    fn errors_name_what_was_expected_and_where() {
        let e = parse("{1,\n  2").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4));
        assert!(e.message.contains("expected '}'"), "{e}");
        let e = parse("[1 2]").unwrap_err();
        assert_eq!((e.line, e.column), (1, 4));
        assert!(parse("X").unwrap_err().message.contains("variable"));
        assert!(parse("ok ok").is_err());
        assert!(parse("#Pid<a.1>").is_err());
        assert!(parse("1.0e999").is_err());
        assert!(parse(&"[".repeat(600)).unwrap_err().message.contains("nest"));
    }
}
