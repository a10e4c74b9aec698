//! Golden tests against real Erlang/OTP: `erl` encodes a broad corpus with
//! `term_to_binary/2`, we decode and re-encode it byte for byte, we encode the
//! same terms built in Rust and compare with Erlang's bytes, and `erl` decodes
//! what we encoded and checks it equals (`=:=`) the term it built itself.
//!
//! Atoms are compared in UTF-8 form (`{minor_version, 2}`, the default from
//! OTP 26 on and what the distribution protocol carries); the Latin-1 atom
//! bytes of OTP 25's `term_to_binary/1` are checked to decode to the same terms.
//! Three `erl` starts in all: one per direction, one distributed node.

mod common;

use std::time::Duration;

use beamlink::term::{self, Atom, BitString, ExportFun, Fun, Pid, Port, Reference, Term};
use beamlink::{atom, list, map, tuple};
use num_bigint::BigInt;

struct Case {
    /// An Erlang expression (ASCII; non-ASCII characters as `\x{...}`).
    expr: String,
    /// The same term built in Rust, when it can be.
    rust: Option<Term>,
    /// Our encoding must equal Erlang's byte for byte (false for maps over 32 keys).
    exact: bool,
    /// Take part in the `lists:sort/1` comparison.
    sort: bool,
    /// Our `Display` must equal `io_lib:print/4` (`~p` without line breaks).
    display: bool,
    /// What `io:format("~w")` prints for it after `binary_to_term` of our bytes.
    w: Option<&'static str>,
}

fn case(expr: impl Into<String>, rust: impl Into<Option<Term>>) -> Case {
    Case { expr: expr.into(), rust: rust.into(), exact: true, sort: true, display: true, w: None }
}

impl Case {
    fn no_display(mut self) -> Case {
        self.display = false;
        self
    }
    fn no_sort(mut self) -> Case {
        self.sort = false;
        self
    }
    fn inexact(mut self) -> Case {
        // OTP writes and prints maps over 32 keys in its internal hash order.
        self.exact = false;
        self.display = false;
        self
    }
    fn w(mut self, text: &'static str) -> Case {
        self.w = Some(text);
        self
    }
}

fn big(s: &str) -> Term {
    Term::from_bigint(s.parse::<BigInt>().unwrap())
}

fn pow2(n: u32) -> BigInt {
    BigInt::from(1) << n
}

fn float(x: f64) -> Term {
    Term::float(x).unwrap()
}

fn ints(v: impl IntoIterator<Item = i64>) -> Term {
    Term::List(v.into_iter().map(Term::Int).collect())
}

