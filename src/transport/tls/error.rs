//! Errors from setting up the TLS transport: reading certificate, key and
//! trust files, and reading OTP's `-ssl_dist_optfile`.

use std::path::PathBuf;

use crate::pki::PkiError;
use crate::term::ParseError;

/// The TLS transport could not be configured.
///
/// Every variant names the file involved and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate, key or CA file is missing, unreadable or malformed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A trust-roots file holds nothing usable as a trust anchor.
    #[error("{file}: cannot use it as trust roots: {reason}")]
    BadTrustRoots {
        /// The CA bundle.
        file: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A certificate revocation list is missing, malformed, or not usable
    /// with the trust roots.
    #[error("{}: cannot use it as a CRL: {reason}", file.display())]
    BadCrl {
        /// The CRL file.
        file: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The private key is not the key of the certificate.
    #[error(
        "{key} is not the private key of the certificate in {cert}: give the key that was made with that certificate"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The private key is of a kind the TLS library cannot sign with.
    #[error("{key}: this private key cannot be used for TLS: {reason}")]
    UnusableKey {
        /// The key file.
        key: PathBuf,
        /// What the TLS library said.
        reason: String,
    },
    /// The options do not make a usable TLS configuration.
    #[error("invalid TLS configuration: {0}")]
    Config(String),
    /// OTP's `-ssl_dist_optfile` could not be used.
    #[error(transparent)]
    Optfile(#[from] OptfileError),
}

/// An `-ssl_dist_optfile` that beamlink cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct OptfileError {
    /// The optfile.
    pub file: String,
    /// What is wrong with it.
    pub problem: OptfileProblem,
}

/// What is wrong with an `-ssl_dist_optfile`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptfileProblem {
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Unreadable(#[source] std::io::Error),
    /// The file is larger than any optfile should be.
    #[error("larger than {limit} bytes; not an optfile")]
    TooLarge {
        /// The size limit in bytes.
        limit: u64,
    },
    /// The text is not one Erlang term (or uses expressions beamlink does not evaluate).
    #[error("not a single Erlang term (function calls and variables are not evaluated): {0}")]
    Syntax(#[source] ParseError),
    /// The term is not `[{server, Options}, {client, Options}]`.
    #[error("expected [{{server, Options}}, {{client, Options}}], but {0}")]
    Shape(String),
    /// A required option is in neither section.
    #[error("{option} is in neither the server nor the client section; beamlink needs it")]
    Missing {
        /// The option's name, e.g. `certfile`.
        option: &'static str,
    },
    /// An option has a value of the wrong kind.
    #[error("{section} option {option}{}: {reason}", OnLine(*line))]
    BadValue {
        /// `server` or `client`.
        section: &'static str,
        /// The option's name.
        option: String,
        /// The line of the file it is on, when known.
        line: Option<usize>,
        /// What was expected and found.
        reason: String,
    },
    /// An option asks for something beamlink does not do.
    #[error("{section} option {option}{}: {reason}", OnLine(*line))]
    Unsupported {
        /// `server` or `client`.
        section: &'static str,
        /// The option's name.
        option: String,
        /// The line of the file it is on, when known.
        line: Option<usize>,
        /// Why it is refused, and what to do instead.
        reason: String,
    },
    /// An option's value is a function call, which beamlink does not evaluate.
    #[error(
        "option {option} (line {line}) calls {call}: beamlink reads the optfile as a term and evaluates no \
         function calls; the one it recognises is {KNOWN_CALL} in customize_hostname_check"
    )]
    FunctionCall {
        /// The option whose value holds the call (`?` when none could be found).
        option: String,
        /// The line of the call.
        line: usize,
        /// The called function, `Module:Function`.
        call: String,
    },
}

/// The function call an optfile may hold: OTP's wildcard-aware hostname
/// match, in `{customize_hostname_check, [{match_fun, ...}]}`.
pub const KNOWN_CALL: &str = "public_key:pkix_verify_hostname_match_fun(https)";

/// " (line N)", or nothing.
struct OnLine(Option<usize>);

impl std::fmt::Display for OnLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}
