//! Body compression (PROTOCOL.md §5.2): zlib streams, LZ4 frames, zstd frames.
//!
//! Every decoder takes a limit on the decompressed size and fails with
//! [`CompressionError::LimitExceeded`] instead of allocating past it, so a
//! hostile broker (or a corrupted record) cannot make the client allocate
//! gigabytes from a few compressed bytes.

use alloc::vec::Vec;

/// Default limit on one decompressed body: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 * 1024 * 1024;

/// Zlib level Java producers use (`Deflater` level 5).
pub const JAVA_ZLIB_LEVEL: u8 = 5;

/// A compression algorithm, as encoded in sysflag bits 8..=10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// LZ4 frame format (type 1).
    Lz4,
    /// Zstandard frame (type 2).
    Zstd,
    /// Zlib stream with header (type 3; type 0 in 4.x).
    Zlib,
}

impl CompressionType {
    /// The type for a sysflag type value: 0 and 3 are zlib, 1 LZ4, 2 zstd.
    pub const fn from_value(value: u8) -> Option<Self> {
        match value {
            0 | 3 => Some(Self::Zlib),
            1 => Some(Self::Lz4),
            2 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The value written into sysflag bits 8..=10 (zlib writes 3).
    pub const fn value(self) -> u8 {
        match self {
            Self::Lz4 => 1,
            Self::Zstd => 2,
            Self::Zlib => 3,
        }
    }
}

/// A body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// The sysflag names a compression type this crate does not know.
    #[error("unknown compression type {0}")]
    UnknownType(u8),
    /// The decompressed body would exceed the configured limit.
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// The limit in bytes.
        limit: usize,
    },
    /// The zlib stream is corrupt or truncated.
    #[error("invalid zlib stream")]
    Zlib,
    /// The LZ4 frame is corrupt, truncated or uses an unsupported feature.
    #[error("invalid LZ4 frame: {0}")]
    Lz4(&'static str),
    /// The zstd frame is corrupt, truncated or uses an unsupported feature.
    #[error("invalid zstd frame: {0}")]
    Zstd(&'static str),
}

/// Compresses `data` as a zlib stream (with header and Adler-32 trailer) at
/// `level` 0..=10; Java producers use [`JAVA_ZLIB_LEVEL`]. With the
/// `small-zlib` feature, a small fixed-Huffman encoder instead (`level`
/// ignored; see `small_zlib`).
pub fn compress_zlib(data: &[u8], level: u8) -> Vec<u8> {
    #[cfg(feature = "small-zlib")]
    {
        let _ = level;
        super::small_zlib::compress(data)
    }
    #[cfg(not(feature = "small-zlib"))]
    {
        miniz_oxide::deflate::compress_to_vec_zlib(data, level)
    }
}

/// Compresses `data` with `kind`: zlib at `level`, LZ4 as one frame of
/// independent 64 KiB blocks (`level` ignored), zstd at ruzstd's fastest
/// level (`level` ignored).
pub fn compress(kind: CompressionType, data: &[u8], level: u8) -> Vec<u8> {
    match kind {
        CompressionType::Zlib => compress_zlib(data, level),
        CompressionType::Lz4 => compress_lz4_frame(data),
        CompressionType::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

/// Decompresses `data` compressed with `kind`, failing if the output would
/// exceed `limit` bytes.
pub fn decompress(
    kind: CompressionType,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    match kind {
        CompressionType::Zlib => decompress_zlib(data, limit),
        CompressionType::Lz4 => decompress_lz4_frame(data, limit),
        CompressionType::Zstd => decompress_zstd(data, limit),
    }
}

/// Decompresses a zlib stream (header required).
pub fn decompress_zlib(data: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    use miniz_oxide::inflate::TINFLStatus;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit).map_err(|e| {
        match e.status {
            TINFLStatus::HasMoreOutput => CompressionError::LimitExceeded { limit },
            _ => CompressionError::Zlib,
        }
    })
}

// ---------------------------------------------------------------- LZ4 frame

const LZ4_MAGIC: u32 = 0x184D_2204;
const SKIPPABLE_MAGIC_MASK: u32 = 0xFFFF_FFF0;
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const LZ4_WINDOW: usize = 64 * 1024;

/// Compresses `data` into one LZ4 frame: independent 64 KiB blocks, no
/// block checksums, content checksum present (what `lz4` and lz4-java read).
pub fn compress_lz4_frame(data: &[u8]) -> Vec<u8> {
    // FLG: version 01, block independence, content checksum.
    const FLG: u8 = 0b0110_0100;
    // BD: 64 KiB maximum block size.
    const BD: u8 = 0x40;
    let mut out = Vec::with_capacity(data.len() / 2 + 32);
    out.extend_from_slice(&LZ4_MAGIC.to_le_bytes());
    out.push(FLG);
    out.push(BD);
    out.push(header_checksum(&[FLG, BD]));
    for chunk in data.chunks(LZ4_WINDOW) {
        let compressed = lz4_flex::block::compress(chunk);
        if compressed.len() < chunk.len() {
            out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
            out.extend_from_slice(&compressed);
        } else {
            out.extend_from_slice(&(chunk.len() as u32 | 0x8000_0000).to_le_bytes());
            out.extend_from_slice(chunk);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&xxh32(data, 0).to_le_bytes());
    out
}

/// Decompresses one or more concatenated LZ4 frames (skippable frames are
/// skipped). Linked and independent blocks, block and content checksums
/// and the content size field are supported; dictionaries and the legacy
/// format are not. The header checksum and content checksum are verified;
/// block checksums are skipped.
pub fn decompress_lz4_frame(data: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let mut input = Cursor { data, pos: 0 };
    let mut out = Vec::new();
    let mut frames = 0usize;
    while !input.is_empty() {
        let magic = input
            .u32_le()
            .ok_or(CompressionError::Lz4("truncated magic"))?;
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC {
            let len = input
                .u32_le()
                .ok_or(CompressionError::Lz4("truncated skippable frame"))?;
            input
                .take(len as usize)
                .ok_or(CompressionError::Lz4("truncated skippable frame"))?;
            continue;
        }
        if magic != LZ4_MAGIC {
            return Err(CompressionError::Lz4("bad magic number"));
        }
        lz4_frame_body(&mut input, &mut out, limit)?;
        frames += 1;
    }
    if frames == 0 {
        return Err(CompressionError::Lz4("no frame"));
    }
    Ok(out)
}

fn lz4_frame_body(
    input: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    const TRUNCATED: CompressionError = CompressionError::Lz4("truncated frame");
    let descriptor_start = input.pos;
    let flg = input.u8().ok_or(TRUNCATED)?;
    let bd = input.u8().ok_or(TRUNCATED)?;
    if flg >> 6 != 0b01 {
        return Err(CompressionError::Lz4("unsupported frame version"));
    }
    if flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
        return Err(CompressionError::Lz4("reserved bits set"));
    }
    let independent = flg & 0b10_0000 != 0;
    let block_checksum = flg & 0b1_0000 != 0;
    let has_content_size = flg & 0b1000 != 0;
    let content_checksum = flg & 0b100 != 0;
    let has_dict_id = flg & 0b1 != 0;
    let block_max = match (bd >> 4) & 0b111 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        _ => return Err(CompressionError::Lz4("invalid block maximum size")),
    };
    if has_content_size {
        let size = input.u64_le().ok_or(TRUNCATED)?;
        if size > (limit.saturating_sub(out.len())) as u64 {
            return Err(CompressionError::LimitExceeded { limit });
        }
    }
    if has_dict_id {
        return Err(CompressionError::Lz4("dictionaries are not supported"));
    }
    let descriptor = input
        .data
        .get(descriptor_start..input.pos)
        .ok_or(TRUNCATED)?;
    let hc = input.u8().ok_or(TRUNCATED)?;
    if hc != header_checksum(descriptor) {
        return Err(CompressionError::Lz4("header checksum mismatch"));
    }

    let frame_start = out.len();
    loop {
        let word = input.u32_le().ok_or(TRUNCATED)?;
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let size = (word & 0x7FFF_FFFF) as usize;
        if size > block_max {
            return Err(CompressionError::Lz4("block larger than maximum size"));
        }
        let block = input.take(size).ok_or(TRUNCATED)?;
        if block_checksum {
            input.take(4).ok_or(TRUNCATED)?;
        }
        let len = out.len();
        let room = block_max.min(limit.saturating_sub(len));
        if stored {
            if block.len() > room {
                return Err(CompressionError::LimitExceeded { limit });
            }
            out.extend_from_slice(block);
            continue;
        }
        out.resize(len + room, 0);
        let (before, tail) = out.split_at_mut(len);
        let result = if independent {
            lz4_flex::block::decompress_into(block, tail)
        } else {
            let dict_start = len.saturating_sub(LZ4_WINDOW).max(frame_start);
            let dict = before.get(dict_start..).unwrap_or_default();
            lz4_flex::block::decompress_into_with_dict(block, tail, dict)
        };
        match result {
            Ok(n) => out.truncate(len + n),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < block_max => {
                return Err(CompressionError::LimitExceeded { limit });
            }
            Err(_) => return Err(CompressionError::Lz4("corrupt block")),
        }
    }
    if content_checksum {
        let expected = input.u32_le().ok_or(TRUNCATED)?;
        let content = out.get(frame_start..).unwrap_or_default();
        if xxh32(content, 0) != expected {
            return Err(CompressionError::Lz4("content checksum mismatch"));
        }
    }
    Ok(())
}

fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

/// XXH32 of `data` with `seed` (the checksum of the LZ4 frame format).
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    fn round(acc: u32, lane: u32) -> u32 {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    }
    fn word(b: &[u8]) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
        u32::from_le_bytes(w)
    }

