//! The EPMD client's reply decoders on arbitrary bytes from a server. A reply
//! that decodes must decode the same from exactly the bytes it says it used,
//! must not be complete any earlier, and must encode back to those bytes (or
//! to an equal value for the text listings). A reply still incomplete must be
//! shorter than the longest valid one: the client never waits for more.
#![no_main]

use beamlink::epmd::codec::{
    Alive2Response, Decoded, Dump, KillResponse, MAX_EXTRA_BYTES, MAX_NAME_BYTES, Names, Port2Response, StopResponse,
};
use libfuzzer_sys::fuzz_target;

/// Checks an incremental decoder: prefix consistency and the byte-exact re-encoding.
fn check<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    decode: impl Fn(&[u8]) -> Result<Decoded<T>, beamlink::epmd::codec::ResponseError>,
    encode: impl Fn(&T) -> Vec<u8>,
    longest: usize,
) {
    match decode(data) {
        Ok(Decoded::Complete(value, used)) => {
            assert!(used > 0 && used <= data.len() && used <= longest, "used {used} of {}", data.len());
            assert_eq!(decode(&data[..used]), Ok(Decoded::Complete(value, used)), "the reply's own bytes");
            assert_eq!(decode(&data[..used - 1]), Ok(Decoded::Incomplete), "complete one byte early");
            let Ok(Decoded::Complete(value, _)) = decode(data) else { unreachable!() };
            assert_eq!(encode(&value), &data[..used], "re-encoding differs");
        }
        Ok(Decoded::Incomplete) => assert!(data.len() < longest, "still waiting after {} bytes", data.len()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, Alive2Response::decode, Alive2Response::encode, 6);
    let longest_port2 = 14 + MAX_NAME_BYTES + MAX_EXTRA_BYTES;
    check(
        data,
        Port2Response::decode,
        |r| match r {
            // Any non-zero result byte means "not found"; we always send 1.
            Port2Response::NotFound => data[..2].to_vec(),
            found => found.encode().expect("a decoded reply encodes"),
        },
        longest_port2,
    );
    check(data, KillResponse::decode, |r| r.encode().to_vec(), 2);
    check(data, StopResponse::decode, |r| r.encode().to_vec(), 7);

    if let Ok(names) = Names::decode(data) {
        assert_eq!(Names::decode(&names.encode()), Ok(names.clone()));
        let _ = names.listing();
    }
    if let Ok(dump) = Dump::decode(data) {
        assert_eq!(Dump::decode(&dump.encode()), Ok(dump));
    }
});
