//! The framed link on UART0 between the MCU and the socket chip (the
//! host program `chip/`, in the shape of a WIZnet W5500): up to
//! [`SOCKETS`] TCP sockets multiplexed on one byte stream. Both ends use
//! this encoder and decoder.
//!
//! A frame is a 4-byte header, then `len` payload bytes:
//!
//! ```text
//! [kind u8][socket u8][len u16 little-endian][payload: len bytes, at most MAX_PAYLOAD]
//! ```
//!
//! Chip to MCU: [`Kind::Accepted`], [`Kind::Data`], [`Kind::Closed`],
//! [`Kind::Connected`], [`Kind::Refused`]. MCU to chip: [`Kind::Connect`]
//! (payload `host:port`), [`Kind::Send`], [`Kind::Close`]. A socket
//! number is taken by `Accepted` (chip, sockets below [`CLIENT_SOCKETS`])
//! or `Connect` (MCU, the sockets from [`CLIENT_SOCKETS`] on) and is free
//! again once each side has sent its end: the chip `Closed` (or
//! `Refused`), the MCU `Close`. Neither side sends anything more for a
//! socket after its own end, so bytes never reach the next connection
//! on the same number.

/// Sockets on the link (a W5500 has 8).
pub const SOCKETS: u8 = 8;
/// Sockets `0..CLIENT_SOCKETS` carry accepted clients; the others the
/// MCU's outgoing connections.
pub const CLIENT_SOCKETS: u8 = 6;
/// The longest payload of one frame.
pub const MAX_PAYLOAD: usize = 512;
/// The header's length.
pub const HEADER: usize = 4;
/// The longest `host:port` of a `Connect`.
pub const MAX_ADDRESS: usize = 64;

/// What a frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Chip: a client connected on the listening port (no payload).
    Accepted,
    /// Chip: bytes a connection received (1 to [`MAX_PAYLOAD`]).
    Data,
    /// Chip: the connection ended (no payload).
    Closed,
    /// Chip: the MCU's connect succeeded (no payload).
    Connected,
    /// Chip: the MCU's connect failed; the socket is free (no payload).
    Refused,
    /// MCU: open a connection to `host:port` (the payload).
    Connect,
    /// MCU: bytes to send (1 to [`MAX_PAYLOAD`]).
    Send,
    /// MCU: close the connection (no payload).
    Close,
}

impl Kind {
    /// The kind's byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Kind::Accepted => 0x01,
            Kind::Data => 0x02,
            Kind::Closed => 0x03,
            Kind::Connected => 0x04,
            Kind::Refused => 0x05,
            Kind::Connect => 0x81,
            Kind::Send => 0x82,
            Kind::Close => 0x83,
        }
    }

    /// The kind of a wire byte.
    pub const fn of(code: u8) -> Option<Self> {
        Some(match code {
            0x01 => Kind::Accepted,
            0x02 => Kind::Data,
            0x03 => Kind::Closed,
            0x04 => Kind::Connected,
            0x05 => Kind::Refused,
            0x81 => Kind::Connect,
            0x82 => Kind::Send,
            0x83 => Kind::Close,
            _ => return None,
        })
    }

    /// Which end sends it.
    pub const fn from(self) -> Side {
        if self.code() & 0x80 == 0 {
            Side::Chip
        } else {
            Side::Mcu
        }
    }

    /// The payload lengths it may have.
    const fn lengths(self) -> (usize, usize) {
        match self {
            Kind::Data | Kind::Send => (1, MAX_PAYLOAD),
            Kind::Connect => (3, MAX_ADDRESS),
            _ => (0, 0),
        }
    }
}

/// An end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The socket chip.
    Chip,
    /// The microcontroller.
    Mcu,
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A kind byte that names no kind.
    UnknownKind(u8),
    /// A kind the other end sends, not this one.
    WrongDirection(u8),
    /// A socket number of [`SOCKETS`] or more.
    BadSocket(u8),
    /// A payload length the kind does not allow (too long, or a payload
    /// where none belongs, or an empty `Data`/`Send`).
    BadLength { kind: u8, len: u16 },
    /// A `Connect` whose payload is not `host:port`.
    BadAddress,
    /// The output buffer is too small (encoding).
    NoRoom,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::UnknownKind(k) => write!(f, "unknown kind {k:#04x}"),
            FrameError::WrongDirection(k) => write!(f, "kind {k:#04x} from the wrong end"),
            FrameError::BadSocket(s) => write!(f, "socket {s} out of range"),
            FrameError::BadLength { kind, len } => {
                write!(f, "length {len} not allowed for kind {kind:#04x}")
            }
            FrameError::BadAddress => write!(f, "connect address is not host:port"),
            FrameError::NoRoom => write!(f, "output buffer too small"),
        }
    }
}

