//! A human-readable report on a certificate file, with an expiry verdict
//! that monitoring can act on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::CertsError;
use crate::pki::{CertInfo, load_certs};
use crate::transport::tls::{CrlInfo, TlsError, load_crls};
use crate::utc::format as utc;

/// Where a certificate stands on its validity timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStatus {
    /// Valid, and for longer than the warning window.
    Valid,
    /// Valid, but expires within the warning window.
    ExpiringSoon,
    /// Past its notAfter.
    Expired,
    /// Before its notBefore.
    NotYetValid,
}

/// The result of [`inspect`]; `Display` prints the report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    /// The file inspected.
    pub path: PathBuf,
    /// The first certificate in the file (the leaf of a chain).
    pub info: CertInfo,
    /// How many certificates the file holds.
    pub chain_len: usize,
    /// The time the verdict is for.
    pub now: SystemTime,
    /// The warning window in days.
    pub warn_days: u32,
    /// The verdict.
    pub status: ExpiryStatus,
}

impl Inspection {
    /// True when the certificate is expired, expiring within the warning
    /// window, or not valid yet: the cases `beamlink certs inspect` exits 1 for.
    pub fn needs_attention(&self) -> bool {
        self.status != ExpiryStatus::Valid
    }
}

/// Reads the certificate(s) in `path` and judges the first one's validity at
/// `now`, warning when it expires within `warn_days`.
pub fn inspect(path: &Path, now: SystemTime, warn_days: u32) -> Result<Inspection, CertsError> {
    let certs = load_certs(path)?;
    let file = path.display().to_string();
    let Some(first) = certs.first() else {
        return Err(crate::pki::PkiError::NoPemBlock { file, expected: "a CERTIFICATE block" }.into());
    };
    let info = CertInfo::from_der_in(first, &file)?;
    let window = Duration::from_secs(u64::from(warn_days) * 86_400);
    let status = if now < info.not_before {
        ExpiryStatus::NotYetValid
    } else {
        match info.expires_in(now) {
            None => ExpiryStatus::Expired,
            Some(left) if left <= window => ExpiryStatus::ExpiringSoon,
            Some(_) => ExpiryStatus::Valid,
        }
    };
    Ok(Inspection { path: path.to_path_buf(), info, chain_len: certs.len(), now, warn_days, status })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: &dyn fmt::Display| writeln!(f, "{label:<14}{value}");
        row(f, "file:", &self.path.display())?;
        if self.chain_len > 1 {
            row(f, "chain:", &format!("{} certificates; this report is about the first", self.chain_len))?;
        }
        row(f, "subject:", &info.subject)?;
        row(f, "issuer:", &info.issuer)?;
        row(f, "serial:", &info.serial)?;
        row(f, "not before:", &utc(info.not_before))?;
        row(f, "not after:", &format!("{} ({})", utc(info.not_after), relative(info, self.now)))?;
        let ca = match (info.is_ca, info.path_len_constraint) {
            (true, Some(n)) => format!("yes (path length {n})"),
            (true, None) => "yes".to_string(),
            (false, _) => "no".to_string(),
        };
        row(f, "CA:", &ca)?;
        row(f, "key usage:", &list(info.key_usage.iter().map(|s| s.to_string())))?;
        let eku = match &info.extended_key_usage {
            Some(p) => p.to_string(),
            None => "(extension absent: any)".to_string(),
        };
        row(f, "ext. usage:", &eku)?;
        row(f, "DNS names:", &list(info.dns_names.iter().cloned()))?;
        row(f, "IP addresses:", &list(info.ip_addresses.iter().map(|ip| ip.to_string())))?;
        row(f, "node names:", &list(info.node_names.iter().cloned()))?;
        row(f, "key type:", &info.key_type)?;
        row(f, "SHA-256:", &info.fingerprint_hex())?;
        let status = match self.status {
            ExpiryStatus::Valid => format!("OK (valid for more than {} days)", self.warn_days),
            ExpiryStatus::ExpiringSoon => format!("EXPIRING: expires within {} days", self.warn_days),
            ExpiryStatus::Expired => "EXPIRED".to_string(),
            ExpiryStatus::NotYetValid => "NOT YET VALID".to_string(),
        };
        row(f, "status:", &status)
    }
}