fn corpus() -> Vec<Case> {
    let nonode = Atom::new("nonode@nohost");
    let ah = Atom::new("a@h");
    let mut c = vec![
        case("0", Term::from(0)),
        case("255", Term::from(255)),
        case("256", Term::from(256)),
        case("-1", Term::from(-1)),
        case("-256", Term::from(-256)),
        case("1 bsl 27", Term::from(1 << 27)),
        case("(1 bsl 31) - 1", Term::from(i32::MAX)),
        case("1 bsl 31", Term::from(1i64 << 31)),
        case("-(1 bsl 31)", Term::from(i32::MIN)),
        case("-(1 bsl 31) - 1", Term::from(i64::from(i32::MIN) - 1)),
        case("(1 bsl 63) - 1", Term::from(i64::MAX)),
        case("-(1 bsl 63)", Term::from(i64::MIN)),
        case("1 bsl 63", Term::from(1u64 << 63)),
        case("1 bsl 64", Term::from_bigint(pow2(64))),
        case("-(1 bsl 64)", Term::from_bigint(-pow2(64))),
        case("1 bsl 1000", Term::from_bigint(pow2(1000))),
        case("-(1 bsl 1000)", Term::from_bigint(-pow2(1000))),
        case("(1 bsl 2040) - 1", Term::from_bigint(pow2(2040) - 1)),
        case("1 bsl 2040", Term::from_bigint(pow2(2040))),
        case("123456789012345678901234567890", big("123456789012345678901234567890")),
        case("0.0", float(0.0)).no_sort(),
        case("-0.0", float(-0.0)).no_sort(),
        case("1.0", float(1.0)).no_sort(),
        case("1.0e300", float(1.0e300)).w("1.0e300"),
        case("5.0e-324", float(5.0e-324)),
        case("-2.5", float(-2.5)),
        case("0.1", float(0.1)),
        case("''", atom!("")),
        case("ok", atom!("ok")).w("ok"),
        case("'Hello World'", atom!("Hello World")),
        case("'after'", atom!("after")),
        case("'a\\'b\\\\c'", atom!("a'b\\c")),
        case("list_to_atom(lists:duplicate(255, $a))", Term::atom(&"a".repeat(255))),
        case("'h\\x{e9}llo'", atom!("h\u{e9}llo")).no_display(),
        case("'\\x{539f}\\x{5b50}'", atom!("\u{539f}\u{5b50}")).no_display(),
        case("list_to_atom(lists:duplicate(255, 16#539f))", Term::atom(&"\u{539f}".repeat(255))).no_display(),
        case("<<>>", Term::binary(&b""[..])),
        case("<<1>>", Term::binary(&[1u8][..])).w("<<1>>"),
        case("<<\"abc\">>", Term::binary(&b"abc"[..])),
        case("binary:copy(<<7>>, 300)", Term::binary(vec![7u8; 300])),
        case("<<1:1>>", Term::BitString(BitString::new(vec![0x80u8], 1).unwrap())).w("<<1:1>>"),
        case("<<1,2:3>>", Term::BitString(BitString::new(vec![1u8, 2 << 5], 3).unwrap())).w("<<1,2:3>>"),
        case("[]", Term::nil()),
        case("[1,2,3]", list![1, 2, 3]),
        case("\"abc\"", Term::string("abc")),
        case("\"a\\nb\\\"c\"", Term::string("a\nb\"c")),
        case("[1|2]", Term::improper(vec![Term::from(1)], Term::from(2))),
        case("[a,b|c]", Term::improper(vec![atom!("a"), atom!("b")], atom!("c"))).w("[a,b|c]"),
        case("[1,2|<<>>]", Term::improper(vec![Term::from(1), Term::from(2)], Term::binary(&b""[..]))),
        case("[[]]", list![Term::nil()]),
        case("[1, a, 2.0]", list![1, atom!("a"), float(2.0)]),
        case("[256, 1000, 70000]", list![256, 1000, 70000]),
        case("[-1, 0]", list![-1, 0]),
        case("lists:seq(1, 70000)", ints(1..=70000)),
        case("lists:duplicate(65535, 7)", ints(std::iter::repeat_n(7, 65535))),
        case("lists:duplicate(65536, 7)", ints(std::iter::repeat_n(7, 65536))),
        case("{}", tuple![]),
        case("{1}", tuple![1]),
        case(
            "{ok, [1,2,3], <<\"bin\">>, #{a => 1}}",
            tuple![atom!("ok"), list![1, 2, 3], Term::binary(&b"bin"[..]), map! {atom!("a") => 1}],
        )
        .w("{ok,[1,2,3],<<98,105,110>>,#{a => 1}}"),
        case("list_to_tuple(lists:seq(1, 255))", Term::tuple((1..=255).map(Term::from).collect())),
        case("list_to_tuple(lists:seq(1, 256))", Term::tuple((1..=256).map(Term::from).collect())),
        case("list_to_tuple(lists:seq(1, 300))", Term::tuple((1..=300).map(Term::from).collect())),
        case("#{}", Term::map([])),
        case("#{a => 1}", map! {atom!("a") => 1}),
        case(
            "#{1.0 => a, 2 => b, a => c, {1} => d}",
            map! {float(1.0) => atom!("a"), 2 => atom!("b"), atom!("a") => atom!("c"), tuple![1] => atom!("d")},
        ),
        case(
            "#{{x, y} => #{nested => [1]}, \"k\" => <<\"v\">>, 10 => 1.5, [] => {}}",
            map! {tuple![atom!("x"), atom!("y")] => map!{atom!("nested") => list![1]}, Term::string("k") => Term::binary(&b"v"[..]), 10 => float(1.5), Term::nil() => tuple![]},
        ),
        case("#{1 => a}", map! {1 => atom!("a")}),
        case("#{1.0 => a}", map! {float(1.0) => atom!("a")}),
        case("#{a => 1, b => 2}", map! {atom!("a") => 1, atom!("b") => 2}).w("#{a => 1,b => 2}"),
        case(
            "maps:from_list([{I, I * 2} || I <- lists:seq(1, 32)])",
            Term::map((1..=32).map(|i| (Term::from(i), Term::from(i * 2)))),
        ),
        case(
            "maps:from_list([{I, I * 2} || I <- lists:seq(1, 33)])",
            Term::map((1..=33).map(|i| (Term::from(i), Term::from(i * 2)))),
        )
        .inexact(),
        case(
            "maps:from_list([{list_to_atom([$k | integer_to_list(I)]), {I, <<I>>}} || I <- lists:seq(1, 100)])",
            Term::map((1..=100).map(|i| (Term::atom(&format!("k{i}")), tuple![i, Term::binary(vec![i as u8])]))),
        )
        .inexact(),
        case("list_to_pid(\"<0.42.0>\")", Term::Pid(Pid::new(nonode.clone(), 42, 0, 0))).no_display(),
        case(
            "binary_to_term(<<131, 88, 119, 3, \"a@h\", 7:32, 2:32, 3:32>>)",
            Term::Pid(Pid::new(ah.clone(), 7, 2, 3)),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 89, 119, 3, \"a@h\", 5:32, 3:32>>)",
            Term::Port(Port { node: ah.clone(), id: 5, creation: 3 }),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 120, 119, 3, \"a@h\", 16#123456789:64, 3:32>>)",
            Term::Port(Port { node: ah.clone(), id: 0x1_2345_6789, creation: 3 }),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 90, 3:16, 119, 3, \"a@h\", 9:32, 1:32, 2:32, 3:32>>)",
            Term::Ref(Box::new(Reference::new(ah.clone(), 9, &[1, 2, 3]).unwrap())),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 90, 5:16, 119, 3, \"a@h\", 9:32, 1:32, 2:32, 3:32, 4:32, 5:32>>)",
            Term::Ref(Box::new(Reference::new(ah.clone(), 9, &[1, 2, 3, 4, 5]).unwrap())),
        )
        .no_display(),
        case("fun lists:map/2", Term::from(ExportFun::new("lists", "map", 2))).w("fun lists:map/2"),
        case("self()", None).no_display().no_sort(),
        case("make_ref()", None).no_display().no_sort(),
        case("hd(erlang:ports())", None).no_display().no_sort(),
        case("fun(X) -> X + 1 end", None).no_display().no_sort(),
        case("fun(X) -> {X, self()} end", None).no_display().no_sort(),
    ];
    // Ordering corner cases for the lists:sort comparison.
    c.extend([
        case("<<0>>", Term::binary(vec![0u8])),
        case("<<128>>", Term::binary(vec![128u8])),
        case("<<1:2>>", Term::BitString(BitString::new(vec![0x40u8], 2).unwrap())),
        case("[a|b]", Term::improper(vec![atom!("a")], atom!("b"))),
        case("[a]", list![atom!("a")]),
        case("[a, b]", list![atom!("a"), atom!("b")]),
        case("{1, 2}", tuple![1, 2]),
        case("{2, 1}", tuple![2, 1]),
        case("#{2 => a}", map! {2 => atom!("a")}),
        case("#{a => 1, c => 2}", map! {atom!("a") => 1, atom!("c") => 2}),
        case("1.5", float(1.5)),
        case("2.5e20", float(2.5e20)),
        case("(1 bsl 70) + 0.0", float(2f64.powi(70))),
        case("(1 bsl 70) + 1", Term::from_bigint(pow2(70) + 1)),
        case("-(1 bsl 70) - 1", Term::from_bigint(-pow2(70) - 1)),
        case("-1.0e30", float(-1.0e30)),
        case(
            "binary_to_term(<<131, 88, 119, 3, \"b@h\", 7:32, 2:32, 1:32>>)",
            Term::Pid(Pid::new(Atom::new("b@h"), 7, 2, 1)),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 88, 119, 3, \"b@h\", 8:32, 1:32, 1:32>>)",
            Term::Pid(Pid::new(Atom::new("b@h"), 8, 1, 1)),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 89, 119, 3, \"b@h\", 1:32, 1:32>>)",
            Term::Port(Port { node: Atom::new("b@h"), id: 1, creation: 1 }),
        )
        .no_display(),
        case(
            "binary_to_term(<<131, 90, 2:16, 119, 3, \"a@h\", 9:32, 7:32, 7:32>>)",
            Term::Ref(Box::new(Reference::new(ah.clone(), 9, &[7, 7]).unwrap())),
        )
        .no_display(),
        case("fun erlang:abs/1", Term::from(ExportFun::new("erlang", "abs", 1))),
    ]);
    c
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from erl")).collect()
}