/// A checked header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub socket: u8,
    pub len: u16,
}

impl Header {
    /// Checks `kind`, `socket` and `len` for a frame sent by `from`.
    pub fn new(from: Side, kind: Kind, socket: u8, len: usize) -> Result<Self, FrameError> {
        let code = kind.code();
        if kind.from() != from {
            return Err(FrameError::WrongDirection(code));
        }
        if socket >= SOCKETS {
            return Err(FrameError::BadSocket(socket));
        }
        let (lo, hi) = kind.lengths();
        let wire = u16::try_from(len).unwrap_or(u16::MAX);
        if len < lo || len > hi {
            return Err(FrameError::BadLength {
                kind: code,
                len: wire,
            });
        }
        Ok(Self {
            kind,
            socket,
            len: wire,
        })
    }

    /// Reads and checks the 4 bytes of a header sent by `from`.
    pub fn decode(from: Side, bytes: [u8; HEADER]) -> Result<Self, FrameError> {
        let [kind, socket, lo, hi] = bytes;
        let Some(k) = Kind::of(kind) else {
            return Err(FrameError::UnknownKind(kind));
        };
        Self::new(from, k, socket, usize::from(u16::from_le_bytes([lo, hi])))
    }

    /// The header's bytes.
    pub fn encode(self) -> [u8; HEADER] {
        let [lo, hi] = self.len.to_le_bytes();
        [self.kind.code(), self.socket, lo, hi]
    }
}

/// Writes the frame (`from` its sender) into `out`; returns its length.
pub fn encode(
    from: Side,
    kind: Kind,
    socket: u8,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let header = Header::new(from, kind, socket, payload.len())?;
    if kind == Kind::Connect {
        address(payload)?;
    }
    let total = HEADER + payload.len();
    let Some(dst) = out.get_mut(..total) else {
        return Err(FrameError::NoRoom);
    };
    let (head, body) = dst.split_at_mut(HEADER);
    head.copy_from_slice(&header.encode());
    body.copy_from_slice(payload);
    Ok(total)
}

/// A `Connect` payload read as `(host, port)`: a non-empty host of
/// ASCII letters, digits, `.` and `-`, a colon, a port 1..=65535.
pub fn address(payload: &[u8]) -> Result<(&str, u16), FrameError> {
    let colon = payload
        .iter()
        .rposition(|&b| b == b':')
        .ok_or(FrameError::BadAddress)?;
    let (host, port) = payload.split_at(colon);
    let port = port.get(1..).unwrap_or_default();
    if host.is_empty()
        || !host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
    {
        return Err(FrameError::BadAddress);
    }
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::BadAddress);
    }
    let n = port.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let port = u16::try_from(n).map_err(|_| FrameError::BadAddress)?;
    if port == 0 {
        return Err(FrameError::BadAddress);
    }
    let host = core::str::from_utf8(host).map_err(|_| FrameError::BadAddress)?;
    Ok((host, port))
}

/// A whole frame, its payload borrowed from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: Kind,
    pub socket: u8,
    pub payload: &'a [u8],
}

/// Reads frames sent by one end, a byte at a time. After an error it
/// starts over at the next byte (the link has lost its framing; the
/// firmware logs it, the chip stops).
pub struct Decoder {
    from: Side,
    head: [u8; HEADER],
    have: usize,
    header: Option<Header>,
    buf: [u8; MAX_PAYLOAD],
    got: usize,
}

impl Decoder {
    /// A decoder of the frames `from` sends.
    pub const fn new(from: Side) -> Self {
        Self {
            from,
            head: [0; HEADER],
            have: 0,
            header: None,
            buf: [0; MAX_PAYLOAD],
            got: 0,
        }
    }

    /// Whether a frame is partly read.
    pub fn in_frame(&self) -> bool {
        self.have > 0 || self.header.is_some()
    }

