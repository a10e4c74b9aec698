//! The cipher suites beamlink's TLS implements, and how OTP's `ciphers`
//! option names them: OpenSSL names (`"ECDHE-RSA-AES256-GCM-SHA384"`, one
//! per string or `:`-separated in one), RFC names
//! (`"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"`, `"TLS_AES_256_GCM_SHA384"`),
//! `{KeyExchange, Cipher, Mac}` / `{KeyExchange, Cipher, Mac, Prf}` tuples,
//! and `#{key_exchange, cipher, mac, prf}` maps (OTP's
//! `ssl:handle_cipher_option/2` and `ssl_cipher_format`).

use crate::term::Term;

/// A cipher suite beamlink's TLS can offer: the TLS 1.3 suites and the
/// TLS 1.2 ECDHE suites with AEAD ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsSuite {
    /// TLS 1.3 `TLS_AES_128_GCM_SHA256`.
    Tls13Aes128GcmSha256,
    /// TLS 1.3 `TLS_AES_256_GCM_SHA384`.
    Tls13Aes256GcmSha384,
    /// TLS 1.3 `TLS_CHACHA20_POLY1305_SHA256`.
    Tls13Chacha20Poly1305Sha256,
    /// TLS 1.2 `ECDHE-ECDSA-AES128-GCM-SHA256`.
    EcdheEcdsaAes128GcmSha256,
    /// TLS 1.2 `ECDHE-ECDSA-AES256-GCM-SHA384`.
    EcdheEcdsaAes256GcmSha384,
    /// TLS 1.2 `ECDHE-ECDSA-CHACHA20-POLY1305`.
    EcdheEcdsaChacha20Poly1305,
    /// TLS 1.2 `ECDHE-RSA-AES128-GCM-SHA256`.
    EcdheRsaAes128GcmSha256,
    /// TLS 1.2 `ECDHE-RSA-AES256-GCM-SHA384`.
    EcdheRsaAes256GcmSha384,
    /// TLS 1.2 `ECDHE-RSA-CHACHA20-POLY1305`.
    EcdheRsaChacha20Poly1305,
}

/// One suite's names: OpenSSL's, the RFC's, and OTP's
/// `{key_exchange, cipher, prf}` (the mac is always `aead`).
struct Names {
    suite: TlsSuite,
    openssl: &'static str,
    rfc: &'static str,
    otp: (&'static str, &'static str, &'static str),
}

const fn names(
    suite: TlsSuite,
    openssl: &'static str,
    rfc: &'static str,
    otp: (&'static str, &'static str, &'static str),
) -> Names {
    Names { suite, openssl, rfc, otp }
}

const SUITES: [Names; 9] = [
    names(
        TlsSuite::Tls13Aes128GcmSha256,
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        ("any", "aes_128_gcm", "sha256"),
    ),
    names(
        TlsSuite::Tls13Aes256GcmSha384,
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        ("any", "aes_256_gcm", "sha384"),
    ),
    names(
        TlsSuite::Tls13Chacha20Poly1305Sha256,
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        ("any", "chacha20_poly1305", "sha256"),
    ),
    names(
        TlsSuite::EcdheEcdsaAes128GcmSha256,
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ("ecdhe_ecdsa", "aes_128_gcm", "sha256"),
    ),
    names(
        TlsSuite::EcdheEcdsaAes256GcmSha384,
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ("ecdhe_ecdsa", "aes_256_gcm", "sha384"),
    ),
    names(
        TlsSuite::EcdheEcdsaChacha20Poly1305,
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ("ecdhe_ecdsa", "chacha20_poly1305", "sha256"),
    ),
    names(
        TlsSuite::EcdheRsaAes128GcmSha256,
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ("ecdhe_rsa", "aes_128_gcm", "sha256"),
    ),
    names(
        TlsSuite::EcdheRsaAes256GcmSha384,
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ("ecdhe_rsa", "aes_256_gcm", "sha384"),
    ),
    names(
        TlsSuite::EcdheRsaChacha20Poly1305,
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ("ecdhe_rsa", "chacha20_poly1305", "sha256"),
    ),
];

impl TlsSuite {
    /// Every suite beamlink implements, TLS 1.3 first.
    pub fn all() -> impl Iterator<Item = TlsSuite> {
        SUITES.iter().map(|n| n.suite)
    }

    /// The suite's OpenSSL name, as OTP's `ciphers` strings use it.
    pub fn openssl_name(self) -> &'static str {
        SUITES.iter().find(|n| n.suite == self).map_or("?", |n| n.openssl)
    }

    /// Whether this is a TLS 1.3 suite.
    pub fn is_tls13(self) -> bool {
        matches!(
            self,
            TlsSuite::Tls13Aes128GcmSha256 | TlsSuite::Tls13Aes256GcmSha384 | TlsSuite::Tls13Chacha20Poly1305Sha256
        )
    }

    /// The suite an OpenSSL or RFC name stands for, if beamlink implements it.
    pub fn from_name(name: &str) -> Option<TlsSuite> {
        let name = name.trim();
        SUITES
            .iter()
            .find(|n| n.openssl.eq_ignore_ascii_case(name) || n.rfc.eq_ignore_ascii_case(name))
            .map(|n| n.suite)
    }

    /// The suite OTP's `{KeyExchange, Cipher, Mac[, Prf]}` names, if beamlink
    /// implements it. A missing or `default_prf` PRF matches the suite's own.
    fn from_otp(kex: &str, cipher: &str, mac: &str, prf: Option<&str>) -> Option<TlsSuite> {
        let aead = matches!(mac, "aead") || matches!(cipher, "aes_128_gcm" | "aes_256_gcm" | "chacha20_poly1305");
        SUITES
            .iter()
            .find(|n| {
                n.otp.0 == kex && n.otp.1 == cipher && aead && prf.is_none_or(|p| p == "default_prf" || p == n.otp.2)
            })
            .map(|n| n.suite)
    }
}

impl std::fmt::Display for TlsSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.openssl_name())
    }
}