/// Runs the corpus through `erl` and returns, per case, (minor-2 bytes, default bytes, `~p` text).
/// Per case: bytes with UTF-8 atoms, bytes of `term_to_binary/1`, and the `~p` text.
type ErlRow = (Vec<u8>, Vec<u8>, String);

fn erl_encodings(cases: &[Case]) -> (Vec<ErlRow>, Vec<u8>) {
    let mut script = String::from(
        "Out = fun(I, T) -> io:format(\"G ~b ~s ~s ~s~n\", [I, binary:encode_hex(term_to_binary(T, [{minor_version, 2}])), \
         binary:encode_hex(term_to_binary(T)), \
         binary:encode_hex(unicode:characters_to_binary(io_lib:print(T, 1, 100000000, -1)))]) end,\n",
    );
    for (i, c) in cases.iter().enumerate() {
        script.push_str(&format!("Out({i}, ({})),\n", c.expr));
    }
    let sortable: Vec<&str> = cases.iter().filter(|c| c.sort).map(|c| c.expr.as_str()).collect();
    script.push_str(&format!(
        "io:format(\"S ~s~n\", [binary:encode_hex(term_to_binary(lists:sort([{}]), [{{minor_version, 2}}]))]).",
        sortable.join(",\n")
    ));
    if let Ok(path) = std::env::var("GOLDEN_DUMP") {
        std::fs::write(path, &script).unwrap();
    }
    let out = common::erl::erl_script(&script, Duration::from_secs(60));
    let mut rows = vec![None; cases.len()];
    let mut sorted = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("G ") {
            let mut parts = rest.splitn(4, ' ');
            let i: usize = parts.next().unwrap().parse().unwrap();
            let v2 = unhex(parts.next().unwrap());
            let v1 = unhex(parts.next().unwrap());
            let text = String::from_utf8(unhex(parts.next().unwrap_or(""))).unwrap();
            rows[i] = Some((v2, v1, text));
        } else if let Some(rest) = line.strip_prefix("S ") {
            sorted = Some(unhex(rest));
        }
    }
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| panic!("no output for case {i}:\n{out}")))
        .collect();
    (rows, sorted.expect("sorted list from erl"))
}

