//! Incremental frame decoding (PROTOCOL.md §1.1).
//!
//! ```text
//! | length i32 | headerWord i32 | header | body |
//! ```
//!
//! [`FrameDecoder`] buffers bytes as they arrive, in any split, and yields
//! whole [`RemotingCommand`]s; bodies are zero-copy slices of the received
//! bytes. Any error means the byte stream can no longer be trusted: the
//! decoder is then **poisoned** (every later call returns
//! [`FrameError::Poisoned`]) and the connection must be closed.

use bytes::{Buf, Bytes, BytesMut};

use super::binary_header;
use super::command::{HeaderDecodeError, RemotingCommand, SerializeType};
use super::json_header;

/// Default maximum value of the length field: 16 MiB, as Java peers use.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// A frame could not be decoded. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field (or a frame passed to [`decode_command`]) is shorter
    /// than the 4-byte header word; negative lengths included.
    #[error("frame length {length} is below the minimum of 4")]
    LengthTooSmall {
        /// The length found.
        length: i64,
    },
    /// The length field exceeds the decoder's maximum.
    #[error("frame length {length} exceeds the maximum {max}")]
    FrameTooLong {
        /// The length found.
        length: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The header length in the header word exceeds the frame.
    #[error("header length {header_len} exceeds the {available} bytes after the header word")]
    HeaderTooLong {
        /// The header length found.
        header_len: usize,
        /// Bytes in the frame after the header word.
        available: usize,
    },
    /// The top byte of the header word is neither 0 (JSON) nor 1 (ROCKETMQ).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// The header could not be decoded.
    #[error("bad header: {0}")]
    Header(#[from] HeaderDecodeError),
    /// An earlier call failed; this decoder accepts nothing more.
    #[error("decoder poisoned by an earlier error")]
    Poisoned,
}

/// Splits a byte stream into commands.
///
/// Feed received bytes with [`FrameDecoder::feed`] (or read straight into
/// [`FrameDecoder::buffer_mut`]) and call [`FrameDecoder::decode_next`] until
/// it returns `Ok(None)`. After any error the decoder is poisoned: close the
/// connection.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_len: usize,
    poisoned: bool,
}

