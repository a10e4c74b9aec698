//! Bad input for the term decoder (fault matrix rows T1–T11): each case
//! asserts the specific error kind, and the count-field cases also assert
//! that decoding allocated almost nothing (a counting global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use beamlink::term::{self, AtomTable, DecodeError, DecodeErrorKind as K, DecodeLimits, Decoder, Term};
use bytes::Bytes;
use num_bigint::BigInt;

/// Counts the bytes each thread asks the allocator for.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only adds a per-thread counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the bytes this thread allocated meanwhile.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(|a| a.get());
    let out = f();
    (out, ALLOCATED.with(|a| a.get()) - before)
}

fn kind(input: &[u8]) -> K {
    match term::decode(input) {
        Err(e) => e.kind,
        Ok(t) => panic!("expected an error for {input:?}, decoded {t}"),
    }
}

fn with(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(rest);
    v
}

#[test]
fn t1_huge_counts_fail_fast_without_allocating() {
    let cases: [&[u8]; 4] = [
        &[131, 108, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1, 106],
        &[131, 105, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1],
        &[131, 116, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1, 97, 2],
        &[131, 104, 3, 108, 0xFF, 0xFF, 0xFF, 0xFF, 106],
    ];
    for input in cases {
        let (result, bytes) = allocated_by(|| term::decode(input));
        let err = result.expect_err("count larger than the input");
        assert!(matches!(err.kind, K::LengthExceedsInput { .. }), "{input:?}: {err}");
        assert!(bytes < 1024, "{input:?}: decoding allocated {bytes} bytes");
        let shared = Bytes::copy_from_slice(input);
        let (result, bytes) = allocated_by(|| term::decode_bytes(&shared));
        assert!(matches!(result.unwrap_err().kind, K::LengthExceedsInput { .. }));
        assert!(bytes < 1024, "{input:?}: zero-copy decoding allocated {bytes} bytes");
    }
    // A count that fits the input but not the decoded-size budget is refused before allocating.
    let mut input = vec![131, 108, 0, 1, 0, 0];
    input.extend(std::iter::repeat_n(106, 65537));
    let limits = DecodeLimits { max_decoded_bytes: 4096, ..DecodeLimits::default() };
    let input = Bytes::from(input);
    let (result, bytes) = allocated_by(|| Decoder::new(limits).decode(&input));
    assert!(matches!(result.unwrap_err().kind, K::DecodedSizeLimit { limit: 4096 }));
    assert!(bytes < 1024, "allocated {bytes} bytes");
}

#[test]
fn t2_huge_binary_and_bignum_lengths() {
    let input = [131, 109, 0xFF, 0xFF, 0xFF, 0xF0, 1, 2, 3];
    let (result, bytes) = allocated_by(|| term::decode(&input));
    assert_eq!(
        result.unwrap_err(),
        DecodeError { offset: 2, kind: K::LengthExceedsInput { length: 0xFFFF_FFF0, remaining: 3 } }
    );
    assert!(bytes < 1024);
    assert!(matches!(kind(&[131, 111, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1]), K::BignumTooLarge { bytes: 0xFFFF_FFFF, .. }));
    let limits = DecodeLimits { max_bignum_bytes: usize::MAX, ..DecodeLimits::default() };
    let r = Decoder::new(limits).decode(&Bytes::from_static(&[131, 111, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1]));
    assert!(matches!(r.unwrap_err().kind, K::LengthExceedsInput { .. }));
    assert!(matches!(kind(&[131, 110, 2, 7, 1, 1]), K::BadBignumSign { sign: 7 }));
    assert!(matches!(kind(&[131, 77, 0xFF, 0xFF, 0xFF, 0xFF, 3, 1]), K::LengthExceedsInput { .. }));
    assert!(matches!(kind(&[131, 107, 0xFF, 0xFF, 1]), K::LengthExceedsInput { .. }));
    assert!(matches!(kind(&[131, 98, 0, 0]), K::UnexpectedEnd { needed: 2 }));
    assert!(matches!(kind(&[131]), K::UnexpectedEnd { needed: 1 }));
    assert!(matches!(kind(&[]), K::UnexpectedEnd { needed: 1 }));
}