#[test]
fn golden_corpus_against_erl() {
    if !common::erlang_or_skip() {
        return;
    }
    let cases = corpus();
    let (rows, sorted_bytes) = erl_encodings(&cases);
    let mut decoded_all = Vec::new();
    for (c, (v2, v1, text)) in cases.iter().zip(&rows) {
        let t = term::decode(v2).unwrap_or_else(|e| panic!("{}: decoding erl's bytes failed: {e}", c.expr));
        let zero_copy = term::decode_bytes(&bytes::Bytes::from(v2.clone())).unwrap();
        assert_eq!(zero_copy, t, "{}: zero-copy decode differs", c.expr);
        // OTP 25's default encoding (Latin-1 atom tags) decodes to the same term
        // (a closure stays opaque, so only its identity is compared).
        let t1 = term::decode(v1).unwrap();
        match (t1.as_fun(), t.as_fun()) {
            (Some(Fun::Local(a)), Some(Fun::Local(b))) => {
                assert_eq!((&a.module, a.index, a.uniq, a.arity), (&b.module, b.index, b.uniq, b.arity))
            }
            _ => assert_eq!(t1, t, "{}: term_to_binary/1 bytes decode differently", c.expr),
        }
        let again = term::encode(&t).unwrap();
        assert_eq!(again.len(), 1 + term::encoded_len(&t), "{}: encoded_len", c.expr);
        if c.exact {
            assert_eq!(hex(&again), hex(v2), "{}: decode -> encode changed the bytes", c.expr);
        } else {
            assert_eq!(term::decode(&again).unwrap(), t, "{}: re-encoded term differs", c.expr);
        }
        if let Some(r) = &c.rust {
            assert_eq!(&t, r, "{}: decoded term differs from the Rust-built one", c.expr);
            if c.exact {
                assert_eq!(hex(&term::encode(r).unwrap()), hex(v2), "{}: our encoding differs from erl's", c.expr);
            }
        }
        if c.display {
            assert_eq!(t.to_string(), *text, "{}: Display differs from io_lib:print", c.expr);
        }
        if !matches!(t.as_fun(), Some(Fun::Local(_))) {
            assert_eq!(term::parse(&t.to_string()).unwrap(), t, "{}: parse(display) differs", c.expr);
        }
        if c.sort {
            decoded_all.push(t);
        }
    }
    // Term order: our sort equals lists:sort/1.
    let erl_sorted = term::decode(&sorted_bytes).unwrap();
    let mut ours = decoded_all.clone();
    ours.sort();
    let erl_sorted = erl_sorted.as_list().unwrap();
    assert_eq!(ours.len(), erl_sorted.len());
    for (i, (a, b)) in ours.iter().zip(erl_sorted).enumerate() {
        assert_eq!(a, b, "sort position {i}: ours {} vs erl {}", a.bounded(80), b.bounded(80));
    }
}