/// What a `ciphers` option lists: the suites beamlink implements, in the
/// option's order, and the entries it names that beamlink does not (each as
/// written), which cannot be offered.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CipherList {
    pub(crate) suites: Vec<TlsSuite>,
    pub(crate) unimplemented: Vec<String>,
}

/// Reads a `ciphers` value in any of the forms OTP accepts.
pub(crate) fn read_ciphers(value: &Term) -> Result<CipherList, String> {
    let mut list = CipherList::default();
    let mut add = |suite: Option<TlsSuite>, written: String| match suite {
        Some(suite) if !list.suites.contains(&suite) => list.suites.push(suite),
        Some(_) => {}
        None => list.unimplemented.push(written),
    };
    let Term::List(items) = value else {
        return Err(format!("expected a list of cipher suites, found {value}"));
    };
    if let Some(text) = value.to_string_value().filter(|_| !items.is_empty()) {
        // One string, "A:B:C".
        for name in text.split(':').filter(|n| !n.trim().is_empty()) {
            add(TlsSuite::from_name(name), name.trim().to_string());
        }
        return Ok(list);
    }
    for item in items {
        match item {
            Term::List(_) => match item.to_string_value().filter(|name| !name.is_empty()) {
                Some(name) => add(TlsSuite::from_name(&name), name),
                None => return Err(format!("expected a cipher suite name as a string, found {item}")),
            },
            Term::Binary(bytes) => {
                // OTP's internal two-byte suite codes; rare in files.
                return Err(format!(
                    "cipher suites given as binaries ({} bytes) are not supported; name them",
                    bytes.len()
                ));
            }
            Term::Tuple(_) => {
                let atoms: Option<Vec<&str>> =
                    item.as_tuple().unwrap_or_default().iter().map(|t| t.as_atom().map(|a| a.as_str())).collect();
                match atoms.as_deref() {
                    Some([kex, cipher, mac]) => add(TlsSuite::from_otp(kex, cipher, mac, None), item.to_string()),
                    Some([kex, cipher, mac, prf]) => {
                        add(TlsSuite::from_otp(kex, cipher, mac, Some(prf)), item.to_string())
                    }
                    _ => return Err(format!("expected {{KeyExchange, Cipher, Mac[, Prf]}}, found {item}")),
                }
            }
            Term::Map(map) => {
                let field = |key: &str| map.get_atom(key).and_then(|v| v.as_atom()).map(|a| a.as_str().to_string());
                match (field("key_exchange"), field("cipher"), field("mac")) {
                    (Some(kex), Some(cipher), Some(mac)) => {
                        let prf = field("prf");
                        add(TlsSuite::from_otp(&kex, &cipher, &mac, prf.as_deref()), item.to_string())
                    }
                    _ => return Err(format!("expected #{{key_exchange, cipher, mac, prf}}, found {item}")),
                }
            }
            other => return Err(format!("expected a cipher suite, found {other}")),
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<CipherList, String> {
        read_ciphers(&crate::term::parse(text).unwrap())
    }

    #[test]
    fn every_form_otp_accepts_names_the_same_suites() {
        let forms = [
            r#"["ECDHE-RSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256"]."#,
            r#""ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256"."#,
            r#"["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "tls_aes_128_gcm_sha256"]."#,
            r#"[{ecdhe_rsa, aes_256_gcm, aead, sha384}, {any, aes_128_gcm, aead, sha256}]."#,
            r#"[{ecdhe_rsa, aes_256_gcm, null}, #{key_exchange => any, cipher => aes_128_gcm, mac => aead, prf => sha256}]."#,
        ];
        for form in forms {
            let list = read(form).unwrap();
            assert_eq!(list.suites, [TlsSuite::EcdheRsaAes256GcmSha384, TlsSuite::Tls13Aes128GcmSha256], "{form}");
            assert!(list.unimplemented.is_empty(), "{form}: {:?}", list.unimplemented);
        }
    }

    #[test]
    fn suites_beamlink_lacks_are_kept_apart_and_bad_shapes_are_errors() {
        let list = read(r#"["AES256-SHA", "ECDHE-ECDSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]."#).unwrap();
        assert_eq!(list.suites, [TlsSuite::EcdheEcdsaAes128GcmSha256]);
        assert_eq!(list.unimplemented, ["AES256-SHA", "DHE-RSA-AES256-GCM-SHA384"]);
        let list = read("[{rsa, aes_128_cbc, sha}, {ecdhe_ecdsa, aes_128_gcm, aead, sha384}].").unwrap();
        assert!(list.suites.is_empty(), "a PRF that is not the suite's own matches nothing");
        assert_eq!(list.unimplemented.len(), 2);
        for bad in ["ciphers.", "[1.5].", "[{a, b}].", "[#{cipher => aes_128_gcm}]."] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(TlsSuite::all().count(), 9);
        assert!(TlsSuite::all().all(|s| TlsSuite::from_name(s.openssl_name()) == Some(s)));
    }
}
