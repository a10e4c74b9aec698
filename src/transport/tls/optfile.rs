//! OTP's `-ssl_dist_optfile`: the file an `erl -proto_dist inet_tls` node
//! reads its TLS options from (OTP's *Using TLS for Erlang Distribution* (SSL User's Guide)), read here so that a
//! release's existing Erlang configuration also configures beamlink.
//!
//! The file holds one Erlang term, `[{server, Options}, {client, Options}].`,
//! where each `Options` is a list of `ssl` options. OTP evaluates it with
//! `erl_eval`; beamlink reads it as a term ([`crate::term::parse`]), so
//! literals (atoms, strings as charlists or binaries, tuples, lists,
//! `fun M:F/A`) are fine and function calls or variables are refused with the
//! position of the problem. As in OTP (`ssl_dist_sup:consult/1`), the text is
//! Latin-1 unless a `coding: utf-8` comment in its first two lines says otherwise.
//!
//! Parsing is pure ([`SslDistOptions::parse`]); [`SslDistOptions::read`] adds
//! the file read. Which options become what in beamlink's configuration is
//! decided by [`TlsConfig::from_ssl_dist_optfile`](super::TlsConfig::from_ssl_dist_optfile).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::config::TlsVersion;
use super::error::{KNOWN_CALL, OptfileError, OptfileProblem};
use super::suites::{TlsSuite, read_ciphers};
use crate::pki::KeyPassword;
use crate::term::{self, Term};

/// Optfiles larger than this are refused unread (1 MiB).
pub const MAX_OPTFILE_BYTES: u64 = 1 << 20;

/// The options of an `-ssl_dist_optfile` that beamlink understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SslDistOptions {
    /// The `server` section (options for accepted connections).
    pub server: SideOptions,
    /// The `client` section (options for connections this node makes).
    pub client: SideOptions,
    /// Options and sections present in the file that beamlink does not apply
    /// because they make no difference to it (see [`HARMLESS_OPTIONS`]), as
    /// `section option` (e.g. `server secure_renegotiate`), in file order.
    pub ignored: Vec<String>,
    /// Options present in the file that beamlink cannot honour, in file order.
    /// A configuration is refused while any is left, unless the operator
    /// names it to be ignored (see
    /// [`TlsConfig::from_ssl_dist_options_ignoring`](super::TlsConfig::from_ssl_dist_options_ignoring)).
    pub unhonoured: Vec<Unhonoured>,
}

/// An option of an optfile that beamlink cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhonoured {
    /// `server` or `client`.
    pub section: &'static str,
    /// The option's name.
    pub option: String,
    /// The line of the file it is on, when known.
    pub line: Option<usize>,
    /// Why it cannot be honoured.
    pub reason: String,
}

/// Options OTP's `ssl` accepts that make no difference to beamlink's TLS:
/// renegotiation (rustls never renegotiates), session reuse (beamlink does
/// not resume sessions), the order in which suites and curves are preferred
/// (not which are allowed), logging, process tuning, and TLS 1.0-only
/// countermeasures. They are noted at start-up and otherwise left alone.
pub const HARMLESS_OPTIONS: &[&str] = &[
    "secure_renegotiate",
    "client_renegotiation",
    "reuse_sessions",
    "reuse_session",
    "session_tickets",
    "honor_cipher_order",
    "honor_ecc_order",
    "log_level",
    "log_alert",
    "hibernate_after",
    "padding_check",
    "beast_mitigation",
    "middlebox_comp_mode",
    "max_handshake_size",
    "receiver_spawn_opts",
    "sender_spawn_opts",
    "keep_secrets",
    "server_name_indication",
];

/// The options of one section of an optfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SideOptions {
    /// `certfile`: this node's certificate (chain), PEM.
    pub certfile: Option<PathBuf>,
    /// `keyfile`: this node's private key, PEM (OTP falls back to `certfile`).
    pub keyfile: Option<PathBuf>,
    /// `cacertfile`: the trusted CA certificates, PEM.
    pub cacertfile: Option<PathBuf>,
    /// `verify`: whether the peer's certificate is verified.
    pub verify: Option<PeerVerify>,
    /// `fail_if_no_peer_cert` (server section): whether a client must present a certificate.
    pub fail_if_no_peer_cert: Option<bool>,
    /// `versions`, keeping only TLS 1.2 and 1.3, in file order.
    pub versions: Option<Vec<TlsVersion>>,
    /// `crl_check`: whether peers' certificates are checked against CRLs.
    pub crl_check: Option<CrlCheck>,
    /// `crl_cache`: where the CRLs come from.
    pub crl_cache: Option<CrlCache>,
    /// `depth`: the most intermediate CA certificates a peer's chain may
    /// have between its own certificate and a trusted root.
    pub depth: Option<usize>,
    /// `ciphers`: the listed suites beamlink implements, in the file's order
    /// (the ones it does not implement are noted in
    /// [`SslDistOptions::ignored`]; a list with none it implements is
    /// [`SslDistOptions::unhonoured`]).
    pub ciphers: Option<Vec<TlsSuite>>,
    /// `password`: the password of this section's encrypted `keyfile`.
    pub password: Option<KeyPassword>,
}