#[test]
fn erl_decodes_what_we_encode() {
    if !common::erlang_or_skip() {
        return;
    }
    let cases: Vec<Case> = corpus().into_iter().filter(|c| c.rust.is_some()).collect();
    // Our bytes go through a file: they are too long for a command line.
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("ours.hex");
    let mut data = String::new();
    let mut script = format!(
        "{{ok, D}} = file:read_file(\"{}\"), Hexes = list_to_tuple(binary:split(D, <<\"\\n\">>, [global, trim])),\n\
         Chk = fun(I, E) -> T = binary_to_term(binary:decode_hex(element(I + 1, Hexes))), \
         io:format(\"R ~b ~w ~s~n\", [I, T =:= E, \
         binary:encode_hex(unicode:characters_to_binary(io_lib:format(\"~w\", [T])))]) end,\n",
        data_path.display()
    );
    for (i, c) in cases.iter().enumerate() {
        let t = c.rust.as_ref().unwrap();
        data.push_str(&hex(&term::encode(t).unwrap()));
        data.push('\n');
        script.push_str(&format!("Chk({i}, ({})),\n", c.expr));
    }
    // Compressed: ours must inflate in erl to the same term.
    let big = "lists:duplicate(1000, 7) ++ [a, {b, <<0:8000>>}]";
    let big_t = Term::improper(
        std::iter::repeat_n(Term::from(7), 1000)
            .chain([atom!("a"), tuple![atom!("b"), Term::binary(vec![0u8; 1000])]])
            .collect(),
        Term::nil(),
    );
    let compressed = term::encode_compressed(&big_t, 6).unwrap();
    assert_eq!(compressed[1], 80, "a compressible term is compressed");
    data.push_str(&hex(&compressed));
    data.push('\n');
    std::fs::write(&data_path, data).unwrap();
    script.push_str(&format!(
        "Chk({}, ({big})),\nio:format(\"C ~s~n\", [binary:encode_hex(term_to_binary({big}, [compressed, {{minor_version, 2}}]))]).",
        cases.len(),
    ));
    let out = common::erl::erl_script(&script, Duration::from_secs(60));
    let mut seen = 0;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("R ") {
            let mut parts = rest.splitn(3, ' ');
            let i: usize = parts.next().unwrap().parse().unwrap();
            let eq = parts.next().unwrap();
            let w = String::from_utf8(unhex(parts.next().unwrap())).unwrap();
            let expr = cases.get(i).map(|c| c.expr.as_str()).unwrap_or(big);
            assert_eq!(eq, "true", "{expr}: erl decoded our bytes to {w}");
            if let Some(want) = cases.get(i).and_then(|c| c.w) {
                assert_eq!(w, want, "{expr}: ~w of our bytes");
            }
            seen += 1;
        } else if let Some(rest) = line.strip_prefix("C ") {
            let theirs = unhex(rest);
            assert_eq!(theirs[1], 80);
            assert_eq!(term::decode(&theirs).unwrap(), big_t, "erl's compressed term decodes");
            seen += 1;
        }
    }
    assert_eq!(seen, cases.len() + 2, "erl answered for every case:\n{out}");
}

