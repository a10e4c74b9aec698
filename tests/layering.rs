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
    let bad = offenders("term", &["crate::proto", "crate::node", "crate::conn", "crate::transport", "crate::epmd", "tokio"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_protocol_core_is_sans_io() {
    let bad = offenders("proto", &["tokio", "std::net::Tcp", "rustls", "crate::node", "crate::conn", "crate::transport"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_node_runtime_and_connections_never_name_tcp_or_tls() {
    for module in ["node", "conn"] {
        let bad = offenders(module, &["tokio::net", "TcpStream", "TcpListener", "rustls", "transport::tls", "transport::tcp::"]);
        let bad: Vec<String> = bad.into_iter().filter(|l| !l.contains("src/node/tls.rs")).collect();
        assert!(bad.is_empty(), "{module}: {bad:#?}");
    }
}