/// The `crl_check` option's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlCheck {
    /// `false`: no revocation check (OTP's default).
    Off,
    /// `true`: every certificate of the chain is checked; an unknown status is refused.
    Chain,
    /// `peer`: the peer's own certificate is checked; an unknown status is refused.
    Peer,
    /// `best_effort`: as `true`, but an unknown status is accepted.
    BestEffort,
}

/// The `crl_cache` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlCache {
    /// `{ssl_crl_hash_dir, {internal, [{dir, Dir}]}}`: CRLs in `Dir/HASH.rN` files.
    HashDir(PathBuf),
    /// Any other cache (e.g. `ssl_crl_cache`, which fetches CRLs over HTTP), as written.
    Other(String),
}

/// The `verify` option's two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVerify {
    /// `verify_peer`: check the peer's certificate chain.
    VerifyPeer,
    /// `verify_none`: accept any peer (OTP 25's client default).
    VerifyNone,
}

impl SslDistOptions {
    /// Reads and parses the optfile at `path`.
    pub fn read(path: &Path) -> Result<SslDistOptions, OptfileError> {
        let file = path.display().to_string();
        let fail = |problem| OptfileError { file: file.clone(), problem };
        let handle = std::fs::File::open(path).map_err(|e| fail(OptfileProblem::Unreadable(e)))?;
        let mut bytes = Vec::new();
        handle.take(MAX_OPTFILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(OptfileProblem::Unreadable(e)))?;
        if bytes.len() as u64 > MAX_OPTFILE_BYTES {
            return Err(fail(OptfileProblem::TooLarge { limit: MAX_OPTFILE_BYTES }));
        }
        let text = decode_text(&bytes).map_err(|reason| {
            fail(OptfileProblem::Unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, reason)))
        })?;
        SslDistOptions::parse(&text, &file)
    }

    /// Parses optfile text; `file` names the source in errors.
    ///
    /// ```
    /// use beamlink::transport::tls::SslDistOptions;
    /// let text = r#"[{server, [{certfile, "/pki/n.pem"}, {keyfile, "/pki/n.key"},
    ///                 {cacertfile, "/pki/ca.pem"}, {verify, verify_peer},
    ///                 {fail_if_no_peer_cert, true}]},
    ///               {client, [{certfile, "/pki/n.pem"}, {keyfile, "/pki/n.key"},
    ///                 {cacertfile, "/pki/ca.pem"}, {verify, verify_peer}]}]."#;
    /// let opts = SslDistOptions::parse(text, "ssl_dist.conf").unwrap();
    /// assert_eq!(opts.server.certfile.as_deref(), Some("/pki/n.pem".as_ref()));
    /// ```
    pub fn parse(text: &str, file: &str) -> Result<SslDistOptions, OptfileError> {
        let fail = |problem| OptfileError { file: file.to_string(), problem };
        let text = &recognise_known_call(text);
        let term = term::parse(text).map_err(|e| match function_call_at(text, &e) {
            Some(problem) => fail(problem),
            None => fail(OptfileProblem::Syntax(e)),
        })?;
        let Term::List(sections) = term else {
            return Err(fail(OptfileProblem::Shape(format!("the file holds {}", brief(&term)))));
        };
        let mut out = SslDistOptions::default();
        for section in &sections {
            let (name, options) = match section.as_tuple() {
                Some([Term::Atom(name), options]) => (name.as_str(), options),
                _ => return Err(fail(OptfileProblem::Shape(format!("an element is {}", brief(section))))),
            };
            // As OTP's ets table of sections: a later section replaces an earlier one.
            let (label, side): (&'static str, &mut SideOptions) = match name {
                "server" => ("server", &mut out.server),
                "client" => ("client", &mut out.client),
                other => {
                    out.ignored.push(format!("section {other}"));
                    continue;
                }
            };
            let Term::List(options) = options else {
                return Err(fail(OptfileProblem::Shape(format!(
                    "the {label} options are {}, not a list",
                    brief(options)
                ))));
            };
            *side = SideOptions::default();
            out.unhonoured.retain(|u| u.section != label);
            for option in options {
                read_option(label, option, side, &mut out.ignored, &mut out.unhonoured)
                    .map_err(|problem| fail(with_line(problem, text)))?;
            }
        }
        // One set of trust roots serves both roles (the server section's).
        if let (Some(server_ca), Some(client_ca)) = (&out.server.cacertfile, &out.client.cacertfile)
            && server_ca != client_ca
        {
            out.unhonoured.push(Unhonoured {
                section: "client",
                option: "cacertfile".to_string(),
                line: None,
                reason: format!(
                    "{} differs from the server section's {}; beamlink trusts one set of CAs in both roles: \
                     put both files' CA certificates in one and name it in both sections",
                    client_ca.display(),
                    server_ca.display()
                ),
            });
        }
        for unhonoured in &mut out.unhonoured {
            unhonoured.line = option_line(text, unhonoured.section, &unhonoured.option);
        }
        Ok(out)
    }
}