#[test]
fn pids_refs_ports_funs_from_a_live_node() {
    if !common::erlang_or_skip() {
        return;
    }
    let name = common::unique_name("golden");
    let (_epmd, mut node) = common::erl::node_with_private_epmd(&name, "golden_cookie");
    let out = node.eval(
        "begin T = {self(), make_ref(), hd(erlang:ports()), fun(X) -> X + 1 end, fun lists:map/2, node()}, put(t, T), \
         binary:encode_hex(term_to_binary(T, [{minor_version, 2}])) end",
    );
    let hex_text = out.trim().trim_start_matches("<<\"").trim_end_matches("\">>");
    let bytes = unhex(hex_text);
    let t = term::decode(&bytes).unwrap();
    assert_eq!(hex(&term::encode(&t).unwrap()), hex_text, "decode -> encode keeps erl's bytes");
    let elems = t.as_tuple().unwrap();
    let node_name = elems[5].as_atom().unwrap().clone();
    assert_eq!(node_name.as_str(), node.node);
    let pid = elems[0].as_pid().unwrap();
    assert_eq!(pid.node, node_name);
    assert_ne!(pid.creation, 0, "a distributed node has a creation");
    assert_eq!(elems[1].as_reference().unwrap().node, node_name);
    assert_eq!(elems[2].as_port().unwrap().node, node_name);
    assert!(matches!(elems[3].as_fun(), Some(Fun::Local(l)) if l.module.as_str() == "erl_eval"));
    for e in [&elems[0], &elems[1], &elems[2], &elems[4]] {
        assert_eq!(&term::parse(&e.to_string()).unwrap(), e, "parse(display) of {e}");
    }
    let ours = hex(&term::encode(&t).unwrap());
    let answer = node.eval(&format!("binary_to_term(binary:decode_hex(<<\"{ours}\">>)) =:= get(t)"));
    assert_eq!(answer.trim(), "true");
}
