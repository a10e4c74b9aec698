//! This machine's host name, for node names given without `@host`.

/// The machine's host name as the kernel reports it.
fn raw_hostname() -> Option<String> {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = || std::env::var("HOSTNAME").ok();
    from_proc.or_else(from_env).map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}

/// The short host name (first label), as `erl -sname x` uses; `localhost` if unknown.
pub fn short_hostname() -> String {
    raw_hostname().and_then(|h| h.split('.').next().map(str::to_string)).unwrap_or_else(|| "localhost".into())
}

/// A fully qualified host name, as `erl -name x` uses, when the machine's
/// name has a domain part.
pub fn long_hostname() -> Option<String> {
    raw_hostname().filter(|h| h.contains('.'))
}