/// The result of [`inspect_crl`]; `Display` prints the report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CrlInspection {
    /// The file inspected.
    pub path: PathBuf,
    /// What its (first) CRL says.
    pub info: CrlInfo,
    /// How many CRLs the file holds.
    pub crl_count: usize,
    /// The time the verdict is for.
    pub now: SystemTime,
}

impl CrlInspection {
    /// True when the CRL is past its nextUpdate: the case `beamlink certs
    /// inspect` exits 1 for (refresh it with `beamlink certs crl`).
    pub fn needs_attention(&self) -> bool {
        self.info.is_stale_at(self.now)
    }
}

/// Reads the CRL(s) in `path` (PEM or DER) and reports on the first one:
/// issuer, number, update times, and every revoked serial.
pub fn inspect_crl(path: &Path, now: SystemTime) -> Result<CrlInspection, CertsError> {
    let file = path.display().to_string();
    let as_certs_error = |e: TlsError| match e {
        TlsError::BadCrl { file, reason } => CertsError::BadCrl { path: file, reason },
        other => CertsError::BadCrl { path: path.to_path_buf(), reason: other.to_string() },
    };
    let crls = load_crls(path).map_err(as_certs_error)?;
    let Some(first) = crls.first() else {
        return Err(CertsError::BadCrl { path: path.to_path_buf(), reason: "no CRL in it".into() });
    };
    let info = CrlInfo::from_der(first.as_ref(), &file).map_err(as_certs_error)?;
    Ok(CrlInspection { path: path.to_path_buf(), info, crl_count: crls.len(), now })
}

impl fmt::Display for CrlInspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = &self.info;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: &dyn fmt::Display| writeln!(f, "{label:<14}{value}");
        row(f, "file:", &self.path.display())?;
        if self.crl_count > 1 {
            row(f, "CRLs:", &format!("{} in the file; this report is about the first", self.crl_count))?;
        }
        row(f, "kind:", &"certificate revocation list")?;
        row(f, "issuer:", &info.issuer)?;
        row(f, "CRL number:", &info.number.as_deref().unwrap_or("(none)"))?;
        row(f, "this update:", &utc(info.this_update))?;
        let next = match info.next_update {
            None => "(none)".to_string(),
            Some(next) => match next.duration_since(self.now) {
                Ok(left) => format!("{} (in {})", utc(next), span(left)),
                Err(late) => format!("{} ({} ago)", utc(next), span(late.duration())),
            },
        };
        row(f, "next update:", &next)?;
        row(
            f,
            "revoked:",
            &format!("{} certificate{}", info.revoked.len(), if info.revoked.len() == 1 { "" } else { "s" }),
        )?;
        for entry in &info.revoked {
            let reason = entry.reason.map(|r| format!(", {r}")).unwrap_or_default();
            writeln!(f, "  serial {} since {}{reason}", entry.serial, utc(entry.revoked_at))?;
        }
        let status = if self.needs_attention() {
            "STALE: past its nextUpdate; refresh it (beamlink certs crl --dir DIR)"
        } else {
            "OK"
        };
        row(f, "status:", &status)
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() { "(none)".to_string() } else { items.join(", ") }
}

/// "expires in 89 days", "expired 3 days ago", "not valid for another 2 hours".
fn relative(info: &CertInfo, now: SystemTime) -> String {
    match info.expires_in(now) {
        Some(left) => format!("expires in {}", span(left)),
        None => format!("expired {} ago", span(now.duration_since(info.not_after).unwrap_or_default())),
    }
}

fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 2 * 86_400 => (s / 86_400, "days"),
        s if s >= 2 * 3_600 => (s / 3_600, "hours"),
        s if s >= 2 * 60 => (s / 60, "minutes"),
        s => (s, "seconds"),
    };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(Duration::from_secs(90 * 86_400 + 5)), "90 days");
        assert_eq!(span(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(span(Duration::from_secs(150)), "2 minutes");
        assert_eq!(span(Duration::from_secs(3)), "3 seconds");
        assert_eq!(utc(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 + 61)), "1970-01-02 00:01:01 UTC");
    }
}
