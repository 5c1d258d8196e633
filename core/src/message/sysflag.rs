//! `MessageSysFlag` bits (PROTOCOL.md §5.2).

use super::compression::CompressionType;

/// The body is compressed; the type is in [`COMPRESSION_TYPE_MASK`].
pub const COMPRESSED: i32 = 0x1;
/// The broker stores several tags (MULTI_TAG topics).
pub const MULTI_TAGS: i32 = 0x2;
/// Mask of the transaction field.
pub const TRANSACTION_MASK: i32 = 0xC;
/// Transaction field: not transactional.
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
/// Transaction field: half (prepared) message.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
/// Transaction field: committed.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// Transaction field: rolled back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// The born host is IPv6 (16-byte address in stored records).
pub const BORNHOST_V6: i32 = 0x10;
/// The store host is IPv6 (16-byte address in stored records).
pub const STOREHOST_V6: i32 = 0x20;
/// Together with [`INNER_BATCH`]: the body is a §5.3 batch to unwrap.
pub const NEED_UNWRAP: i32 = 0x40;
/// The record is an inner batch (5.x batch consume queue).
pub const INNER_BATCH: i32 = 0x80;
/// Mask of the compression type bits (`(flag & mask) >> 8`).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
/// Compression type value LZ4 (frame format), already shifted.
pub const COMPRESSION_LZ4: i32 = 0x100;
/// Compression type value ZSTD, already shifted.
pub const COMPRESSION_ZSTD: i32 = 0x200;
/// Compression type value ZLIB, already shifted (type 0 is zlib too).
pub const COMPRESSION_ZLIB: i32 = 0x300;

/// Whether every bit of `bits` is set in `flag`.
pub const fn check(flag: i32, bits: i32) -> bool {
    flag & bits == bits
}

/// The transaction field of `flag`, one of the `TRANSACTION_*_TYPE` values.
pub const fn transaction_value(flag: i32) -> i32 {
    flag & TRANSACTION_MASK
}

/// `flag` with its transaction field replaced by `ty`.
pub const fn reset_transaction_value(flag: i32, ty: i32) -> i32 {
    (flag & !TRANSACTION_MASK) | (ty & TRANSACTION_MASK)
}

/// Whether the body is compressed.
pub const fn is_compressed(flag: i32) -> bool {
    flag & COMPRESSED != 0
}

/// Whether the record is an inner batch that must be unwrapped.
pub const fn needs_unwrap(flag: i32) -> bool {
    check(flag, INNER_BATCH | NEED_UNWRAP)
}

/// The raw compression type value `(flag & 0x700) >> 8`.
pub const fn compression_type_value(flag: i32) -> u8 {
    ((flag & COMPRESSION_TYPE_MASK) >> 8) as u8
}

/// The compression type of `flag` (meaningful only when [`is_compressed`]):
/// `None` for an unknown type value. Type 0 is zlib (4.x).
pub fn compression_type(flag: i32) -> Option<CompressionType> {
    CompressionType::from_value(compression_type_value(flag))
}

/// `flag` marked compressed with `ty` (5.x style: bit 0 plus type bits).
pub const fn set_compression(flag: i32, ty: CompressionType) -> i32 {
    (flag & !COMPRESSION_TYPE_MASK) | COMPRESSED | ((ty.value() as i32) << 8)
}

/// `flag` with the compressed bit cleared (what decoders do after
/// decompressing; the type bits are left as they were, as in Java).
pub const fn clear_compressed(flag: i32) -> i32 {
    flag & !COMPRESSED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_type_zero_is_zlib() {
        assert_eq!(compression_type(COMPRESSED), Some(CompressionType::Zlib));
    }

    #[test]
    fn compression_type_reads_bits_8_to_10() {
        assert_eq!(compression_type(0x101), Some(CompressionType::Lz4));
        assert_eq!(compression_type(0x201), Some(CompressionType::Zstd));
        assert_eq!(compression_type(0x301), Some(CompressionType::Zlib));
        assert_eq!(compression_type(0x401), None);
    }

    #[test]
    fn set_compression_sets_bit_zero_and_type() {
        assert_eq!(set_compression(0x10, CompressionType::Zstd), 0x211);
        assert_eq!(set_compression(0x101, CompressionType::Zlib), 0x301);
    }

    #[test]
    fn clear_compressed_keeps_type_bits() {
        assert_eq!(clear_compressed(0x301), 0x300);
    }

    #[test]
    fn transaction_field_round_trips() {
        let f = reset_transaction_value(0x11, TRANSACTION_COMMIT_TYPE);
        assert_eq!(f, 0x19);
        assert_eq!(transaction_value(f), TRANSACTION_COMMIT_TYPE);
        assert_eq!(
            transaction_value(reset_transaction_value(f, TRANSACTION_NOT_TYPE)),
            0
        );
    }

    #[test]
    fn needs_unwrap_requires_both_bits() {
        assert!(needs_unwrap(INNER_BATCH | NEED_UNWRAP));
        assert!(!needs_unwrap(INNER_BATCH));
        assert!(!needs_unwrap(NEED_UNWRAP));
    }
}
