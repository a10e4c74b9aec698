//! The cookie challenge: `MD5(cookie ++ decimal(challenge))`, compared in constant time.

use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq;

/// The 16-byte answer to a challenge.
pub type Digest = [u8; 16];

/// The digest a node holding `cookie` gives for `challenge`, as OTP's
/// `dist_util:gen_digest/2`: MD5 of the cookie followed by the challenge
/// written as an unsigned decimal number.
pub fn digest(challenge: u32, cookie: &[u8]) -> Digest {
    let mut md5 = Md5::new();
    md5.update(cookie);
    md5.update(challenge.to_string().as_bytes());
    md5.finalize().into()
}

/// Whether `received` answers `challenge` for `cookie`, in constant time.
pub fn verify(challenge: u32, cookie: &[u8], received: &Digest) -> bool {
    digest(challenge, cookie).ct_eq(received).into()
}

/// A fresh challenge from the operating system's random source.
pub fn new_challenge() -> u32 {
    use rand::RngCore;
    rand::rngs::OsRng.next_u32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_erlang_md5() {
        // erlang:md5(["secret", integer_to_list(1234567890)])
        let expected = [0xe0, 0xfc, 0xfc, 0x1b, 0xa5, 0x11, 0xfc, 0x6f, 0xe6, 0xee, 0x35, 0x7c, 0x9a, 0xdd, 0xb9, 0x32];
        assert_eq!(digest(1234567890, b"secret"), expected);
        assert!(verify(1234567890, b"secret", &expected));
        assert!(!verify(1234567891, b"secret", &expected));
        assert!(!verify(1234567890, b"secreT", &expected));
    }

    #[test]
    fn challenges_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            seen.insert(new_challenge());
        }
        // 10k draws from 2^32: a collision has probability ~1%; two would be suspicious.
        assert!(seen.len() >= 9_998, "only {} distinct challenges", seen.len());
    }
}