impl Default for FrameDecoder {
    /// A decoder with [`DEFAULT_MAX_FRAME_LEN`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder rejecting frames whose length field exceeds `max_frame_len`.
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame_len,
            poisoned: false,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.poisoned {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The receive buffer, to read into directly (e.g. tokio's `read_buf`).
    /// Append only; do not consume from it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet decoded.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// True after an error.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The next complete command, `Ok(None)` if more bytes are needed.
    pub fn decode_next(&mut self) -> Result<Option<RemotingCommand>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        let r = self.try_next();
        if r.is_err() {
            self.poisoned = true;
            self.buf = BytesMut::new();
        }
        r
    }

    fn try_next(&mut self) -> Result<Option<RemotingCommand>, FrameError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let Ok(length) = usize::try_from(length) else {
            return Err(FrameError::LengthTooSmall {
                length: i64::from(length),
            });
        };
        if length < 4 {
            return Err(FrameError::LengthTooSmall {
                length: length as i64,
            });
        }
        if length > self.max_frame_len {
            return Err(FrameError::FrameTooLong {
                length,
                max: self.max_frame_len,
            });
        }
        let total = 4 + length;
        if self.buf.len() < total {
            // Bounded by max_frame_len, checked above.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(4);
        decode_command(frame.freeze()).map(Some)
    }
}

/// Decodes one frame given without its length prefix (header word, header,
/// body). The body is a zero-copy slice of `frame`.
pub fn decode_command(frame: Bytes) -> Result<RemotingCommand, FrameError> {
    let Some(word) = frame.get(..4) else {
        return Err(FrameError::LengthTooSmall {
            length: frame.len() as i64,
        });
    };
    let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    let ser_code = (word >> 24) as u8;
    let header_len = (word & 0x00FF_FFFF) as usize;
    let available = frame.len() - 4;
    if header_len > available {
        return Err(FrameError::HeaderTooLong {
            header_len,
            available,
        });
    }
    let header_end = 4 + header_len;
    let header = frame.get(4..header_end).unwrap_or_default();
    let mut cmd = match SerializeType::from_code(ser_code) {
        Some(SerializeType::Json) => json_header::decode_bytes(&frame.slice(4..header_end))?,
        Some(SerializeType::RocketMq) => binary_header::decode(header)?,
        None => return Err(FrameError::UnknownSerializeType(ser_code)),
    };
    cmd.body = frame.slice(header_end..);
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::SerializeType;
    use alloc::vec::Vec;

    fn sample(opaque: i32, body: &'static [u8], ser: SerializeType) -> (RemotingCommand, Vec<u8>) {
        let mut c = RemotingCommand::request(105, opaque).with_body(body);
        c.ext_fields.insert("topic", "T");
        let mut out = BytesMut::new();
        c.encode(ser, &mut out).unwrap();
        (c, out.to_vec())
    }

    #[test]
    fn decodes_a_whole_frame() {
        let (c, bytes) = sample(1, b"hello", SerializeType::RocketMq);
        let mut d = FrameDecoder::default();
        d.feed(&bytes);
        assert_eq!(d.decode_next().unwrap(), Some(c));
        assert_eq!(d.decode_next().unwrap(), None);
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn decodes_frames_fed_byte_by_byte() {
        let (a, mut bytes) = sample(1, b"first", SerializeType::Json);
        let (b, more) = sample(2, b"", SerializeType::RocketMq);
        bytes.extend_from_slice(&more);
        let mut d = FrameDecoder::default();
        let mut got = Vec::new();
        for byte in &bytes {
            d.feed(core::slice::from_ref(byte));
            while let Some(c) = d.decode_next().unwrap() {
                got.push(c);
            }
        }
        assert_eq!(got, [a, b]);
    }

    #[test]
    fn decodes_several_frames_from_one_feed() {
        let (a, mut bytes) = sample(1, b"x", SerializeType::Json);
        let (b, more) = sample(2, b"y", SerializeType::Json);
        bytes.extend_from_slice(&more);
        let mut d = FrameDecoder::default();
        d.feed(&bytes);
        assert_eq!(d.decode_next().unwrap(), Some(a));
        assert_eq!(d.decode_next().unwrap(), Some(b));
        assert_eq!(d.decode_next().unwrap(), None);
    }

    #[test]
    fn body_is_a_slice_of_the_frame() {
        let (_, bytes) = sample(1, b"payload", SerializeType::RocketMq);
        let frame = Bytes::from(bytes).slice(4..);
        let cmd = decode_command(frame.clone()).unwrap();
        assert_eq!(&cmd.body[..], b"payload");
        let offset = cmd.body.as_ptr() as usize - frame.as_ptr() as usize;
        assert_eq!(offset, frame.len() - 7);
    }

    fn error_for(bytes: &[u8], max: usize) -> FrameError {
        let mut d = FrameDecoder::new(max);
        d.feed(bytes);
        d.decode_next().unwrap_err()
    }

    #[test]
    fn lengths_below_four_are_rejected() {
        assert_eq!(
            error_for(&[0, 0, 0, 3], 100),
            FrameError::LengthTooSmall { length: 3 }
        );
        assert_eq!(
            error_for(&[0xFF, 0xFF, 0xFF, 0xFF], 100),
            FrameError::LengthTooSmall { length: -1 }
        );
    }

    #[test]
    fn lengths_above_the_maximum_are_rejected_before_buffering() {
        let mut d = FrameDecoder::default();
        d.feed(&[0x7F, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            d.decode_next().unwrap_err(),
            FrameError::FrameTooLong {
                length: 0x7FFF_FFFF,
                max: DEFAULT_MAX_FRAME_LEN
            }
        );
        assert!(d.buffer_mut().capacity() < 1024);
    }

    #[test]
    fn header_length_beyond_the_frame_is_rejected() {
        assert_eq!(
            error_for(&[0, 0, 0, 6, 0, 0, 0, 3, 0, 0], 100),
            FrameError::HeaderTooLong {
                header_len: 3,
                available: 2
            }
        );
    }

    #[test]
    fn unknown_serialize_types_are_rejected() {
        assert_eq!(
            error_for(&[0, 0, 0, 4, 2, 0, 0, 0], 100),
            FrameError::UnknownSerializeType(2)
        );
    }

    #[test]
    fn header_errors_are_reported() {
        assert!(matches!(
            error_for(&[0, 0, 0, 5, 0, 0, 0, 1, b'{'], 100),
            FrameError::Header(HeaderDecodeError::Json(_))
        ));
        assert!(matches!(
            error_for(&[0, 0, 0, 5, 1, 0, 0, 1, 0], 100),
            FrameError::Header(HeaderDecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn the_decoder_is_poisoned_after_an_error() {
        let (_, good) = sample(1, b"", SerializeType::Json);
        let mut d = FrameDecoder::new(100);
        d.feed(&[0, 0, 0, 1]);
        assert!(d.decode_next().is_err());
        assert!(d.is_poisoned());
        d.feed(&good);
        assert_eq!(d.decode_next(), Err(FrameError::Poisoned));
    }

    #[test]
    fn decode_command_rejects_frames_shorter_than_the_header_word() {
        assert_eq!(
            decode_command(Bytes::from_static(&[1, 0])),
            Err(FrameError::LengthTooSmall { length: 2 })
        );
    }

    #[test]
    fn empty_body_decodes_as_empty() {
        let (_, bytes) = sample(1, b"", SerializeType::Json);
        let cmd = decode_command(Bytes::from(bytes).slice(4..)).unwrap();
        assert!(cmd.body.is_empty());
    }
}
