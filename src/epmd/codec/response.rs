//! EPMD replies: encoding for the daemon, decoding for the client.

use super::error::{NameError, ResponseError, excerpt};
use super::{
    ALIVE2_RESP, ALIVE2_X_RESP, Decoded, MAX_EXTRA_BYTES, MAX_NAME_BYTES, NodeInfo, NodeType, PORT2_RESP,
    REFUSED_CREATION, RESULT_ERROR, be_u16, be_u32, validate_name, validate_name_bytes,
};

/// The reply to ALIVE2_REQ: ALIVE2_X_RESP (tag 118, 32-bit creation) for
/// nodes whose highest version is 6 or more, ALIVE2_RESP (tag 121, 16-bit
/// creation) for older ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alive2Response {
    /// 0 on success; anything else means refused.
    pub result: u8,
    /// The node's creation (99 when refused).
    pub creation: u32,
    /// True for ALIVE2_X_RESP, false for ALIVE2_RESP.
    pub extended: bool,
}

impl Alive2Response {
    /// A successful registration, in the format the node's version calls for.
    pub fn accepted(creation: u32, highest_version: u16) -> Alive2Response {
        Alive2Response { result: 0, creation, extended: highest_version >= 6 }
    }

    /// A refusal (duplicate or invalid name): result 1, creation 99, as OTP's epmd.
    pub fn refused(highest_version: u16) -> Alive2Response {
        Alive2Response { result: RESULT_ERROR, creation: REFUSED_CREATION, extended: highest_version >= 6 }
    }

    /// True when the registration was accepted.
    pub fn is_ok(&self) -> bool {
        self.result == 0
    }

    /// The reply bytes. ALIVE2_RESP carries only the low 16 bits of the
    /// creation (which is 1–3 for such nodes).
    pub fn encode(&self) -> Vec<u8> {
        if self.extended {
            let mut out = vec![ALIVE2_X_RESP, self.result];
            out.extend_from_slice(&self.creation.to_be_bytes());
            out
        } else {
            let mut out = vec![ALIVE2_RESP, self.result];
            out.extend_from_slice(&(self.creation as u16).to_be_bytes());
            out
        }
    }

    /// Decodes either reply format from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Decoded<Alive2Response>, ResponseError> {
        let Some(&tag) = buf.first() else { return Ok(Decoded::Incomplete) };
        match tag {
            ALIVE2_X_RESP => match (buf.get(1), be_u32(buf, 2)) {
                (Some(&result), Some(creation)) => {
                    Ok(Decoded::Complete(Alive2Response { result, creation, extended: true }, 6))
                }
                _ => Ok(Decoded::Incomplete),
            },
            ALIVE2_RESP => match (buf.get(1), be_u16(buf, 2)) {
                (Some(&result), Some(creation)) => {
                    Ok(Decoded::Complete(Alive2Response { result, creation: creation.into(), extended: false }, 4))
                }
                _ => Ok(Decoded::Incomplete),
            },
            got => Err(ResponseError::UnexpectedTag { reply: "ALIVE2 reply", expected: ALIVE2_X_RESP, got }),
        }
    }
}

/// The reply to PORT_PLEASE2_REQ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Port2Response {
    /// The node is registered: everything it registered with.
    Found(NodeInfo),
    /// No node of that name is registered (exactly `119, 1` on the wire).
    NotFound,
}

impl Port2Response {
    /// The reply bytes; fails only for a [`NodeInfo`] epmd would never have
    /// accepted.
    pub fn encode(&self) -> Result<Vec<u8>, NameError> {
        match self {
            Port2Response::NotFound => Ok(vec![PORT2_RESP, RESULT_ERROR]),
            Port2Response::Found(node) => {
                node.validate()?;
                let mut out = Vec::with_capacity(14 + node.name.len() + node.extra.len());
                out.extend_from_slice(&[PORT2_RESP, 0]);
                out.extend_from_slice(&node.port.to_be_bytes());
                out.push(node.node_type.to_byte());
                out.push(node.protocol);
                out.extend_from_slice(&node.highest_version.to_be_bytes());
                out.extend_from_slice(&node.lowest_version.to_be_bytes());
                // Both lengths were validated to fit in a u16.
                out.extend_from_slice(&(node.name.len() as u16).to_be_bytes());
                out.extend_from_slice(node.name.as_bytes());
                out.extend_from_slice(&(node.extra.len() as u16).to_be_bytes());
                out.extend_from_slice(&node.extra);
                Ok(out)
            }
        }
    }

