//! The layering rules of the design, checked on the source: lower layers
//! never reach up, and only `transport` names TCP or TLS.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of code (comments and doc comments excluded) in `module`'s files that mention any of `forbidden`.
fn offenders(module: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(module);
    let mut files = Vec::new();
    if root.is_dir() {
        rust_files(&root, &mut files);
    } else {
        files.push(root.with_extension("rs"));
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_term_codec_depends_on_nothing_else_in_the_crate() {
    let bad =
        offenders("term", &["crate::proto", "crate::node", "crate::conn", "crate::transport", "crate::epmd", "tokio"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_protocol_core_is_sans_io() {
    let bad =
        offenders("proto", &["tokio", "std::net::Tcp", "rustls", "crate::node", "crate::conn", "crate::transport"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_node_runtime_and_connections_never_name_tcp_or_tls() {
    for module in ["node", "conn"] {
        let bad = offenders(
            module,
            &["tokio::net", "TcpStream", "TcpListener", "rustls", "transport::tls", "transport::tcp::"],
        );
        let bad: Vec<String> = bad.into_iter().filter(|l| !l.contains("src/node/tls.rs")).collect();
        assert!(bad.is_empty(), "{module}: {bad:#?}");
    }
}

/// The code of `text` with line numbers: comment lines dropped, and nothing
/// from the first `#[cfg(test)]` on (test modules close their files).
fn non_test_code(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.trim()))
        .collect()
}

/// Lines that compare something named like a cookie digest with an ordinary
/// (early-exit) comparison. A digest must only be checked with
/// `subtle::ConstantTimeEq` (in `digest::verify`).
fn digest_comparisons(text: &str) -> Vec<String> {
    const COMPARE: &[&str] =
        &["==", "!=", ".eq(", ".ne(", "assert_eq!", "assert_ne!", ".cmp(", "partial_cmp(", "starts_with(", "memcmp"];
    non_test_code(text)
        .into_iter()
        .filter(|(_, l)| {
            // `digest` values and the `Digest` type; not the MANDATORY_25_DIGEST flag.
            let named = l.replace("_DIGEST", "");
            (named.contains("digest") || named.contains("Digest")) && COMPARE.iter().any(|c| l.contains(c))
        })
        .map(|(n, l)| format!("{n}: {l}"))
        .collect()
}

#[test]
fn the_digest_gate_catches_an_ordinary_comparison() {
    // The scan below would flag these, so an empty result there means something.
    let bad = "fn check(reply: &ChallengeReply, expected: Digest) -> bool {\n    reply.digest == expected\n}\n\
               fn other(d: &Digest, e: &Digest) -> bool { d.eq(e) }\n";
    assert_eq!(digest_comparisons(bad).len(), 2, "{:#?}", digest_comparisons(bad));
    let fine =
        "if flags.0 & MANDATORY_25_DIGEST != 0 {}\n#[cfg(test)]\nmod tests { assert_eq!(digest(1, b\"c\"), d); }\n";
    assert!(digest_comparisons(fine).is_empty(), "{:#?}", digest_comparisons(fine));
}

#[test]
fn cookie_digests_are_compared_in_constant_time_only() {
    // Fault matrix H4: a timing side channel on the digest check would let a
    // peer learn the expected answer byte by byte.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |rel: &str| std::fs::read_to_string(src.join(rel)).unwrap();

    // `verify` computes the expected digest and compares it with `ct_eq` only.
    let digest_rs = read("proto/handshake/digest.rs");
    let code = non_test_code(&digest_rs);
    let start = code.iter().position(|(_, l)| l.starts_with("pub fn verify(")).expect("digest::verify exists");
    let body: Vec<&str> = code[start..].iter().map(|(_, l)| *l).take_while(|l| *l != "}").collect();
    assert!(body.iter().any(|l| l.contains(".ct_eq(")), "digest::verify does not use ct_eq: {body:#?}");
    assert!(digest_rs.contains("use subtle::ConstantTimeEq;"), "digest.rs does not use subtle");

    // Both sides check a received digest through `digest::verify`.
    for side in ["proto/handshake/acceptor.rs", "proto/handshake/initiator.rs"] {
        assert!(read(side).contains("digest::verify("), "{side} does not check digests with digest::verify");
    }

    // Nothing in the handshake or the connection driver compares a digest otherwise.
    let mut files = Vec::new();
    rust_files(&src.join("proto/handshake"), &mut files);
    rust_files(&src.join("conn"), &mut files);
    let mut bad = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        for hit in digest_comparisons(&std::fs::read_to_string(file).unwrap()) {
            bad.push(format!("{}:{hit}", file.display()));
        }
    }
    assert!(bad.is_empty(), "digests compared without constant time: {bad:#?}");
}
