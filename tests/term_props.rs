//! Property tests for the term codec: encode/decode and display/parse are
//! inverses, `encoded_len` is exact, and arbitrary bytes never panic the decoder.

use beamlink::term::{self, Atom, BitString, ExportFun, Fun, LocalFun, Pid, Port, Reference, Term};
use bytes::Bytes;
use num_bigint::{BigInt, Sign};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        "[a-z][a-zA-Z0-9_@]{0,8}".prop_map(Atom::new),
        "\\PC{0,12}".prop_map(Atom::new),
        any::<Vec<char>>().prop_map(|cs| Atom::new(cs.into_iter().take(255).collect::<String>())),
    ]
}

/// A valid `NEW_FUN_EXT` encoding with no free variables.
fn local_fun() -> impl Strategy<Value = Term> {
    (atom(), any::<u8>(), any::<[u8; 16]>(), any::<u32>(), any::<u8>(), any::<i32>(), atom(), any::<u32>()).prop_map(
        |(module, arity, uniq, index, old_index, old_uniq, node, id)| {
            let mut body = vec![arity];
            body.extend_from_slice(&uniq);
            body.extend_from_slice(&index.to_be_bytes());
            body.extend_from_slice(&0u32.to_be_bytes());
            term::encode_bare_into(&Term::Atom(module.clone()), &mut body).unwrap();
            term::encode_bare_into(&Term::from(old_index), &mut body).unwrap();
            term::encode_bare_into(&Term::from(old_uniq), &mut body).unwrap();
            term::encode_bare_into(&Term::Pid(Pid::new(node, id, 0, 1)), &mut body).unwrap();
            let mut encoded = vec![112u8];
            encoded.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            encoded.extend_from_slice(&body);
            Term::from(LocalFun { encoded: Bytes::from(encoded), module, arity, index, uniq })
        },
    )
}

fn leaf(with_local_funs: bool) -> BoxedStrategy<Term> {
    let base = prop_oneof![
        any::<i64>().prop_map(Term::from),
        (0i64..=300).prop_map(Term::from),
        (any::<bool>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(neg, mag)| Term::from_bigint(
            BigInt::from_bytes_le(if neg { Sign::Minus } else { Sign::Plus }, &mag)
        )),
        any::<f64>().prop_filter_map("finite", Term::float),
        atom().prop_map(Term::Atom),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Term::binary),
        "[a-z ]{1,10}".prop_map(|s| Term::binary(s.into_bytes())),
        (prop::collection::vec(any::<u8>(), 1..10), 1u8..8)
            .prop_map(|(b, bits)| Term::BitString(BitString::new(b, bits).unwrap())),
        (atom(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(n, i, s, c)| Term::Pid(Pid::new(n, i, s, c))),
        (atom(), any::<u64>(), any::<u32>()).prop_map(|(node, id, creation)| Term::Port(Port { node, id, creation })),
        (atom(), any::<u32>(), prop::collection::vec(any::<u32>(), 1..=5))
            .prop_map(|(n, c, w)| Term::from(Reference::new(n, c, &w).unwrap())),
        (atom(), atom(), any::<u8>()).prop_map(|(module, function, arity)| Term::from(ExportFun {
            module,
            function,
            arity
        })),
        "\\PC{0,10}".prop_map(|s| Term::string(&s)),
        Just(Term::nil()),
    ];
    if with_local_funs { prop_oneof![9 => base, 1 => local_fun()].boxed() } else { base.boxed() }
}

fn term_strategy(with_local_funs: bool) -> impl Strategy<Value = Term> {
    leaf(with_local_funs).prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Term::Tuple),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Term::List),
            (prop::collection::vec(inner.clone(), 1..4), leaf(false)).prop_map(|(e, t)| Term::improper(e, t)),
            prop::collection::vec((inner.clone(), inner), 0..5).prop_map(Term::map),
        ]
    })
}

/// Types a peer's terms are read into: every shape of the serde conventions.
#[allow(dead_code)]
mod typed {
    use std::collections::BTreeMap;