    /// Decodes a reply from the start of `buf`. Name and extra lengths are
    /// checked against epmd's limits as soon as they are known, so a client
    /// never waits for (or buffers) more than about 2 KiB.
    pub fn decode(buf: &[u8]) -> Result<Decoded<Port2Response>, ResponseError> {
        const REPLY: &str = "PORT2_RESP";
        let (Some(&tag), Some(&result)) = (buf.first(), buf.get(1)) else {
            return match buf.first() {
                Some(&tag) if tag != PORT2_RESP => Err(unexpected_port2_tag(tag)),
                _ => Ok(Decoded::Incomplete),
            };
        };
        if tag != PORT2_RESP {
            return Err(unexpected_port2_tag(tag));
        }
        if result != 0 {
            return Ok(Decoded::Complete(Port2Response::NotFound, 2));
        }
        let Some(name_len) = be_u16(buf, 10) else { return Ok(Decoded::Incomplete) };
        let name_len = usize::from(name_len);
        if name_len > MAX_NAME_BYTES {
            return Err(ResponseError::BadName {
                reply: REPLY,
                source: NameError::TooLong { chars: name_len, bytes: name_len },
            });
        }
        let Some(extra_len) = be_u16(buf, 12 + name_len) else { return Ok(Decoded::Incomplete) };
        let extra_len = usize::from(extra_len);
        if extra_len > MAX_EXTRA_BYTES {
            return Err(ResponseError::BadName { reply: REPLY, source: NameError::ExtraTooLong { bytes: extra_len } });
        }
        let end = 14 + name_len + extra_len;
        let Some(reply) = buf.get(..end) else { return Ok(Decoded::Incomplete) };
        let name = validate_name_bytes(&reply[12..12 + name_len])
            .map_err(|source| ResponseError::BadName { reply: REPLY, source })?;
        let node = NodeInfo {
            port: u16::from_be_bytes([reply[2], reply[3]]),
            node_type: NodeType::from_byte(reply[4]),
            protocol: reply[5],
            highest_version: u16::from_be_bytes([reply[6], reply[7]]),
            lowest_version: u16::from_be_bytes([reply[8], reply[9]]),
            name: name.to_owned(),
            extra: reply[14 + name_len..end].to_vec(),
        };
        Ok(Decoded::Complete(Port2Response::Found(node), end))
    }
}

fn unexpected_port2_tag(got: u8) -> ResponseError {
    ResponseError::UnexpectedTag { reply: "PORT2_RESP", expected: PORT2_RESP, got }
}

/// The reply to NAMES_REQ: epmd's port as a `u32`, then one line
/// `name <N> at port <P>\n` per registered node, until epmd closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The port epmd says it listens on.
    pub epmd_port: u32,
    /// Registered names and their distribution ports, in epmd's order
    /// (OTP's epmd lists the most recent registration first).
    pub nodes: Vec<(String, u16)>,
}

impl Names {
    /// The 4-byte header of the reply.
    pub fn header(epmd_port: u32) -> [u8; 4] {
        epmd_port.to_be_bytes()
    }

    /// One line of the reply, exactly as OTP's epmd writes it.
    pub fn line(name: &str, port: u16) -> String {
        format!("name {name} at port {port}\n")
    }

    /// The whole reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::header(self.epmd_port).to_vec();
        for (name, port) in &self.nodes {
            out.extend_from_slice(Self::line(name, *port).as_bytes());
        }
        out
    }

    /// Decodes a whole reply (everything read until epmd closed). Every line
    /// must be complete and well formed.
    pub fn decode(reply: &[u8]) -> Result<Names, ResponseError> {
        const REPLY: &str = "NAMES reply";
        let Some(epmd_port) = be_u32(reply, 0) else {
            return Err(ResponseError::Truncated { reply: REPLY, detail: "shorter than the 4-byte port" });
        };
        let text = std::str::from_utf8(&reply[4..])
            .map_err(|_| ResponseError::Malformed { reply: REPLY, text: excerpt(&reply[4..]) })?;
        let mut nodes = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some((line, after)) = rest.split_once('\n') else {
                return Err(ResponseError::Truncated { reply: REPLY, detail: "the last line has no newline" });
            };
            rest = after;
            nodes.push(parse_names_line(line)?);
        }
        Ok(Names { epmd_port, nodes })
    }

    /// What `epmd -names` prints for this reply.
    pub fn listing(&self) -> String {
        let mut out = format!("epmd: up and running on port {} with data:\n", self.epmd_port);
        for (name, port) in &self.nodes {
            out.push_str(&Self::line(name, *port));
        }
        out
    }
}