/// The optfile with the one function call beamlink recognises
/// ([`KNOWN_CALL`], however spaced) written as a quoted atom, so that the
/// term reader takes it; the lines stay where they were.
fn recognise_known_call(text: &str) -> std::borrow::Cow<'_, str> {
    let (head, rest) = KNOWN_CALL.split_once('(').unwrap_or((KNOWN_CALL, ""));
    let argument = rest.trim_end_matches(')');
    let mut out = String::new();
    let mut from = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find(head).map(|i| i + search) {
        let after = &text[found + head.len()..];
        let call_len = known_call_len(after, argument);
        match call_len {
            Some(len) => {
                out.push_str(&text[from..found]);
                out.push_str(&format!("'{KNOWN_CALL}'"));
                let span = &text[found..found + head.len() + len];
                out.extend(std::iter::repeat_n('\n', span.matches('\n').count()));
                from = found + head.len() + len;
                search = from;
            }
            None => search = found + head.len(),
        }
    }
    if from == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[from..]);
    std::borrow::Cow::Owned(out)
}

/// The length of `(argument)` at the start of `text`, spaces allowed.
fn known_call_len(text: &str, argument: &str) -> Option<usize> {
    let mut rest = text;
    for token in ["(", argument, ")"] {
        rest = rest.trim_start().strip_prefix(token)?;
    }
    Some(text.len() - rest.len())
}

/// The bare atom at the start of `text`, after any spaces (empty if none).
fn leading_word(text: &str) -> String {
    text.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// When the term reader stopped at a function call (`M:F(` after an
/// atom), the problem naming the option and the line, instead of a bare
/// syntax error.
fn function_call_at(text: &str, error: &term::ParseError) -> Option<OptfileProblem> {
    let line_text = text.lines().nth(error.line.checked_sub(1)?)?;
    let column = error.column.checked_sub(1)?;
    let before: String = line_text.chars().take(column).collect();
    let after: String = line_text.chars().skip(column).collect();
    // The reader stops at the ':' of `Module:Function(`.
    let rest = after.strip_prefix(':')?;
    let function = leading_word(rest);
    if rest.starts_with(char::is_whitespace)
        || function.is_empty()
        || !rest[function.len()..].trim_start().starts_with('(')
    {
        return None;
    }
    let module: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let offset: usize = text.lines().take(error.line - 1).map(|l| l.len() + 1).sum::<usize>() + before.len();
    Some(OptfileProblem::FunctionCall {
        option: enclosing_option(&text[..offset]).unwrap_or_else(|| "?".to_string()),
        line: error.line,
        call: format!("{module}:{function}"),
    })
}

/// The name of the innermost `{name, ...` open at the end of `text`.
fn enclosing_option(text: &str) -> Option<String> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices().rev() {
        match c {
            '}' | ']' | ')' => depth += 1,
            '[' | '(' => depth = depth.saturating_sub(1),
            '{' if depth > 0 => depth -= 1,
            '{' => {
                let name = leading_word(&text[at + 1..]);
                let known = ["server", "client", "match_fun"];
                if !name.is_empty() && !known.contains(&name.as_str()) {
                    return Some(name);
                }
            }
            _ => {}
        }
    }
    None
}

/// The line of `{option, ...}` in the last `{section, ...}` of the file
/// (the one that counts, as a later section replaces an earlier one).
fn option_line(text: &str, section: &str, option: &str) -> Option<usize> {
    let opens = |name: &str, from: usize| -> Vec<usize> {
        let mut found = Vec::new();
        for (at, _) in text[from..].match_indices('{') {
            let at = from + at;
            if leading_word(&text[at + 1..]) == name {
                found.push(at);
            }
        }
        found
    };
    let section_at = *opens(section, 0).last()?;
    let option_at = *opens(option, section_at).first()?;
    Some(text[..option_at].matches('\n').count() + 1)
}

/// `problem`, with the line of its option when it has a place for one.
fn with_line(problem: OptfileProblem, text: &str) -> OptfileProblem {
    match problem {
        OptfileProblem::Unsupported { section, option, line: None, reason } => {
            let line = option_line(text, section, &option);
            OptfileProblem::Unsupported { section, option, line, reason }
        }
        OptfileProblem::BadValue { section, option, line: None, reason } => {
            let line = option_line(text, section, &option);
            OptfileProblem::BadValue { section, option, line, reason }
        }
        other => other,
    }
}