    use beamlink::term::{Pid, Term};
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    pub enum Shape {
        Unit,
        Newtype(u8),
        Pair(String, i64),
        Named {
            a: Option<bool>,
            b: Vec<u16>,
        },
        #[serde(rename = "#rec")]
        Rec {
            x: f64,
            #[serde(default)]
            y: Option<Term>,
        },
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename = "#record")]
    pub struct Record(u32, Pid);

    #[derive(Deserialize, Debug)]
    #[serde(rename = "Elixir.S")]
    pub struct Elixir {
        k: Option<String>,
    }

    #[derive(Deserialize, Debug)]
    pub struct Everything {
        shape: Shape,
        list: Vec<Shape>,
        map: BTreeMap<String, u64>,
        record: Option<Record>,
        elixir: Option<Elixir>,
        bytes: Vec<u8>,
        text: Option<String>,
        c: Option<char>,
        big: Option<u128>,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any term read as Rust types gives a value or an error, never a panic.
    #[test]
    fn any_term_read_as_rust_types_never_panics(t in term_strategy(true)) {
        let _ = term::from_term::<typed::Everything>(&t);
        let _ = term::from_term::<typed::Shape>(&t);
        let _ = term::from_term::<Vec<typed::Shape>>(&t);
        let _ = term::from_term::<typed::Record>(&t);
        let _ = term::from_term::<(String, Option<u8>, Term)>(&t);
        let _ = term::from_term::<std::collections::HashMap<String, typed::Shape>>(&t);
    }

    #[test]
    fn encode_then_decode_is_identity(t in term_strategy(true)) {
        let bytes = term::encode(&t).unwrap();
        prop_assert_eq!(bytes.len(), 1 + term::encoded_len(&t));
        prop_assert_eq!(&term::decode(&bytes).unwrap(), &t);
        let shared = Bytes::from(bytes);
        prop_assert_eq!(&term::decode_bytes(&shared).unwrap(), &t);
        let mut bare = bytes::BytesMut::new();
        term::encode_bare_into(&t, &mut bare).unwrap();
        prop_assert_eq!(&bare[..], &shared[1..]);
    }

    #[test]
    fn compressed_roundtrip(t in term_strategy(true), level in 0u32..=9) {
        let bytes = term::encode_compressed(&t, level).unwrap();
        prop_assert_eq!(&term::decode(&bytes).unwrap(), &t);
        prop_assert!(bytes.len() <= 1 + term::encoded_len(&t));
    }

    #[test]
    fn parse_of_display_is_identity(t in term_strategy(false)) {
        let text = t.to_string();
        let back = term::parse(&text);
        prop_assert!(back.is_ok(), "parse failed for {}: {:?}", text, back);
        prop_assert_eq!(&back.unwrap(), &t, "text was {}", text);
    }

    #[test]
    fn order_is_total_and_agrees_with_eq(a in term_strategy(true), b in term_strategy(true), c in term_strategy(true)) {
        use std::cmp::Ordering;
        prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut input = vec![131u8];
        input.extend_from_slice(&body);
        let _ = term::decode(&input);
        let _ = term::decode_bytes(&Bytes::from(input));
        let _ = term::decode(&body);
    }

    #[test]
    fn decoding_mutated_encodings_never_panics(t in term_strategy(true), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = term::encode(&t).unwrap();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(d) = term::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same term.
            let again = term::encode(&d).unwrap();
            prop_assert_eq!(term::decode(&again).unwrap(), d);
        }
    }

    #[test]
    fn bounded_display_is_bounded(t in term_strategy(true), max in 0usize..50) {
        let s = t.bounded(max).to_string();
        prop_assert!(s.chars().count() <= max + 3);
        let full = t.to_string();
        if full.chars().count() <= max {
            prop_assert_eq!(s, full);
        }
    }
}

#[test]
fn local_funs_are_opaque_and_identical() {
    let mut runner = proptest::test_runner::TestRunner::default();
    let f = local_fun().new_tree(&mut runner).unwrap().current();
    let Some(Fun::Local(l)) = f.as_fun() else { panic!("not a local fun") };
    let bytes = term::encode(&f).unwrap();
    assert_eq!(&bytes[1..], &l.encoded[..]);
}

#[test]
fn fuzz_corpus_terms_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/etf_decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        // The corpus also keeps the fuzzer's finds, most of them invalid:
        // those must fail cleanly; the valid ones must round-trip.
        let Ok(t) = term::decode(&bytes) else { continue };
        assert_eq!(term::decode(&term::encode(&t).unwrap()).unwrap(), t, "{}", path.display());
        n += 1;
    }
    assert!(n >= 5, "the corpus has only {n} valid terms");
}