fn nested(depth: usize, open: &[u8], close: &[u8], leaf: &[u8]) -> Vec<u8> {
    let mut v = vec![131];
    for _ in 0..depth {
        v.extend_from_slice(open);
    }
    v.extend_from_slice(leaf);
    for _ in 0..depth {
        v.extend_from_slice(close);
    }
    v
}

#[test]
fn t3_deep_nesting_hits_the_depth_limit() {
    let lists = nested(100_000, &[108, 0, 0, 0, 1], &[106], &[106]);
    let tuples = nested(100_000, &[104, 1], &[], &[106]);
    let maps = nested(100_000, &[116, 0, 0, 0, 1, 106], &[], &[106]);
    for input in [lists, tuples, maps] {
        match term::decode(&input) {
            Err(DecodeError { kind: K::DepthLimit { limit: 512 }, offset }) => assert!(offset > 500),
            other => panic!("expected a depth error, got {other:?}"),
        }
    }
    // Nested list *tails* are followed in a loop: [1|[1|[1|...]]] 100k deep is a flat list.
    let mut tails = vec![131];
    for _ in 0..100_000 {
        tails.extend_from_slice(&[108, 0, 0, 0, 1, 97, 1]);
    }
    tails.push(106);
    let t = term::decode(&tails).unwrap();
    assert_eq!(t.as_list().unwrap().len(), 100_000);
}

#[test]
fn default_depth_fits_a_tokio_worker_stack() {
    // Decode, encode, print, compare, clone and drop a term nested to the
    // default limit on a thread with tokio's default 2 MiB stack.
    let depth = DecodeLimits::default().max_depth;
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for input in [
                nested(depth, &[108, 0, 0, 0, 1], &[106], &[119, 1, b'a']),
                nested(depth, &[104, 2, 97, 0], &[], &[106]),
                nested(depth, &[116, 0, 0, 0, 1, 97, 1], &[], &[106]),
            ] {
                let t = term::decode(&input).unwrap();
                assert_eq!(term::encode(&t).unwrap(), input);
                let text = t.to_string();
                assert_eq!(term::parse(&text).unwrap(), t);
                let u = t.clone();
                assert_eq!(t.cmp(&u), std::cmp::Ordering::Equal);
                assert_eq!(t, u);
                drop(t);
            }
        })
        .unwrap();
    handle.join().expect("no stack overflow at the default depth");
    // One more level is refused.
    let too_deep = nested(depth + 1, &[104, 1], &[], &[106]);
    assert!(matches!(kind(&too_deep), K::DepthLimit { .. }));
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn compressed(declared: u32, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![131, 80];
    v.extend_from_slice(&declared.to_be_bytes());
    v.extend_from_slice(&zlib(inner));
    v
}

#[test]
fn t4_compressed_bombs_and_mismatches() {
    // A zip bomb: 10 MB of zeros in a binary, declared as 100 bytes.
    let mut bomb_inner = vec![109];
    bomb_inner.extend_from_slice(&10_000_000u32.to_be_bytes());
    bomb_inner.resize(5 + 10_000_000, 0);
    let bomb = compressed(100, &bomb_inner);
    let (r, bytes) = allocated_by(|| term::decode(&bomb));
    assert!(matches!(r.unwrap_err().kind, K::DecompressedSizeMismatch { declared: 100, .. }));
    assert!(bytes < 1 << 20, "inflating allocated {bytes} bytes");
    // Declared honestly but over the limit.
    let limits = DecodeLimits { max_decompressed_bytes: 1 << 20, ..DecodeLimits::default() };
    let r = Decoder::new(limits).decode(&Bytes::from(compressed(10_000_005, &bomb_inner)));
    assert!(matches!(r.unwrap_err().kind, K::DecompressedTooLarge { declared: 10_000_005, limit: 1048576 }));
    // Declared larger than the real contents.
    let inner = term::encode(&Term::List(vec![Term::from(7); 100])).unwrap();
    assert!(matches!(kind(&compressed(500, &inner[1..])), K::DecompressedSizeMismatch { declared: 500, actual: 103 }));
    // A declared size no deflate stream of this length could produce.
    assert!(matches!(kind(&with(&[131, 80, 0xFF, 0, 0, 0], &[0x78, 0x9c, 1])), K::DecompressedTooLarge { .. }));
    assert!(matches!(kind(&with(&[131, 80, 0, 0, 0, 10], &[0x78, 0x9c, 1])), K::DecompressFailed { .. }));
    // Corrupt zlib data.
    assert!(matches!(kind(&with(&[131, 80, 0, 0, 0, 3], &[1, 2, 3, 4, 5, 6])), K::DecompressFailed { .. }));
    // Truncated stream.
    let good = compressed(103, &inner[1..]);
    assert_eq!(term::decode(&good).unwrap(), Term::List(vec![Term::from(7); 100]));
    assert!(matches!(kind(&good[..good.len() - 3]), K::DecompressFailed { .. }));
    // Compression is only allowed at the top.
    assert!(matches!(kind(&with(&[131, 104, 1], &good[1..])), K::MisplacedCompressed));
}

