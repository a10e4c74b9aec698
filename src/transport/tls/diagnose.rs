//! Turning TLS failures into sentences an operator can act on: which
//! certificate, which name, which CA, and what to change.

use std::io;
use std::time::Duration;

use crate::utc::format as utc;

use rustls::{AlertDescription, CertificateError, Error, PeerIncompatible};

use super::material::TrustInfo;
use super::verify::{PeerRole, Rejection};
use crate::pki::CertInfo;

/// A certificate in one line: subject, serial, issuer and a short fingerprint.
pub(crate) fn cert_line(info: &CertInfo) -> String {
    let fingerprint: String = info.fingerprint_hex().chars().take(23).collect();
    format!("\"{}\" (serial {}, issuer \"{}\", SHA-256 {fingerprint}...)", info.subject, info.serial, info.issuer)
}

/// A duration in days (or hours under two days), for expiry messages.
pub(crate) fn days(d: Duration) -> String {
    let hours = d.as_secs() / 3600;
    if hours >= 48 { format!("{} days", hours / 24) } else { format!("{hours} hours") }
}

/// Why a peer's certificate was refused, and what to do.
pub(crate) fn rejection(r: &Rejection, trust: &TrustInfo) -> String {
    let whose = match r.role {
        PeerRole::Client => "the client's certificate",
        PeerRole::Server => "the server's certificate",
    };
    let cert = r.cert.as_ref().map(cert_line).unwrap_or_else(|| "(unreadable)".to_string());
    if matches!(r.error, Error::InvalidCertificate(CertificateError::Revoked)) {
        return format!("refused {whose}: certificate {cert} is revoked: {}", revoked(r, trust));
    }
    let (problem, fix) = match &r.error {
        Error::InvalidCertificate(e) => certificate_problem(e, r, trust),
        Error::InvalidCertRevocationList(e) => {
            let issuer = r.cert.as_ref().map(|c| c.issuer.as_str()).unwrap_or("?");
            let crl = trust.crl_for(issuer).map(|c| c.path.display().to_string()).unwrap_or_else(|| "?".into());
            (
                format!("the CRL {crl} from its issuer \"{issuer}\" cannot be used: {e:?}"),
                "make a new CRL with the issuing CA (beamlink certs crl --dir DIR)".into(),
            )
        }
        other => (other.to_string(), String::new()),
    };
    if fix.is_empty() {
        format!("refused {whose} {cert}: {problem}")
    } else {
        format!("refused {whose} {cert}: {problem}; {fix}")
    }
}

/// Which CRL lists a revoked certificate, since when and why, and what to do.
fn revoked(r: &Rejection, trust: &TrustInfo) -> String {
    let Some(cert) = r.cert.as_ref() else {
        return format!("a CRL in force lists it (CRLs: {})", trust.crl_list());
    };
    let Some(crl) = trust.crl_for(&cert.issuer) else {
        return format!("a CRL in force lists it (CRLs: {})", trust.crl_list());
    };
    let number = crl.info.number.as_deref().map(|n| format!(" number {n},")).unwrap_or_default();
    let mut text = format!(
        "listed in the CRL {} (from \"{}\",{number} issued {})",
        crl.path.display(),
        crl.info.issuer,
        utc(crl.info.this_update)
    );
    if let Some(entry) = crl.info.find(&cert.serial) {
        text.push_str(&format!(" since {}", utc(entry.revoked_at)));
        if let Some(reason) = entry.reason {
            text.push_str(&format!(", reason {reason}"));
        }
    }
    text.push_str("; the node needs a new certificate (beamlink certs issue --force) to be let in again");
    text
}

