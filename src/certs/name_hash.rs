//! The OpenSSL "subject hash" of a distinguished name (`openssl x509 -hash`,
//! OTP's `public_key:short_name_hash/1`): how a CRL hash directory names
//! its files (`HASH.r0`), which OTP's `ssl_crl_hash_dir` reads.
//!
//! The hash is the first four bytes, little-endian, of the SHA-1 of the
//! name's canonical encoding: every RDN as a DER SET whose string values are
//! re-encoded as UTF8String after trimming ASCII whitespace at both ends,
//! collapsing inner runs of it to one space and lower-casing ASCII letters;
//! the RDNs are concatenated without the outer SEQUENCE.

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use x509_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

/// The 8-hex-digit hash of `name`, or `None` when the name holds a value
/// type this does not canonicalize (only UTF8String, PrintableString,
/// IA5String and TeletexString are handled, the types OTP normalizes).
pub(crate) fn openssl_name_hash(name: &X509Name<'_>) -> Option<String> {
    let mut canonical = Vec::new();
    for rdn in name.iter() {
        let mut avas: Vec<Vec<u8>> = Vec::new();
        for ava in rdn.iter() {
            let value = ava.attr_value();
            let text: String = match value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
                    std::str::from_utf8(value.as_bytes()).ok()?.to_string()
                }
                // OTP reads a TeletexString's bytes as Latin-1.
                Tag::T61String => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
                _ => return None,
            };
            let oid = tlv(0x06, ava.attr_type().as_bytes());
            let utf8 = tlv(0x0C, canonical_text(&text).as_bytes());
            avas.push(tlv(0x30, &[oid, utf8].concat()));
        }
        // DER orders the members of a SET OF by their encodings.
        avas.sort();
        canonical.extend(tlv(0x31, &avas.concat()));
    }
    let sha1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, &canonical);
    let first: [u8; 4] = sha1.as_ref().get(..4)?.try_into().ok()?;
    Some(format!("{:08x}", u32::from_le_bytes(first)))
}

/// Trim ASCII whitespace, collapse inner runs of it to one space, lower-case ASCII.
fn canonical_text(text: &str) -> String {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.trim_matches(is_space).chars() {
        if is_space(c) {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A DER tag-length-value with a one-byte tag.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_canonicalized_as_openssl_does() {
        assert_eq!(canonical_text("  Beamlink \t Cluster\nCA  "), "beamlink cluster ca");
        assert_eq!(canonical_text("ÉCOLE"), "École", "only ASCII letters are lower-cased");
        assert_eq!(canonical_text(""), "");
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(long.len(), 304);
    }
}