/// `name <N> at port <P>`; the name may itself contain spaces.
fn parse_names_line(line: &str) -> Result<(String, u16), ResponseError> {
    const REPLY: &str = "NAMES reply";
    let malformed = || ResponseError::Malformed { reply: REPLY, text: excerpt(line.as_bytes()) };
    let body = line.strip_prefix("name ").ok_or_else(malformed)?;
    let (name, port) = body.rsplit_once(" at port ").ok_or_else(malformed)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let port = port.parse::<u16>().map_err(|_| malformed())?;
    validate_name(name).map_err(|source| ResponseError::BadName { reply: REPLY, source })?;
    Ok((name.to_owned(), port))
}

/// The reply to DUMP_REQ: epmd's port as a `u32`, then one NUL-terminated
/// text entry per node (active ones, then old/unused ones), until epmd closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    /// The port epmd says it listens on.
    pub epmd_port: u32,
    /// The entries, each without its terminating NUL (each ends with `\n`).
    pub entries: Vec<String>,
}

impl Dump {
    /// An entry for a registered node, as OTP's epmd formats it. Our daemon
    /// puts its connection number where OTP puts a file descriptor.
    pub fn active_entry(name: &str, port: u16, fd: u64) -> String {
        format!("active name     <{name}> at port {port}, fd = {fd}\n")
    }

    /// An entry for a name that was registered once and is not any more.
    pub fn unused_entry(name: &str, port: u16, fd: u64) -> String {
        format!("old/unused name <{name}>, port = {port}, fd = {fd} \n")
    }

    /// The whole reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Names::header(self.epmd_port).to_vec();
        for entry in &self.entries {
            out.extend_from_slice(entry.as_bytes());
            out.push(0);
        }
        out
    }

    /// Decodes a whole reply (everything read until epmd closed).
    pub fn decode(reply: &[u8]) -> Result<Dump, ResponseError> {
        const REPLY: &str = "DUMP reply";
        let Some(epmd_port) = be_u32(reply, 0) else {
            return Err(ResponseError::Truncated { reply: REPLY, detail: "shorter than the 4-byte port" });
        };
        let mut entries = Vec::new();
        let mut rest = &reply[4..];
        while !rest.is_empty() {
            let Some(nul) = rest.iter().position(|&b| b == 0) else {
                return Err(ResponseError::Truncated { reply: REPLY, detail: "the last entry has no NUL" });
            };
            let entry = std::str::from_utf8(&rest[..nul])
                .map_err(|_| ResponseError::Malformed { reply: REPLY, text: excerpt(&rest[..nul]) })?;
            entries.push(entry.to_owned());
            rest = &rest[nul + 1..];
        }
        Ok(Dump { epmd_port, entries })
    }
}

/// The reply to KILL_REQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillResponse {
    /// `OK`: epmd exits.
    Ok,
    /// `NO`: nodes are registered and epmd runs without the relaxed command check.
    No,
}

impl KillResponse {
    /// The reply bytes.
    pub fn encode(self) -> &'static [u8] {
        match self {
            KillResponse::Ok => b"OK",
            KillResponse::No => b"NO",
        }
    }

    /// Decodes the reply from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Decoded<KillResponse>, ResponseError> {
        match buf.get(..2) {
            None if b"OK".starts_with(buf) || b"NO".starts_with(buf) => Ok(Decoded::Incomplete),
            Some(b"OK") => Ok(Decoded::Complete(KillResponse::Ok, 2)),
            Some(b"NO") => Ok(Decoded::Complete(KillResponse::No, 2)),
            _ => Err(ResponseError::Malformed { reply: "KILL reply", text: excerpt(buf) }),
        }
    }
}