fn certificate_problem(e: &CertificateError, r: &Rejection, trust: &TrustInfo) -> (String, String) {
    let issuer = r.cert.as_ref().map(|c| c.issuer.as_str()).unwrap_or("?");
    let usage = match r.role {
        PeerRole::Client => "TLS client authentication (clientAuth)",
        PeerRole::Server => "TLS server authentication (serverAuth)",
    };
    match e {
        CertificateError::UnknownIssuer => (
            format!("its issuer \"{issuer}\" is not among the trust roots ({trust})"),
            "issue it from the cluster CA, or add its CA to the trust bundle".into(),
        ),
        CertificateError::BadSignature => (
            format!("its signature does not verify against the trusted CA named \"{issuer}\""),
            "another CA with the same name issued it; reissue it from the cluster CA".into(),
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = r.cert.as_ref().map(|c| utc(c.not_after)).unwrap_or_default();
            (format!("it expired on {when}"), "renew it (beamlink certs renew) and let the node reload it".into())
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let when = r.cert.as_ref().map(|c| utc(c.not_before)).unwrap_or_default();
            (format!("it is not valid before {when}"), "check both machines' clocks, or wait until then".into())
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            let eku = r
                .cert
                .as_ref()
                .and_then(|c| c.extended_key_usage.as_ref())
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into());
            (
                format!("its extended key usage ({eku}) does not allow {usage}"),
                "reissue it with both serverAuth and clientAuth (beamlink certs issue does)".into(),
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let host = r.expected_host.as_deref().unwrap_or("?");
            let names = r
                .cert
                .as_ref()
                .map(|c| {
                    let mut all = c.dns_names.clone();
                    all.extend(c.ip_addresses.iter().map(|ip| ip.to_string()));
                    if all.is_empty() { "no host at all".to_string() } else { all.join(", ") }
                })
                .unwrap_or_default();
            (
                format!("it is not valid for the host {host} (it names {names})"),
                format!(
                    "reissue it with the host {host} (beamlink certs issue --host), or dial the node by a host it names"
                ),
            )
        }
        CertificateError::UnknownRevocationStatus => (
            format!(
                "its revocation status is unknown: no CRL from its issuer \"{issuer}\" is in force (CRLs: {})",
                trust.crl_list()
            ),
            "add that CA's CRL (--crl FILE; beamlink certs crl --dir DIR makes one), or allow unknown status \
             (allow_unknown_revocation_status)"
                .into(),
        ),
        CertificateError::ExpiredRevocationList | CertificateError::ExpiredRevocationListContext { .. } => {
            let crl = trust.crl_for(issuer);
            let file = crl.map(|c| c.path.display().to_string()).unwrap_or_else(|| "?".into());
            let due = crl.and_then(|c| c.info.next_update).map(utc).unwrap_or_else(|| "?".into());
            (
                format!("the CRL {file} from its issuer \"{issuer}\" is out of date (nextUpdate {due})"),
                "refresh it (beamlink certs crl --dir DIR) and copy it into place; the node reloads it".into(),
            )
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => (
            "it is signed with an algorithm beamlink does not accept".into(),
            "use ECDSA P-256/P-384, RSA of at least 2048 bits, or Ed25519".into(),
        ),
        CertificateError::Other(other) if format!("{other:?}").contains("EndEntityUsedAsCa") => (
            format!("its issuer \"{issuer}\" is a node certificate, not a CA (EndEntityUsedAsCa)"),
            "only the cluster CA may issue node certificates; reissue it with beamlink certs issue".into(),
        ),
        other => (format!("{other}"), String::new()),
    }
}

/// What a TLS alert from the peer says about our own certificate.
pub(crate) fn alert(desc: AlertDescription, ours: &CertInfo) -> String {
    let line = cert_line(ours);
    match desc {
        AlertDescription::UnknownCA => format!(
            "the peer does not trust the CA that issued our certificate {line}: add \"{}\" to its trusted CAs \
             (cacertfile); or, if it checks CRLs, it has no current CRL from that CA",
            ours.issuer
        ),
        AlertDescription::CertificateRevoked => format!(
            "the peer says our certificate {line} is revoked (a CRL it uses lists it): this node needs a new \
             certificate (beamlink certs issue --force)"
        ),
        AlertDescription::CertificateExpired => format!(
            "the peer says our certificate {line} is expired or not yet valid (valid {} to {}): renew it or check the clocks",
            utc(ours.not_before),
            utc(ours.not_after)
        ),
        AlertDescription::BadCertificate => format!(
            "the peer refused our certificate {line} (bad_certificate); an OTP peer says this when the certificate \
             does not name the host it dialled (hostname_check_failed) — ours names {}{}; the peer's log says more",
            {
                let mut names = ours.dns_names.clone();
                names.extend(ours.ip_addresses.iter().map(|ip| ip.to_string()));
                names.join(", ")
            },
            usage_note(ours)
        ),
        AlertDescription::UnsupportedCertificate => format!(
            "the peer refused the key usage of our certificate {line}: the certificate a node accepts with needs \
             serverAuth, the one it dials with clientAuth{}",
            usage_note(ours)
        ),
        AlertDescription::CertificateRequired => "the peer requires a client certificate and got none".to_string(),
        AlertDescription::ProtocolVersion => {
            "no TLS version in common with the peer (OTP 25 offers only TLS 1.2 unless its optfile sets versions)"
                .to_string()
        }
        AlertDescription::HandshakeFailure => format!(
            "the peer ended the handshake (handshake_failure): no cipher suite or protocol version in common \
             ({OUR_OFFER}), or it refused our certificate {line}{}; its log says which",
            usage_note(ours)
        ),
        AlertDescription::InsufficientSecurity => format!(
            "the peer ended the handshake (insufficient_security): no cipher suite or protocol version in common; \
             OTP says this when none of the suites offered is in its ciphers list ({OUR_OFFER}; an OTP 25 node \
             speaks only TLS 1.2 unless its optfile sets versions)"
        ),
        other => format!("the peer ended the connection with the TLS alert {other:?} (our certificate is {line})"),
    }
}

/// What beamlink offers at most, for the messages about suites in common.
const OUR_OFFER: &str = "beamlink offers TLS 1.3 and TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 only, \
                         less where its cipher and version settings say so";

/// For a refused certificate: what its extended key usage restricts it
/// to, when it does not allow both TLS roles (a client-only certificate
/// presented to a dialler, a server-only one when dialling).
fn usage_note(ours: &CertInfo) -> String {
    match &ours.extended_key_usage {
        Some(k) if !(k.any || k.server_auth && k.client_auth) => {
            let allowed = match (k.server_auth, k.client_auth) {
                (true, false) => "serverAuth only: it cannot be used to dial",
                (false, true) => "clientAuth only: it cannot be used to accept",
                _ => "neither serverAuth nor clientAuth",
            };
            format!(" (its extended key usage allows {allowed})")
        }
        _ => String::new(),
    }
}

/// The first bytes of a connection that is not TLS, described.
pub(crate) fn not_tls(first: &[u8]) -> String {
    let hex: Vec<String> = first.iter().map(|b| format!("{b:02x}")).collect();
    let looks_like_dist = matches!(first, [_, _, b'N' | b'n', ..]);
    if looks_like_dist {
        format!(
            "the peer does not speak TLS: it opened with a plain-TCP distribution handshake (bytes {}); \
             start it with -proto_dist inet_tls and an -ssl_dist_optfile (erl), or with --ca/--cert/--key (beamlink)",
            hex.join(" ")
        )
    } else {
        format!("the peer does not speak TLS: its first bytes are {} (a TLS handshake starts with 16)", hex.join(" "))
    }
}

/// The rustls error inside an I/O error from tokio-rustls, if any.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
}

