//! External Term Format encode/decode speed: beamlink against the `eetf`
//! crate, on the corpus of "External Term Format speed in OTP" in the
//! performance notes.
//!
//! Run with `cargo bench --bench etf` (add `-- --quick` for a short run).
//!
//! OTP's own `term_to_binary/1` and `binary_to_term/1` on the same corpus, in
//! compiled code (funs in `erl -eval` are interpreted and far slower), with
//! every result consumed so the compiler cannot drop the call:
//!
//! ```sh
//! cat > /tmp/etf_otp.erl <<'ERL'
//! -module(etf_otp).
//! -export([run/0]).
//! run() ->
//!     P = self(),
//!     Terms = [{small_control, {P, 12345, hello}},
//!              {binary_1k, {P, 1, binary:copy(<<1>>, 1024)}},
//!              {tuples_100, [{I, integer_to_binary(I), ok} || I <- lists:seq(1, 100)]},
//!              {map_10_atoms, maps:from_list([{list_to_atom("k" ++ integer_to_list(I)), I} || I <- lists:seq(1, 10)])},
//!              {binary_1m, binary:copy(<<1>>, 1048576)},
//!              {seq_1000, lists:seq(1, 1000)}],
//!     [bench(Name, T) || {Name, T} <- Terms], ok.
//! bench(Name, T) ->
//!     B = term_to_binary(T),
//!     N = max(200, 20000000 div (byte_size(B) + 200)),
//!     Enc = median([element(1, timer:tc(fun() -> enc(T, N, 0) end)) * 1000 / N || _ <- lists:seq(1, 7)]),
//!     Dec = median([element(1, timer:tc(fun() -> dec(B, N, 0) end)) * 1000 / N || _ <- lists:seq(1, 7)]),
//!     io:format("~s bytes=~b encode_ns=~.1f decode_ns=~.1f~n", [Name, byte_size(B), Enc, Dec]).
//! median(L) -> lists:nth(length(L) div 2 + 1, lists:sort(L)).
//! enc(_, 0, Acc) -> Acc;
//! enc(T, N, Acc) -> enc(T, N - 1, Acc + byte_size(term_to_binary(T))).
//! dec(_, 0, Acc) -> Acc;
//! dec(B, N, Acc) -> case binary_to_term(B) of [] -> dec(B, N - 1, Acc); _ -> dec(B, N - 1, Acc + 1) end.
//! ERL
//! erlc -o /tmp /tmp/etf_otp.erl && erl -noshell -pa /tmp -s etf_otp run -s init stop
//! ```
//!
//! Note that OTP 25's `term_to_binary/1` writes Latin-1 atoms (`ATOM_EXT`),
//! a few bytes shorter than the UTF-8 atoms beamlink writes; the terms are the same.

use std::hint::black_box;
use std::time::Duration;

use beamlink::term::{self, Atom, Pid, Term};
use beamlink::{atom, tuple};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> Vec<(&'static str, Term)> {
    let pid = Term::Pid(Pid::new(Atom::new("bench@localhost"), 100, 0, 1));
    vec![
        ("small_control", tuple![pid.clone(), 12345, atom!("hello")]),
        ("binary_1k", tuple![pid, 1, Term::binary(vec![1u8; 1024])]),
        (
            "tuples_100",
            Term::list((1..=100).map(|i| tuple![i, Term::binary(i.to_string().into_bytes()), atom!("ok")]).collect()),
        ),
        ("map_10_atoms", Term::map((1..=10).map(|i| (Term::atom(&format!("k{i}")), Term::from(i))))),
        ("binary_1m", Term::binary(vec![1u8; 1 << 20])),
        ("seq_1000", Term::list((1..=1000).map(Term::from).collect())),
    ]
}

fn bench(c: &mut Criterion) {
    for (name, t) in corpus() {
        let encoded = Bytes::from(term::encode(&t).unwrap());
        let eetf_term = eetf::Term::decode(&encoded[..]).unwrap();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(encoded.len() as u64));
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.sample_size(30);
        g.bench_function("beamlink_encode", |b| b.iter(|| term::encode(black_box(&t)).unwrap()));
        g.bench_function("beamlink_decode_bytes", |b| b.iter(|| term::decode_bytes(black_box(&encoded)).unwrap()));
        g.bench_function("beamlink_decode_slice", |b| b.iter(|| term::decode(black_box(&encoded[..])).unwrap()));
        g.bench_function("eetf_encode", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                black_box(&eetf_term).encode(&mut out).unwrap();
                out
            })
        });
        g.bench_function("eetf_decode", |b| b.iter(|| eetf::Term::decode(black_box(&encoded[..])).unwrap()));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