    /// Takes one byte: a whole frame when it ends one.
    pub fn push(&mut self, byte: u8) -> Result<Option<Frame<'_>>, FrameError> {
        let header = match self.header {
            Some(h) => h,
            None => {
                if let Some(slot) = self.head.get_mut(self.have) {
                    *slot = byte;
                }
                self.have += 1;
                if self.have < HEADER {
                    return Ok(None);
                }
                self.have = 0;
                let h = Header::decode(self.from, self.head)?;
                if h.len > 0 {
                    self.header = Some(h);
                    self.got = 0;
                    return Ok(None);
                }
                return Ok(Some(Frame {
                    kind: h.kind,
                    socket: h.socket,
                    payload: &[],
                }));
            }
        };
        if let Some(slot) = self.buf.get_mut(self.got) {
            *slot = byte;
        }
        self.got += 1;
        if self.got < usize::from(header.len) {
            return Ok(None);
        }
        self.header = None;
        let payload = self.buf.get(..self.got).unwrap_or_default();
        if header.kind == Kind::Connect {
            address(payload)?;
        }
        Ok(Some(Frame {
            kind: header.kind,
            socket: header.socket,
            payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(from: Side, kind: Kind, socket: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; HEADER + payload.len()];
        let n = encode(from, kind, socket, payload, &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// Every frame `bytes` holds, or the first error.
    fn decode_all(from: Side, bytes: &[u8]) -> Result<Vec<(Kind, u8, Vec<u8>)>, FrameError> {
        let mut d = Decoder::new(from);
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(f) = d.push(b)? {
                out.push((f.kind, f.socket, f.payload.to_vec()));
            }
        }
        assert!(!d.in_frame(), "bytes left in a frame");
        Ok(out)
    }

    #[test]
    fn every_kind_round_trips() {
        let chip = [
            (Kind::Accepted, 0, &b""[..]),
            (Kind::Data, 5, b"PING\r\n"),
            (Kind::Closed, 3, b""),
            (Kind::Connected, 7, b""),
            (Kind::Refused, 6, b""),
        ];
        let mut wire = Vec::new();
        for (k, s, p) in chip {
            wire.extend(frame(Side::Chip, k, s, p));
        }
        let got = decode_all(Side::Chip, &wire).unwrap();
        let want: Vec<_> = chip.iter().map(|(k, s, p)| (*k, *s, p.to_vec())).collect();
        assert_eq!(got, want);

        let mcu = [
            (Kind::Connect, 6, &b"127.0.0.1:7001"[..]),
            (Kind::Send, 6, b"+OK\r\n"),
            (Kind::Close, 6, b""),
        ];
        let mut wire = Vec::new();
        for (k, s, p) in mcu {
            wire.extend(frame(Side::Mcu, k, s, p));
        }
        let got = decode_all(Side::Mcu, &wire).unwrap();
        let want: Vec<_> = mcu.iter().map(|(k, s, p)| (*k, *s, p.to_vec())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_header_is_little_endian() {
        let f = frame(Side::Chip, Kind::Data, 2, &[b'x'; 300]);
        assert_eq!(f[..4], [0x02, 2, 44, 1]);
        assert_eq!(f.len(), 304);
    }

    #[test]
    fn a_full_payload_is_taken_and_one_more_byte_refused() {
        let max = vec![7u8; MAX_PAYLOAD];
        let f = frame(Side::Mcu, Kind::Send, 1, &max);
        assert_eq!(decode_all(Side::Mcu, &f).unwrap()[0].2, max);
        let over = vec![7u8; MAX_PAYLOAD + 1];
        let mut out = vec![0; 1024];
        assert_eq!(
            encode(Side::Mcu, Kind::Send, 1, &over, &mut out),
            Err(FrameError::BadLength {
                kind: 0x82,
                len: MAX_PAYLOAD as u16 + 1
            })
        );
        let mut head = Header::new(Side::Mcu, Kind::Send, 1, 1).unwrap().encode();
        head[2..].copy_from_slice(&(MAX_PAYLOAD as u16 + 1).to_le_bytes());
        assert_eq!(
            decode_all(Side::Mcu, &head),
            Err(FrameError::BadLength {
                kind: 0x82,
                len: MAX_PAYLOAD as u16 + 1
            })
        );
        // The largest length the header can carry.
        assert_eq!(
            decode_all(Side::Chip, &[0x02, 0, 0xFF, 0xFF]),
            Err(FrameError::BadLength {
                kind: 0x02,
                len: u16::MAX
            })
        );
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        assert_eq!(
            decode_all(Side::Chip, &[0x00, 0, 0, 0]),
            Err(FrameError::UnknownKind(0))
        );
        assert_eq!(
            decode_all(Side::Chip, &[0x42, 0, 0, 0]),
            Err(FrameError::UnknownKind(0x42))
        );
        assert_eq!(
            decode_all(Side::Chip, &[0x01, 8, 0, 0]),
            Err(FrameError::BadSocket(8))
        );
        assert_eq!(
            decode_all(Side::Mcu, &[0x83, 255, 0, 0]),
            Err(FrameError::BadSocket(255))
        );
        // A chip kind sent to the chip, an MCU kind sent to the MCU.
        assert_eq!(
            decode_all(Side::Mcu, &[0x02, 0, 1, 0, b'x']),
            Err(FrameError::WrongDirection(0x02))
        );
        assert_eq!(
            decode_all(Side::Chip, &[0x83, 0, 0, 0]),
            Err(FrameError::WrongDirection(0x83))
        );
        // A payload where none belongs; no payload where one must be.
        assert_eq!(
            decode_all(Side::Chip, &[0x03, 0, 1, 0, b'x']),
            Err(FrameError::BadLength { kind: 0x03, len: 1 })
        );
        assert_eq!(
            decode_all(Side::Chip, &[0x02, 0, 0, 0]),
            Err(FrameError::BadLength { kind: 0x02, len: 0 })
        );
        assert_eq!(
            decode_all(Side::Mcu, &[0x82, 0, 0, 0]),
            Err(FrameError::BadLength { kind: 0x82, len: 0 })
        );
        assert_eq!(
            decode_all(Side::Mcu, &[0x81, 6, 200, 0]),
            Err(FrameError::BadLength {
                kind: 0x81,
                len: 200
            })
        );
    }

    #[test]
    fn encoding_refuses_what_decoding_would() {
        let mut out = [0u8; 64];
        assert_eq!(
            encode(Side::Chip, Kind::Send, 0, b"x", &mut out),
            Err(FrameError::WrongDirection(0x82))
        );
        assert_eq!(
            encode(Side::Mcu, Kind::Close, 8, b"", &mut out),
            Err(FrameError::BadSocket(8))
        );
        assert_eq!(
            encode(Side::Chip, Kind::Data, 0, b"", &mut out),
            Err(FrameError::BadLength { kind: 0x02, len: 0 })
        );
        assert_eq!(
            encode(Side::Mcu, Kind::Connect, 6, b"nocolon", &mut out),
            Err(FrameError::BadAddress)
        );
        let mut small = [0u8; 5];
        assert_eq!(
            encode(Side::Chip, Kind::Data, 0, b"ab", &mut small),
            Err(FrameError::NoRoom)
        );
        assert_eq!(encode(Side::Chip, Kind::Data, 0, b"a", &mut small), Ok(5));
    }

    #[test]
    fn connect_addresses() {
        assert_eq!(address(b"127.0.0.1:7001"), Ok(("127.0.0.1", 7001)));
        assert_eq!(address(b"localhost:1"), Ok(("localhost", 1)));
        for bad in [
            &b""[..],
            b":",
            b"host:",
            b":80",
            b"host:0",
            b"host:65536",
            b"host:123456",
            b"host:8a",
            b"ho st:80",
            b"h/x:80",
            b"\xff:80",
        ] {
            assert_eq!(address(bad), Err(FrameError::BadAddress), "{bad:?}");
        }
        // Through the decoder: a well-framed connect to nowhere.
        let mut wire = vec![0x81, 6, 4, 0];
        wire.extend(b"x:0a");
        assert_eq!(decode_all(Side::Mcu, &wire), Err(FrameError::BadAddress));
    }

    #[test]
    fn after_an_error_the_decoder_starts_over() {
        let mut d = Decoder::new(Side::Chip);
        for b in [0x09, 0, 0] {
            assert_eq!(d.push(b), Ok(None));
        }
        assert_eq!(d.push(0), Err(FrameError::UnknownKind(9)));
        assert!(!d.in_frame());
        let f = frame(Side::Chip, Kind::Data, 1, b"ok");
        let mut got = None;
        for b in f {
            if let Some(fr) = d.push(b).unwrap() {
                got = Some((fr.socket, fr.payload.to_vec()));
            }
        }
        assert_eq!(got, Some((1, b"ok".to_vec())));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A xorshift stream: the decoder answers frames or errors, nothing else.
        let mut x: u32 = 0x2545_F491;
        for side in [Side::Chip, Side::Mcu] {
            let mut d = Decoder::new(side);
            for _ in 0..200_000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let _ = d.push(x as u8);
            }
        }
    }
}