/// Why a TLS handshake failed, for a log line: the recorded rejection of the
/// peer's certificate if there is one, else what the error says.
pub(crate) fn handshake_failure(
    e: &io::Error,
    rejected: Option<Rejection>,
    ours: &CertInfo,
    trust: &TrustInfo,
    role: PeerRole,
) -> String {
    if let Some(r) = rejected {
        return rejection(&r, trust);
    }
    match rustls_error(e) {
        Some(Error::NoCertificatesPresented) => format!(
            "the client presented no certificate; beamlink requires mutual TLS: give it a certificate issued by a CA \
             in {trust} (for erl: certfile and keyfile in the client section of its -ssl_dist_optfile)"
        ),
        Some(Error::AlertReceived(desc)) => alert(*desc, ours),
        Some(Error::PeerIncompatible(p)) => incompatible(p),
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => match role {
            PeerRole::Server => "the peer closed the connection during the TLS handshake: it may be a plain-TCP \
                                 distribution node (not started with -proto_dist inet_tls), or it refused our \
                                 certificate (its log says why)"
                .to_string(),
            PeerRole::Client => "the client closed the connection during the TLS handshake: it may have refused our \
                                 certificate (its log says why)"
                .to_string(),
        },
        None => format!("TLS handshake failed: {e}"),
    }
}