/// Reads one `{Key, Value}` entry of a section.
fn read_option(
    section: &'static str,
    option: &Term,
    side: &mut SideOptions,
    ignored: &mut Vec<String>,
    unhonoured: &mut Vec<Unhonoured>,
) -> Result<(), OptfileProblem> {
    let (key, value) = match option.as_tuple() {
        Some([Term::Atom(key), value]) => (key.as_str(), value),
        _ => {
            return Err(OptfileProblem::Shape(format!(
                "the {section} section holds {}, not a {{Key, Value}} tuple",
                brief(option)
            )));
        }
    };
    let bad = |reason: String| OptfileProblem::BadValue { section, option: key.to_string(), line: None, reason };
    let unsupported = |reason: &str| OptfileProblem::Unsupported {
        section,
        option: key.to_string(),
        line: None,
        reason: reason.to_string(),
    };
    match key {
        "certfile" => side.certfile = Some(path_value(value).map_err(bad)?),
        "keyfile" => side.keyfile = Some(path_value(value).map_err(bad)?),
        "cacertfile" => side.cacertfile = Some(path_value(value).map_err(bad)?),
        "verify" => {
            side.verify = Some(match value.as_atom().map(|a| a.as_str()) {
                Some("verify_peer") => PeerVerify::VerifyPeer,
                Some("verify_none") => PeerVerify::VerifyNone,
                _ => return Err(bad(format!("expected verify_peer or verify_none, found {}", brief(value)))),
            })
        }
        "fail_if_no_peer_cert" => {
            side.fail_if_no_peer_cert = Some(match value.as_atom().map(|a| a.as_str()) {
                Some("true") => true,
                Some("false") => false,
                _ => return Err(bad(format!("expected true or false, found {}", brief(value)))),
            })
        }
        "versions" => {
            let Term::List(items) = value else {
                return Err(bad(format!("expected a list such as ['tlsv1.3', 'tlsv1.2'], found {}", brief(value))));
            };
            let mut versions = Vec::new();
            for item in items {
                match item.as_atom().map(|a| a.as_str()) {
                    Some("tlsv1.3") => versions.push(TlsVersion::Tls13),
                    Some("tlsv1.2") => versions.push(TlsVersion::Tls12),
                    Some(old @ ("tlsv1.1" | "tlsv1" | "sslv3" | "dtlsv1" | "dtlsv1.2")) => {
                        ignored.push(format!("{section} versions '{old}' (beamlink speaks TLS 1.2 and 1.3 only)"))
                    }
                    _ => return Err(bad(format!("unknown TLS version {}", brief(item)))),
                }
            }
            if versions.is_empty() {
                return Err(unsupported("lists neither 'tlsv1.3' nor 'tlsv1.2', the only versions beamlink speaks"));
            }
            side.versions = Some(versions);
        }
        "crl_check" => {
            side.crl_check = Some(match value.as_atom().map(|a| a.as_str()) {
                Some("false") => CrlCheck::Off,
                Some("true") => CrlCheck::Chain,
                Some("peer") => CrlCheck::Peer,
                Some("best_effort") => CrlCheck::BestEffort,
                _ => return Err(bad(format!("expected true, false, peer or best_effort, found {}", brief(value)))),
            })
        }
        "crl_cache" => side.crl_cache = Some(crl_cache(value).map_err(bad)?),
        "depth" => {
            let depth = value.as_u64().and_then(|d| usize::try_from(d).ok());
            side.depth =
                Some(depth.ok_or_else(|| bad(format!("expected a non-negative integer, found {}", brief(value))))?);
        }
        "ciphers" => {
            let list = read_ciphers(value).map_err(bad)?;
            for name in &list.unimplemented {
                ignored.push(format!("{section} ciphers {name} (not a suite beamlink implements, so not offered)"));
            }
            if list.suites.is_empty() {
                let offered: Vec<&str> = TlsSuite::all().map(TlsSuite::openssl_name).collect();
                unhonoured.push(Unhonoured {
                    section,
                    option: key.to_string(),
                    line: None,
                    reason: format!("lists no suite beamlink implements; it implements {}", offered.join(", ")),
                });
            } else {
                side.ciphers = Some(list.suites);
            }
        }
        "verify_fun" if section == "server" && is_inet_tls_dist_verify_client(value) => {
            // OTP's marker for "the client's certificate must name its IP
            // address or a host of net_kernel:allow/1's list"; with no such
            // list (beamlink has none) it accepts every verified chain, which
            // is what beamlink does.
            ignored.push(format!(
                "{section} verify_fun inet_tls_dist:verify_client/3 (no allow list: every verified chain)"
            ))
        }
        "verify_fun" => unhonoured.push(Unhonoured {
            section,
            option: key.to_string(),
            line: None,
            reason: format!(
                "{} is Erlang code that beamlink cannot run; a peer it would refuse would be let in",
                brief(value)
            ),
        }),
        "password" => side.password = Some(password_value(value).map_err(bad)?),
        "cert" | "key" | "cacerts" | "certs_keys" => {
            return Err(unsupported(
                "certificates and keys given inline are not supported; write them to PEM files and use \
                 certfile, keyfile and cacertfile",
            ));
        }
        harmless if HARMLESS_OPTIONS.contains(&harmless) => ignored.push(format!("{section} {harmless}")),
        "customize_hostname_check" if is_known_match_fun(value) => ignored.push(format!(
            "{section} customize_hostname_check match_fun {KNOWN_CALL} (a wildcard certificate matches the host \
             as this match fun matches it, which beamlink always does)"
        )),
        "customize_hostname_check" => unhonoured.push(Unhonoured {
            section,
            option: key.to_string(),
            line: None,
            reason: format!("{} is not the one beamlink knows ([{{match_fun, {KNOWN_CALL}}}])", brief(value)),
        }),
        other => unhonoured.push(Unhonoured {
            section,
            option: other.to_string(),
            line: None,
            reason: "beamlink does not implement it".to_string(),
        }),
    }
    Ok(())
}