/// The reply to STOP_REQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopResponse {
    /// `STOPPED`: the name was unregistered and its connection closed.
    Stopped,
    /// `NOEXIST`: no node of that name is registered. (OTP's epmd follows it
    /// with `STOPPED` by mistake; only the first seven bytes count.)
    NoExist,
}

impl StopResponse {
    /// The reply bytes.
    pub fn encode(self) -> &'static [u8] {
        match self {
            StopResponse::Stopped => b"STOPPED",
            StopResponse::NoExist => b"NOEXIST",
        }
    }

    /// Decodes the reply from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Decoded<StopResponse>, ResponseError> {
        match buf.get(..7) {
            None if b"STOPPED".starts_with(buf) || b"NOEXIST".starts_with(buf) => Ok(Decoded::Incomplete),
            Some(b"STOPPED") => Ok(Decoded::Complete(StopResponse::Stopped, 7)),
            Some(b"NOEXIST") => Ok(Decoded::Complete(StopResponse::NoExist, 7)),
            _ => Err(ResponseError::Malformed { reply: "STOP reply", text: excerpt(buf) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PORT2_RESP captured from OTP 25.2.3 (`e3` on port 0x8819, High 6, Low 5).
    const OTP_PORT2: [u8; 16] =
        [0x77, 0x00, 0x88, 0x19, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x02, 0x65, 0x33, 0x00, 0x00];

    #[test]
    fn captured_port2_resp_decodes_and_re_encodes() {
        let Ok(Decoded::Complete(Port2Response::Found(node), 16)) = Port2Response::decode(&OTP_PORT2) else {
            panic!("captured PORT2_RESP rejected")
        };
        assert_eq!(node, NodeInfo::new("e3", 0x8819).with_versions(6, 5));
        assert_eq!(Port2Response::Found(node).encode().unwrap(), OTP_PORT2);
    }

    #[test]
    fn port2_resp_is_incomplete_until_the_last_byte() {
        for cut in 0..OTP_PORT2.len() {
            assert_eq!(Port2Response::decode(&OTP_PORT2[..cut]), Ok(Decoded::Incomplete), "cut {cut}");
        }
        let mut longer = OTP_PORT2.to_vec();
        longer.extend_from_slice(b"junk");
        assert!(matches!(Port2Response::decode(&longer), Ok(Decoded::Complete(_, 16))));
    }

    #[test]
    fn port2_not_found_is_two_bytes() {
        assert_eq!(Port2Response::NotFound.encode().unwrap(), [119, 1]);
        assert_eq!(Port2Response::decode(&[119, 1]), Ok(Decoded::Complete(Port2Response::NotFound, 2)));
        assert_eq!(Port2Response::decode(&[119, 7]), Ok(Decoded::Complete(Port2Response::NotFound, 2)));
    }

    // Fault matrix E10: garbage and oversized PORT2_RESP are errors, decided early.
    #[test]
    fn port2_garbage_is_an_error() {
        assert!(matches!(Port2Response::decode(b"H"), Err(ResponseError::UnexpectedTag { got: b'H', .. })));
        assert!(matches!(Port2Response::decode(b"HTTP/1.1"), Err(ResponseError::UnexpectedTag { .. })));
        let mut huge = vec![119, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff];
        assert!(matches!(Port2Response::decode(&huge), Err(ResponseError::BadName { .. })));
        huge[10..12].copy_from_slice(&[0, 1]);
        huge.push(b'a');
        huge.extend_from_slice(&[0xff, 0xff]);
        assert!(matches!(
            Port2Response::decode(&huge),
            Err(ResponseError::BadName { source: NameError::ExtraTooLong { bytes: 65535 }, .. })
        ));
        let bad_utf8 = [119, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0, 1, 0xff, 0, 0];
        assert!(matches!(
            Port2Response::decode(&bad_utf8),
            Err(ResponseError::BadName { source: NameError::InvalidUtf8, .. })
        ));
    }

    #[test]
    fn alive2_replies() {
        // The refusal captured from OTP: duplicate name, version 6.
        assert_eq!(Alive2Response::refused(6).encode(), [0x76, 0x01, 0x00, 0x00, 0x00, 0x63]);
        assert_eq!(Alive2Response::refused(5).encode(), [121, 1, 0, 99]);
        // The creation observed from OTP's epmd.
        let ok = Alive2Response::accepted(0x6b06_0656, 6);
        assert_eq!(ok.encode(), [118, 0, 0x6b, 0x06, 0x06, 0x56]);
        assert_eq!(Alive2Response::decode(&ok.encode()), Ok(Decoded::Complete(ok, 6)));
        let v5 = Alive2Response::accepted(3, 5);
        assert_eq!(v5.encode(), [121, 0, 0, 3]);
        assert_eq!(Alive2Response::decode(&[121, 0, 0, 3, 9]), Ok(Decoded::Complete(v5, 4)));
        for cut in 0..6 {
            assert_eq!(Alive2Response::decode(&ok.encode()[..cut]), Ok(Decoded::Incomplete));
        }
        assert!(matches!(Alive2Response::decode(b"NO"), Err(ResponseError::UnexpectedTag { got: b'N', .. })));
    }

    #[test]
    fn names_reply_round_trips_and_matches_otp_text() {
        // The reply OTP's epmd sent for two registered nodes.
        let reply = b"\x00\x00\xaa\xacname bar at port 1235\nname foo at port 1234\n";
        let names = Names::decode(reply).unwrap();
        assert_eq!(names.epmd_port, 43692);
        assert_eq!(names.nodes, [("bar".to_string(), 1235), ("foo".to_string(), 1234)]);
        assert_eq!(names.encode(), reply);
        assert_eq!(
            names.listing(),
            "epmd: up and running on port 43692 with data:\nname bar at port 1235\nname foo at port 1234\n"
        );
        let empty = Names::decode(&[0, 0, 0x11, 0x11]).unwrap();
        assert!(empty.nodes.is_empty());
        assert_eq!(empty.listing(), "epmd: up and running on port 4369 with data:\n");
        // A name with a space still parses.
        let spaced = Names { epmd_port: 1, nodes: vec![("a b".into(), 7)] };
        assert_eq!(Names::decode(&spaced.encode()).unwrap(), spaced);
    }

    // E10: garbage NAMES replies.
    #[test]
    fn names_garbage_is_an_error() {
        assert!(matches!(Names::decode(&[0, 0, 1]), Err(ResponseError::Truncated { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01name a at port 1"), Err(ResponseError::Truncated { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01hello\n"), Err(ResponseError::Malformed { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01name a at port 99999\n"), Err(ResponseError::Malformed { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01name a at port -1\n"), Err(ResponseError::Malformed { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01name  at port 1\n"), Err(ResponseError::BadName { .. })));
        assert!(matches!(Names::decode(b"\0\0\0\x01name \xff at port 1\n"), Err(ResponseError::Malformed { .. })));
    }

    #[test]
    fn dump_reply_matches_otp_text() {
        // The reply OTP's epmd sent (its fd numbers).
        let reply = b"\x00\x00\xaa\xacactive name     <bar> at port 1235, fd = 6\n\x00active name     <foo> at port 1234, fd = 5\n\x00";
        let dump = Dump::decode(reply).unwrap();
        assert_eq!(dump.entries, [Dump::active_entry("bar", 1235, 6), Dump::active_entry("foo", 1234, 5)]);
        assert_eq!(dump.encode(), reply);
        assert_eq!(Dump::unused_entry("x", 1, 2), "old/unused name <x>, port = 1, fd = 2 \n");
        assert!(matches!(Dump::decode(b"\0\0\0\x01abc"), Err(ResponseError::Truncated { .. })));
    }

    #[test]
    fn kill_and_stop_replies() {
        assert_eq!(KillResponse::decode(b"OK"), Ok(Decoded::Complete(KillResponse::Ok, 2)));
        assert_eq!(KillResponse::decode(b"NO"), Ok(Decoded::Complete(KillResponse::No, 2)));
        assert_eq!(KillResponse::decode(b"O"), Ok(Decoded::Incomplete));
        assert!(KillResponse::decode(b"XY").is_err());
        assert_eq!(StopResponse::decode(b"STOPPED"), Ok(Decoded::Complete(StopResponse::Stopped, 7)));
        // What OTP's epmd really sends for an unknown name.
        assert_eq!(StopResponse::decode(b"NOEXISTSTOPPED"), Ok(Decoded::Complete(StopResponse::NoExist, 7)));
        assert_eq!(StopResponse::decode(b"NOEX"), Ok(Decoded::Incomplete));
        assert!(StopResponse::decode(b"NOPE").is_err());
    }
}