fn incompatible(p: &PeerIncompatible) -> String {
    match p {
        PeerIncompatible::Tls12NotOffered
        | PeerIncompatible::Tls12NotOfferedOrEnabled
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => {
            "no TLS version in common: the peer speaks only a TLS version this node has disabled".to_string()
        }
        PeerIncompatible::SupportedVersionsExtensionRequired | PeerIncompatible::ServerDoesNotSupportTls12Or13 => {
            "no TLS version in common: this node requires TLS 1.3, the peer offers only older versions \
             (an OTP 25 node offers only TLS 1.2 unless its optfile sets {versions, ['tlsv1.3', 'tlsv1.2']})"
                .to_string()
        }
        PeerIncompatible::NoCipherSuitesInCommon => {
            "no cipher suite in common (beamlink offers only AEAD suites: AES-GCM and ChaCha20-Poly1305)".to_string()
        }
        other => format!("the peer's TLS parameters are incompatible: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn expiry_spans_print_in_days_or_hours() {
        assert_eq!(days(Duration::from_secs(3 * 86_400 + 5)), "3 days");
        assert_eq!(days(Duration::from_secs(7200)), "2 hours");
    }

    fn cert(purposes: Option<crate::pki::KeyPurposes>) -> CertInfo {
        CertInfo {
            subject: "CN=a@h".into(),
            subject_common_name: Some("a@h".into()),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH,
            dns_names: vec!["h".into()],
            ip_addresses: Vec::new(),
            node_names: Vec::new(),
            otp_cert_nodes: None,
            is_ca: false,
            path_len_constraint: None,
            key_usage: Vec::new(),
            extended_key_usage: purposes,
            key_type: crate::pki::KeyType::EcdsaP256,
            sha256_fingerprint: [0; 32],
        }
    }

    #[test]
    fn alerts_about_suites_and_key_usage_say_what_to_look_at() {
        let both = cert(None);
        for desc in [AlertDescription::InsufficientSecurity, AlertDescription::HandshakeFailure] {
            let text = alert(desc, &both);
            assert!(text.contains("no cipher suite or protocol version in common"), "{text}");
            assert!(text.contains("AES-GCM or ChaCha20-Poly1305"), "{text}");
        }
        let client_only = cert(Some(crate::pki::KeyPurposes { client_auth: true, ..Default::default() }));
        let text = alert(AlertDescription::UnsupportedCertificate, &client_only);
        assert!(text.contains("clientAuth only: it cannot be used to accept"), "{text}");
        let server_only = cert(Some(crate::pki::KeyPurposes { server_auth: true, ..Default::default() }));
        let text = alert(AlertDescription::BadCertificate, &server_only);
        assert!(text.contains("serverAuth only: it cannot be used to dial"), "{text}");
        assert!(!alert(AlertDescription::BadCertificate, &both).contains("extended key usage"));
    }

    #[test]
    fn first_bytes_name_a_plain_distribution_handshake() {
        let plain = not_tls(&[0x00, 0x1a, b'N']);
        assert!(plain.contains("plain-TCP distribution handshake (bytes 00 1a 4e)"), "{plain}");
        assert!(plain.contains("-proto_dist inet_tls"), "{plain}");
        let other = not_tls(b"GET");
        assert!(other.contains("its first bytes are 47 45 54"), "{other}");
    }
}