/// Whether `value` is `[{match_fun, public_key:pkix_verify_hostname_match_fun(https)}]`.
fn is_known_match_fun(value: &Term) -> bool {
    matches!(value.as_list(), Some([entry]) if matches!(entry.as_tuple(),
        Some([key, Term::Atom(call)]) if key.is_atom("match_fun") && call.as_str() == KNOWN_CALL))
}

/// Whether `value` is `{fun inet_tls_dist:verify_client/3, _}`.
fn is_inet_tls_dist_verify_client(value: &Term) -> bool {
    match value.as_tuple() {
        Some([Term::Fun(f), _]) => matches!(
            &**f,
            term::Fun::Export(e) if e.module.as_str() == "inet_tls_dist" && e.function.as_str() == "verify_client" && e.arity == 3
        ),
        _ => false,
    }
}

/// `{ssl_crl_hash_dir, {internal, [{dir, Dir}]}}` becomes a hash directory;
/// any other well-formed `{Module, {Handle, Options}}` is kept as text.
fn crl_cache(value: &Term) -> Result<CrlCache, String> {
    let shape = || format!("expected {{Module, {{internal, Options}}}}, found {}", brief(value));
    let Some([Term::Atom(module), inner]) = value.as_tuple() else { return Err(shape()) };
    let Some([_, Term::List(options)]) = inner.as_tuple() else { return Err(shape()) };
    if module.as_str() != "ssl_crl_hash_dir" {
        return Ok(CrlCache::Other(brief(value)));
    }
    let dir = options.iter().find_map(|o| match o.as_tuple() {
        Some([Term::Atom(key), dir]) if key.as_str() == "dir" => Some(dir),
        _ => None,
    });
    match dir {
        Some(dir) => Ok(CrlCache::HashDir(path_value(dir)?)),
        None => Err(format!("ssl_crl_hash_dir needs {{dir, Dir}} among its options, found {}", brief(value))),
    }
}

/// A file name: a charlist (Erlang string) or a binary.
fn path_value(value: &Term) -> Result<PathBuf, String> {
    let text = match value {
        Term::List(chars) => {
            let mut text = String::with_capacity(chars.len());
            for c in chars {
                let code = c.as_u64().and_then(|n| u32::try_from(n).ok()).and_then(char::from_u32);
                match code {
                    Some(c) => text.push(c),
                    None => return Err(format!("expected a file name as a string, found {}", brief(value))),
                }
            }
            text
        }
        Term::Binary(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => return Err("the file name binary is not UTF-8".to_string()),
        },
        _ => return Err(format!("expected a file name as a string, found {}", brief(value))),
    };
    if text.is_empty() {
        return Err("the file name is empty".to_string());
    }
    Ok(PathBuf::from(text))
}