    let stripes = data.chunks_exact(16);
    let rest = stripes.remainder();
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        for stripe in stripes {
            for (lane, bytes) in v.iter_mut().zip(stripe.chunks_exact(4)) {
                *lane = round(*lane, word(bytes));
            }
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u32);
    let words = rest.chunks_exact(4);
    let bytes = words.remainder();
    for w in words {
        h = h
            .wrapping_add(word(w).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in bytes {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

// --------------------------------------------------------------------- zstd

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Windows up to this size are always accepted, whatever the limit.
const ZSTD_MIN_WINDOW_CAP: u64 = 1024 * 1024;

/// Decompresses one or more concatenated zstd frames (skippable frames are
/// skipped). A frame whose declared window exceeds both the limit and 1 MiB
/// is refused before any allocation.
pub fn decompress_zstd(data: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    use ruzstd::io::Read;
    const CHUNK: usize = 16 * 1024;

    let mut rest = data;
    let mut out = Vec::new();
    let mut frames = 0usize;
    while !rest.is_empty() {
        let mut cur = Cursor { data: rest, pos: 0 };
        let magic = cur
            .u32_le()
            .ok_or(CompressionError::Zstd("truncated magic"))?;
        if magic & SKIPPABLE_MAGIC_MASK == SKIPPABLE_MAGIC {
            let len = cur
                .u32_le()
                .ok_or(CompressionError::Zstd("truncated skippable frame"))?;
            cur.take(len as usize)
                .ok_or(CompressionError::Zstd("truncated skippable frame"))?;
            rest = rest.get(cur.pos..).unwrap_or_default();
            continue;
        }
        if magic != ZSTD_MAGIC {
            return Err(CompressionError::Zstd("bad magic number"));
        }
        let window = zstd_window_size(rest).ok_or(CompressionError::Zstd("truncated header"))?;
        if window > (limit as u64).max(ZSTD_MIN_WINDOW_CAP) {
            return Err(CompressionError::LimitExceeded { limit });
        }
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(&mut rest)
            .map_err(|_| CompressionError::Zstd("invalid frame header"))?;
        loop {
            let len = out.len();
            let room = CHUNK.min((limit + 1).saturating_sub(len));
            if room == 0 {
                return Err(CompressionError::LimitExceeded { limit });
            }
            out.resize(len + room, 0);
            let tail = out.get_mut(len..).unwrap_or_default();
            let n = decoder
                .read(tail)
                .map_err(|_| CompressionError::Zstd("corrupt frame"))?;
            out.truncate(len + n);
            if out.len() > limit {
                return Err(CompressionError::LimitExceeded { limit });
            }
            if n == 0 {
                break;
            }
        }
        if !decoder.decoder.is_finished() {
            return Err(CompressionError::Zstd("truncated frame"));
        }
        drop(decoder);
        frames += 1;
    }
    if frames == 0 {
        return Err(CompressionError::Zstd("no frame"));
    }
    Ok(out)
}

/// The window size a zstd frame header declares (`None` if truncated).
fn zstd_window_size(frame: &[u8]) -> Option<u64> {
    let mut cur = Cursor {
        data: frame,
        pos: 4,
    };
    let fhd = cur.u8()?;
    let single_segment = fhd & 0b10_0000 != 0;
    let fcs_flag = fhd >> 6;
    let dict_len = match fhd & 0b11 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    };
    if !single_segment {
        let wd = cur.u8()?;
        let exponent = u32::from(wd >> 3);
        let base = 1u64 << (10 + exponent);
        return Some(base + (base / 8) * u64::from(wd & 0b111));
    }
    cur.take(dict_len)?;
    let fcs = match fcs_flag {
        0 => u64::from(cur.u8()?),
        1 => u64::from(cur.u16_le()?) + 256,
        2 => u64::from(cur.u32_le()?),
        _ => cur.u64_le()?,
    };
    Some(fcs)
}

// ------------------------------------------------------------------- cursor

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Some(a)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16_le(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32_le(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64_le(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"rocketmq body "[i % 14]).collect()
    }

    #[test]
    fn type_value_zero_and_three_are_zlib() {
        assert_eq!(CompressionType::from_value(0), Some(CompressionType::Zlib));
        assert_eq!(CompressionType::from_value(3), Some(CompressionType::Zlib));
        assert_eq!(CompressionType::from_value(4), None);
        assert_eq!(CompressionType::Zlib.value(), 3);
    }

    #[test]
    fn xxh32_matches_reference_values() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
    }

    #[test]
    fn zlib_stream_has_header_and_round_trips() {
        let data = sample(10_000);
        let z = compress_zlib(&data, JAVA_ZLIB_LEVEL);
        assert_eq!(z[0], 0x78);
        assert_eq!(
            decompress(CompressionType::Zlib, &z, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn zlib_over_limit_is_limit_exceeded() {
        let z = compress_zlib(&sample(10_000), 5);
        assert_eq!(
            decompress_zlib(&z, 9_999),
            Err(CompressionError::LimitExceeded { limit: 9_999 })
        );
    }

    #[test]
    fn corrupt_zlib_is_an_error() {
        assert_eq!(
            decompress_zlib(b"\x78\x9c\xff\xff", 100),
            Err(CompressionError::Zlib)
        );
    }

    #[test]
    fn lz4_frame_round_trips_across_blocks() {
        let data = sample(200_000);
        let f = compress_lz4_frame(&data);
        assert_eq!(&f[..4], &[0x04, 0x22, 0x4D, 0x18]);
        assert_eq!(decompress(CompressionType::Lz4, &f, 1 << 20).unwrap(), data);
    }

    #[test]
    fn lz4_frame_of_empty_input_round_trips() {
        assert_eq!(
            decompress_lz4_frame(&compress_lz4_frame(b""), 10).unwrap(),
            b""
        );
    }

    #[test]
    fn lz4_over_limit_is_limit_exceeded() {
        let f = compress_lz4_frame(&sample(100_000));
        assert_eq!(
            decompress_lz4_frame(&f, 99_999),
            Err(CompressionError::LimitExceeded { limit: 99_999 })
        );
    }

    #[test]
    fn lz4_corrupt_header_checksum_is_rejected() {
        let mut f = compress_lz4_frame(b"hello hello hello");
        f[6] ^= 0xFF;
        assert_eq!(
            decompress_lz4_frame(&f, 100),
            Err(CompressionError::Lz4("header checksum mismatch"))
        );
    }

    #[test]
    fn lz4_corrupt_content_checksum_is_rejected() {
        let mut f = compress_lz4_frame(b"hello hello hello");
        let n = f.len();
        f[n - 1] ^= 0xFF;
        assert_eq!(
            decompress_lz4_frame(&f, 100),
            Err(CompressionError::Lz4("content checksum mismatch"))
        );
    }

    #[test]
    fn lz4_truncated_frame_is_rejected() {
        let f = compress_lz4_frame(&sample(1000));
        for cut in 0..f.len() {
            assert!(
                decompress_lz4_frame(&f[..cut], 10_000).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn lz4_skippable_frame_is_skipped() {
        let mut f = vec![0x5A, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        f.extend(compress_lz4_frame(b"abc"));
        assert_eq!(decompress_lz4_frame(&f, 10).unwrap(), b"abc");
    }

    #[test]
    fn zstd_round_trips() {
        let data = sample(50_000);
        let z = compress(CompressionType::Zstd, &data, 0);
        assert_eq!(
            decompress(CompressionType::Zstd, &z, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn zstd_over_limit_is_limit_exceeded() {
        let z = compress(CompressionType::Zstd, &sample(50_000), 0);
        assert_eq!(
            decompress_zstd(&z, 49_999),
            Err(CompressionError::LimitExceeded { limit: 49_999 })
        );
    }

    #[test]
    fn zstd_bad_magic_is_rejected() {
        assert_eq!(
            decompress_zstd(b"not zstd", 100),
            Err(CompressionError::Zstd("bad magic number"))
        );
    }

    #[test]
    fn zstd_huge_declared_window_is_refused() {
        // Magic, FHD (no single segment), window descriptor 2^30.
        let frame = [0x28, 0xB5, 0x2F, 0xFD, 0x00, (20 << 3), 0, 0, 0];
        assert_eq!(
            decompress_zstd(&frame, 1000),
            Err(CompressionError::LimitExceeded { limit: 1000 })
        );
    }
}