#[test]
fn t5_atoms() {
    let mut long = vec![131, 118, 1, 0];
    long.extend(std::iter::repeat_n(b'a', 256));
    assert!(matches!(kind(&long), K::AtomTooLong { chars: 256 }));
    let mut long_latin1 = vec![131, 100, 1, 0];
    long_latin1.extend(std::iter::repeat_n(b'a', 256));
    assert!(matches!(kind(&long_latin1), K::AtomTooLong { chars: 256 }));
    // 255 three-byte characters are fine (765 bytes).
    let mut wide = vec![131, 118];
    wide.extend_from_slice(&765u16.to_be_bytes());
    wide.extend("\u{539f}".repeat(255).bytes());
    assert_eq!(term::decode(&wide).unwrap(), Term::atom(&"\u{539f}".repeat(255)));
    assert!(matches!(kind(&[131, 119, 2, 0xC3, 0x28]), K::InvalidAtomUtf8));
    assert!(matches!(kind(&[131, 119, 1, 0xFF]), K::InvalidAtomUtf8));
    // Latin-1 atoms: every byte is a character.
    assert_eq!(term::decode(&[131, 115, 2, 0xFF, 0x80]).unwrap(), Term::atom("\u{ff}\u{80}"));
    assert_eq!(term::decode(&[131, 100, 0, 2, b'o', b'k']).unwrap(), Term::atom("ok"));
    // Atom fields must be atoms.
    assert!(matches!(kind(&[131, 88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), K::Malformed { .. }));
}

#[test]
fn t6_atom_budget() {
    let mut decoder = Decoder::default().with_atom_table(AtomTable::new(1000));
    let mut failures = 0;
    for i in 0..5000u32 {
        let name = format!("atom_{i}");
        let mut input = vec![131, 119, name.len() as u8];
        input.extend_from_slice(name.as_bytes());
        match decoder.decode(&Bytes::from(input)) {
            Ok(_) => {}
            Err(e) => {
                assert!(matches!(e.kind, K::AtomBudgetExceeded { limit: 1000, .. }));
                failures += 1;
            }
        }
    }
    assert_eq!(failures, 4000);
    assert_eq!(decoder.atom_table().unwrap().len(), 1000);
    // Known atoms still decode, sharing the table's allocation.
    let a = decoder.decode(&Bytes::from_static(&[131, 119, 6, b'a', b't', b'o', b'm', b'_', b'7'])).unwrap();
    assert_eq!(a, Term::atom("atom_7"));
}

#[test]
fn t7_bit_counts() {
    assert!(matches!(kind(&[131, 77, 0, 0, 0, 1, 0, 0xFF]), K::BadBitCount { bits: 0, len: 1 }));
    assert!(matches!(kind(&[131, 77, 0, 0, 0, 1, 9, 0xFF]), K::BadBitCount { bits: 9, len: 1 }));
    assert!(matches!(kind(&[131, 77, 0, 0, 0, 0, 3]), K::BadBitCount { bits: 3, len: 0 }));
    assert_eq!(term::decode(&[131, 77, 0, 0, 0, 1, 8, 5]).unwrap(), Term::binary(vec![5u8]));
    // Unused low bits are cleared.
    let t = term::decode(&[131, 77, 0, 0, 0, 1, 3, 0xFF]).unwrap();
    assert_eq!(t.to_string(), "<<7:3>>");
}

#[test]
fn t8_floats() {
    for bits in [f64::NAN.to_bits(), f64::INFINITY.to_bits(), f64::NEG_INFINITY.to_bits()] {
        assert!(matches!(kind(&with(&[131, 70], &bits.to_be_bytes())), K::InvalidFloat));
    }
    let mut old = b"1.50000000000000000000e+00".to_vec();
    old.resize(31, 0);
    assert_eq!(term::decode(&with(&[131, 99], &old)).unwrap(), Term::float(1.5).unwrap());
    let mut junk = b"not a number".to_vec();
    junk.resize(31, 0);
    assert!(matches!(kind(&with(&[131, 99], &junk)), K::InvalidFloat));
    let mut inf = b"inf".to_vec();
    inf.resize(31, 0);
    assert!(matches!(kind(&with(&[131, 99], &inf)), K::InvalidFloat));
    assert!(term::encode(&Term::Float(f64::NAN)).is_err());
}

#[test]
fn t9_tags_that_are_not_allowed() {
    assert!(matches!(kind(&[131, 0]), K::UnknownTag { tag: 0 }));
    assert!(matches!(kind(&[131, 200]), K::UnknownTag { tag: 200 }));
    assert!(matches!(kind(&[131, 117]), K::UnknownTag { tag: 117 }));
    assert!(matches!(kind(&[131, 82, 0]), K::AtomCacheRefNotAllowed));
    assert!(matches!(kind(&[131, 104, 1, 82, 0]), K::AtomCacheRefNotAllowed));
    assert!(matches!(kind(&[131, 88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), K::AtomCacheRefNotAllowed));
    assert!(matches!(kind(&[131, 68, 0]), K::DistributionHeaderNotAllowed));
    assert!(matches!(kind(&[131, 108, 0, 0, 0, 1, 69, 106]), K::DistributionHeaderNotAllowed));
    assert!(matches!(kind(&[130, 97, 1]), K::BadVersion { found: 130 }));
    let mut r = vec![131, 90, 0, 0, 119, 1, b'a', 0, 0, 0, 0];
    assert!(matches!(kind(&r), K::BadReferenceLength { words: 0 }));
    r[3] = 6;
    assert!(matches!(kind(&r), K::BadReferenceLength { words: 6 }));
}

#[test]
fn t10_duplicate_keys_and_trailing_bytes() {
    assert!(matches!(kind(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3]), K::DuplicateMapKey));
    // Keys in any order decode to the same map.
    let a = term::decode(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 2, 97, 3]).unwrap();
    let b = term::decode(&[131, 116, 0, 0, 0, 2, 97, 2, 97, 3, 97, 1, 97, 2]).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        term::decode(&[131, 97, 1, 0, 0]).unwrap_err(),
        DecodeError { offset: 3, kind: K::TrailingBytes { count: 2 } }
    );
    // decode_prefix allows them and says where the term ended.
    let input = Bytes::from_static(&[131, 97, 1, 131, 97, 2]);
    let (t, used) = Decoder::default().decode_prefix(&input, true).unwrap();
    assert_eq!((t, used), (Term::from(1), 3));
    let (t, used) = Decoder::default().decode_prefix(&input.slice(used + 1..), false).unwrap();
    assert_eq!((t, used), (Term::from(2), 2));
}

#[test]
fn t11_huge_bignum_prints_bounded() {
    let huge = Term::from_bigint((BigInt::from(1) << (8 * 1024 * 1024)) - 1);
    let start = std::time::Instant::now();
    let short = huge.bounded(100).to_string();
    assert!(short.len() <= 103 && short.ends_with("..."), "{short}");
    let debug = format!("{huge:?}");
    assert!(debug.len() <= 4096 + 3, "Debug printed {} bytes", debug.len());
    // Printed in full, it is base 16 and reads back.
    let full = huge.to_string();
    assert!(full.starts_with("16#FFFF"));
    assert_eq!(term::parse(&full).unwrap(), huge);
    assert!(start.elapsed().as_secs() < 30, "printing took {:?}", start.elapsed());
}

#[test]
fn errors_say_what_and_where() {
    let e = term::decode(&[131, 104, 2, 97, 1, 200]).unwrap_err();
    assert_eq!(e.to_string(), "unknown tag 200 (at byte 5)");
    let e = term::decode(&[131, 108, 0xFF, 0xFF, 0xFF, 0xFF, 106]).unwrap_err();
    assert_eq!(e.to_string(), "length field says 4294967295 but only 1 byte(s) remain (at byte 2)");
}