/// A key password: a string (its characters as bytes, as OTP passes a
/// charlist on) or a binary. The error never shows the value.
fn password_value(value: &Term) -> Result<KeyPassword, String> {
    let bytes = match value {
        Term::Binary(bytes) => bytes.to_vec(),
        Term::List(chars) => chars
            .iter()
            .map(|c| c.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or("expected the password as a string of Latin-1 characters or a binary")?,
        Term::Fun(_) => {
            return Err("a password given as a fun cannot be called by beamlink; give the string, or use \
                        --key-password-file FILE"
                .to_string());
        }
        _ => return Err("expected the password as a string or a binary".to_string()),
    };
    if bytes.is_empty() {
        return Err("the password is empty".to_string());
    }
    Ok(KeyPassword::new(bytes))
}

/// A term for an error message, cut short.
fn brief(term: &Term) -> String {
    const MAX: usize = 60;
    let text = term.to_string();
    if text.chars().count() <= MAX { text } else { format!("{}...", text.chars().take(MAX).collect::<String>()) }
}

/// The text of an optfile: UTF-8 when a `coding:` comment in the first two
/// lines says so, Latin-1 otherwise (as `epp:read_encoding_from_binary/1` and
/// `ssl_dist_sup` decide).
fn decode_text(bytes: &[u8]) -> Result<String, String> {
    if declares_utf8(bytes) {
        return String::from_utf8(bytes.to_vec()).map_err(|e| format!("declared UTF-8 but is not: {e}"));
    }
    Ok(bytes.iter().map(|&b| char::from(b)).collect())
}

fn declares_utf8(bytes: &[u8]) -> bool {
    let head: Vec<&[u8]> = bytes.split(|&b| b == b'\n').take(2).collect();
    head.iter().any(|line| {
        let line = String::from_utf8_lossy(line).to_ascii_lowercase();
        line.trim_start().starts_with('%')
            && line
                .split_once("coding")
                .and_then(|(_, rest)| rest.trim_start().strip_prefix([':', '=']))
                .is_some_and(|rest| rest.trim_start().starts_with("utf-8") || rest.trim_start().starts_with("utf8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The optfile `beamlink certs erlang-config` writes.
    const OURS: &str = r#"%% TLS distribution options for erl@localhost: erl -proto_dist inet_tls -ssl_dist_optfile THIS_FILE
[{server,
   [{certfile, "/pki/erl@localhost.pem"},
    {keyfile, "/pki/erl@localhost.key"},
    {cacertfile, "/pki/ca.pem"},
    {verify, verify_peer},
    {fail_if_no_peer_cert, true},
    {secure_renegotiate, true},
    {versions, ['tlsv1.3', 'tlsv1.2']}]},
 {client,
   [{certfile, "/pki/erl@localhost.pem"},
    {keyfile, "/pki/erl@localhost.key"},
    {cacertfile, "/pki/ca.pem"},
    {verify, verify_peer},
    {secure_renegotiate, true},
    {versions, ['tlsv1.3', 'tlsv1.2']}]}].
"#;

    /// The shape of OTP's own documentation example (ssl User's Guide,
    /// "Using TLS for Erlang Distribution"), with a verify_fun and depth.
    const OTP_GUIDE: &str = r#"[{server,
  [{certfile, "/home/me/ssl/erlserver.pem"},
   {secure_renegotiate, true}]},
 {client,
  [{secure_renegotiate, true},
   {verify, verify_peer},
   {verify_fun, {fun inet_tls_dist:verify_client/3, []}},
   {depth, 2},
   {cacertfile, "/home/me/ssl/cacerts.pem"}]}].
"#;

    fn parse(text: &str) -> Result<SslDistOptions, OptfileError> {
        SslDistOptions::parse(text, "t.conf")
    }

    #[test]
    fn reads_the_optfile_beamlink_writes() {
        let opts = parse(OURS).unwrap();
        for side in [&opts.server, &opts.client] {
            assert_eq!(side.certfile.as_deref(), Some(Path::new("/pki/erl@localhost.pem")));
            assert_eq!(side.keyfile.as_deref(), Some(Path::new("/pki/erl@localhost.key")));
            assert_eq!(side.cacertfile.as_deref(), Some(Path::new("/pki/ca.pem")));
            assert_eq!(side.verify, Some(PeerVerify::VerifyPeer));
            assert_eq!(side.versions, Some(vec![TlsVersion::Tls13, TlsVersion::Tls12]));
        }
        assert_eq!(opts.server.fail_if_no_peer_cert, Some(true));
        assert_eq!(opts.client.fail_if_no_peer_cert, None);
        assert_eq!(opts.ignored, ["server secure_renegotiate", "client secure_renegotiate"]);
    }

    #[test]
    fn reads_otp_guide_shapes_with_funs_and_integers() {
        let opts = parse(OTP_GUIDE).unwrap();
        assert_eq!(opts.server.certfile.as_deref(), Some(Path::new("/home/me/ssl/erlserver.pem")));
        assert_eq!(opts.server.keyfile, None);
        assert_eq!(opts.client.cacertfile.as_deref(), Some(Path::new("/home/me/ssl/cacerts.pem")));
        assert_eq!(opts.client.verify, Some(PeerVerify::VerifyPeer));
        assert_eq!(opts.ignored, ["server secure_renegotiate", "client secure_renegotiate"]);
        assert_eq!(opts.client.depth, Some(2));
        let unhonoured: Vec<(&str, &str)> = opts.unhonoured.iter().map(|u| (u.section, u.option.as_str())).collect();
        assert_eq!(unhonoured, [("client", "verify_fun")]);
        assert!(opts.unhonoured[0].reason.contains("inet_tls_dist:verify_client/3"), "{:?}", opts.unhonoured);
    }

    #[test]
    fn options_beamlink_cannot_honour_are_kept_apart_from_the_harmless_ones() {
        let opts = parse(
            r#"[{server, [{verify_fun, {fun inet_tls_dist:verify_client/3, []}}, {ciphers, ["AES256-SHA"]},
                          {honor_cipher_order, true}, {depth, 0}]},
                {client, [{verify_fun, {fun my_mod:check/3, []}}, {log_level, debug}, {partial_chain, fun my_mod:pc/1}]}]."#,
        )
        .unwrap();
        assert_eq!(opts.server.depth, Some(0));
        assert_eq!(opts.ignored.len(), 4, "{:?}", opts.ignored);
        assert!(opts.ignored[0].starts_with("server verify_fun inet_tls_dist:verify_client/3"), "{:?}", opts.ignored);
        assert!(opts.ignored[1].starts_with("server ciphers AES256-SHA (not a suite beamlink implements"));
        assert_eq!(opts.ignored[2..], ["server honor_cipher_order", "client log_level"]);
        assert_eq!(opts.server.ciphers, None, "no suite beamlink implements was listed");
        let listed = parse(r#"[{client, [{ciphers, ["AES256-SHA", "TLS_AES_256_GCM_SHA384"]}]}]."#).unwrap();
        assert_eq!(listed.client.ciphers, Some(vec![TlsSuite::Tls13Aes256GcmSha384]));
        assert!(listed.unhonoured.is_empty(), "a list with a suite beamlink implements is honoured");
        let unhonoured: Vec<(&str, &str)> = opts.unhonoured.iter().map(|u| (u.section, u.option.as_str())).collect();
        assert_eq!(unhonoured, [("server", "ciphers"), ("client", "verify_fun"), ("client", "partial_chain")]);
        let two_cas = parse(r#"[{server, [{cacertfile, "/a.pem"}]}, {client, [{cacertfile, "/b.pem"}]}]."#).unwrap();
        assert_eq!(two_cas.unhonoured.len(), 1, "{:?}", two_cas.unhonoured);
        assert_eq!((two_cas.unhonoured[0].section, two_cas.unhonoured[0].option.as_str()), ("client", "cacertfile"));
        assert!(two_cas.unhonoured[0].reason.contains("/b.pem differs from the server section's /a.pem"));
        let one_ca = parse(r#"[{server, [{cacertfile, "/a.pem"}]}, {client, [{cacertfile, "/a.pem"}]}]."#).unwrap();
        assert!(one_ca.unhonoured.is_empty());
        let err = parse("[{server, [{depth, -1}]}].").unwrap_err().to_string();
        assert!(err.contains("depth") && err.contains("non-negative integer"), "{err}");
    }

    #[test]
    fn strings_may_be_binaries_escapes_or_latin1() {
        let opts = parse(r#"[{server, [{certfile, <<"/a/b.pem">>}, {keyfile, "/a/\x{E9}.key"}]}]."#).unwrap();
        assert_eq!(opts.server.certfile.as_deref(), Some(Path::new("/a/b.pem")));
        assert_eq!(opts.server.keyfile.as_deref(), Some(Path::new("/a/é.key")));
        assert_eq!(opts.client, SideOptions::default());
        // Latin-1 bytes without a coding comment, UTF-8 with one.
        let latin1 = b"[{server, [{certfile, \"/a/\xe9.pem\"}]}].";
        let text = decode_text(latin1).unwrap();
        assert_eq!(parse(&text).unwrap().server.certfile.as_deref(), Some(Path::new("/a/é.pem")));
        let utf8 = "%% -*- coding: utf-8 -*-\n[{server, [{certfile, \"/a/é.pem\"}]}].".as_bytes();
        let text = decode_text(utf8).unwrap();
        assert_eq!(parse(&text).unwrap().server.certfile.as_deref(), Some(Path::new("/a/é.pem")));
        assert!(decode_text(b"%% coding: utf-8\n\xff").is_err());
    }

    #[test]
    fn old_versions_are_dropped_and_noted() {
        let opts = parse("[{client, [{versions, ['tlsv1.2', 'tlsv1.1']}]}].").unwrap();
        assert_eq!(opts.client.versions, Some(vec![TlsVersion::Tls12]));
        assert_eq!(opts.ignored.len(), 1);
        assert!(opts.ignored[0].contains("tlsv1.1"), "{:?}", opts.ignored);
        let err = parse("[{client, [{versions, ['tlsv1.1']}]}].").unwrap_err();
        assert!(err.to_string().contains("client option versions (line 1): lists neither"), "{err}");
    }

    #[test]
    fn a_later_section_replaces_an_earlier_one_and_unknown_sections_are_noted() {
        let opts = parse(r#"[{server, [{certfile, "/one"}]}, {server, [{keyfile, "/two"}]}, {other, []}]."#).unwrap();
        assert_eq!(opts.server.certfile, None);
        assert_eq!(opts.server.keyfile.as_deref(), Some(Path::new("/two")));
        assert_eq!(opts.ignored, ["section other"]);
    }

    #[test]
    fn errors_name_the_file_the_section_and_the_option() {
        let cases = [
            ("[{server, [{certfile, filename:join(\"a\", \"b\")}]}].", "option certfile (line 1) calls filename:join"),
            ("[{server, [{certfile, \"/a\"}]}, {client, [X]}].", "t.conf: not a single Erlang term"),
            ("{server, []}.", "expected [{server, Options}, {client, Options}], but the file holds {server,[]}"),
            ("[server].", "but an element is server"),
            ("[{server, verify_peer}].", "the server options are verify_peer, not a list"),
            ("[{server, [verify_peer]}].", "the server section holds verify_peer, not a {Key, Value} tuple"),
            ("[{client, [{verify, maybe}]}].", "client option verify (line 1): expected verify_peer or verify_none"),
            (
                "[{client, [{certfile, 42}]}].",
                "client option certfile (line 1): expected a file name as a string, found 42",
            ),
            ("[{client, [{certfile, \"\"}]}].", "client option certfile (line 1): the file name is empty"),
            ("[{server, [{fail_if_no_peer_cert, yes}]}].", "expected true or false"),
            ("[{server, [{password, \"\"}]}].", "server option password (line 1): the password is empty"),
            (
                "[{server, [{password, [300]}]}].",
                "server option password (line 1): expected the password as a string of Latin-1",
            ),
            ("[{server, [{cacerts, [<<1>>]}]}].", "server option cacerts (line 1): certificates and keys given inline"),
            ("[{server, [{versions, ['tlsv9']}]}].", "unknown TLS version tlsv9"),
        ];
        for (text, needle) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err} should contain {needle:?}");
        }
    }

    #[test]
    fn the_known_hostname_match_fun_is_honoured_and_other_calls_are_named() {
        let known = "[{client, [{customize_hostname_check,\n    [{match_fun, public_key:pkix_verify_hostname_match_fun(\n https )}]}]},\n {server, [{certfile, \"/a\"}]}].";
        let opts = parse(known).unwrap();
        assert!(opts.unhonoured.is_empty(), "{:?}", opts.unhonoured);
        assert!(opts.ignored.iter().any(|i| i.starts_with("client customize_hostname_check")), "{:?}", opts.ignored);
        assert_eq!(opts.server.certfile.as_deref(), Some(Path::new("/a")), "the lines after it are read as before");

        let other = "[{client, [\n  {customize_hostname_check, [{match_fun, my_checks:match(https)}]}]}].";
        let err = parse(other).unwrap_err().to_string();
        assert!(err.contains("option customize_hostname_check (line 2) calls my_checks:match"), "{err}");
        let unknown = parse("[{client, [{customize_hostname_check, [{match_fun, other}]}]}].").unwrap();
        assert_eq!(unknown.unhonoured[0].option, "customize_hostname_check");
    }

    #[test]
    fn options_beamlink_cannot_honour_carry_their_line() {
        let text = "[{server, [{certfile, \"/a\"}]},\n {client,\n  [{certfile, \"/b\"},\n   {verify_fun, {fun my:check/3, []}}]}].";
        let opts = parse(text).unwrap();
        assert_eq!((opts.unhonoured[0].option.as_str(), opts.unhonoured[0].line), ("verify_fun", Some(4)));
        let err = parse("[{server,\n [{versions, ['tlsv1.1']}]}].").unwrap_err().to_string();
        assert!(err.contains("server option versions (line 2):"), "{err}");
        // A value of the wrong kind names its line too.
        let err = parse("[{server, [{certfile, \"/a\"}]},\n {client,\n  [{verify, maybe}]}].").unwrap_err().to_string();
        assert!(err.contains("client option verify (line 3): expected verify_peer"), "{err}");
    }

    #[test]
    fn a_password_is_kept_per_section_and_never_shown() {
        let opts = parse(r#"[{server, [{password, "s3cret"}]}, {client, [{password, <<"other">>}]}]."#).unwrap();
        assert_eq!(opts.server.password, Some(KeyPassword::new("s3cret")));
        assert_eq!(opts.client.password, Some(KeyPassword::new("other")));
        let shown = format!("{opts:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("other\""), "{shown}");
    }

    #[test]
    fn crl_check_and_a_hash_directory_cache_are_read() {
        let opts = parse(
            r#"[{server, [{crl_check, peer},
                          {crl_cache, {ssl_crl_hash_dir, {internal, [{dir, "/pki/crl.d"}]}}}]},
                {client, [{crl_check, best_effort}, {crl_cache, {ssl_crl_cache, {internal, [{http, 5000}]}}}]}]."#,
        )
        .unwrap();
        assert_eq!(opts.server.crl_check, Some(CrlCheck::Peer));
        assert_eq!(opts.server.crl_cache, Some(CrlCache::HashDir("/pki/crl.d".into())));
        assert_eq!(opts.client.crl_check, Some(CrlCheck::BestEffort));
        assert!(matches!(&opts.client.crl_cache, Some(CrlCache::Other(text)) if text.contains("ssl_crl_cache")));
        assert!(opts.ignored.is_empty(), "{:?}", opts.ignored);
        let cases = [
            ("[{server, [{crl_check, sometimes}]}].", "server option crl_check (line 1): expected true, false, peer"),
            (
                "[{server, [{crl_cache, ssl_crl_hash_dir}]}].",
                "server option crl_cache (line 1): expected {Module, {internal",
            ),
            ("[{client, [{crl_cache, {ssl_crl_hash_dir, {internal, []}}}]}].", "ssl_crl_hash_dir needs {dir, Dir}"),
        ];
        for (text, needle) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err} should contain {needle:?}");
        }
    }

    #[test]
    fn read_reports_missing_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.conf");
        let err = SslDistOptions::read(&missing).unwrap_err();
        assert!(matches!(err.problem, OptfileProblem::Unreadable(_)), "{err:?}");
        assert!(err.to_string().contains("none.conf: cannot read it"), "{err}");
        let big = dir.path().join("big.conf");
        std::fs::write(&big, vec![b' '; MAX_OPTFILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(SslDistOptions::read(&big).unwrap_err().problem, OptfileProblem::TooLarge { .. }));
        let good = dir.path().join("good.conf");
        std::fs::write(&good, OURS).unwrap();
        assert_eq!(SslDistOptions::read(&good).unwrap(), parse(OURS).unwrap());
    }
}
