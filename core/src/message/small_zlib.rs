//! A small zlib encoder: one fixed-Huffman deflate block (RFC 1951 §3.2.6)
//! over greedy LZ77 matches found with a hash of 3-byte prefixes (one
//! candidate per hash, 32 KiB window), then the Adler-32 trailer.
//!
//! It exists for size: miniz_oxide's deflate is ~15 KB of WebAssembly, this
//! is ~2 KB. The stream is ordinary zlib that every inflater (Java's
//! `Inflater`, miniz, zlib) reads; it compresses text less tightly than a
//! dynamic-Huffman encoder. Used for sends when the `small-zlib` feature is
//! on (the WASM build); the native build keeps miniz_oxide.

use alloc::vec::Vec;

const WINDOW: usize = 32 * 1024;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const HASH_BITS: u32 = 14;
const NONE: u32 = u32::MAX;

/// Base lengths of the length codes 257..=285.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base distances of the distance codes 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Bits, least significant first, as deflate packs them.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: sent most significant bit first.
    fn code(&mut self, code: u32, n: u32) {
        self.put(code.reverse_bits() >> (32 - n), n);
    }

    /// A literal/length symbol (0..=287) in the fixed code.
    fn symbol(&mut self, sym: u32) {
        match sym {
            0..=143 => self.code(0x30 + sym, 8),
            144..=255 => self.code(0x190 + sym - 144, 9),
            256..=279 => self.code(sym - 256, 7),
            _ => self.code(0xC0 + sym - 280, 8),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The index of the last `base` entry not above `value`.
fn bucket(base: &[u16], value: usize) -> usize {
    base.partition_point(|&b| usize::from(b) <= value) - 1
}

fn hash(data: &[u8], i: usize) -> usize {
    let v = u32::from(data[i]) | u32::from(data[i + 1]) << 8 | u32::from(data[i + 2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    b << 16 | a
}

/// `data` as a zlib stream (header `78 01`, one fixed-Huffman block,
/// Adler-32).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut bits = Bits {
        out: Vec::with_capacity(data.len() / 2 + 16),
        acc: 0,
        n: 0,
    };
    bits.out.extend_from_slice(&[0x78, 0x01]);
    // BFINAL = 1, BTYPE = 01 (fixed Huffman).
    bits.put(0b011, 3);
    let mut head = alloc::vec![NONE; 1 << HASH_BITS];
    let mut i = 0;
    while i < data.len() {
        let mut len = 0;
        let mut dist = 0;
        if i + MIN_MATCH <= data.len() {
            let h = hash(data, i);
            let cand = head[h];
            head[h] = i as u32;
            if cand != NONE && i - cand as usize <= WINDOW {
                let cand = cand as usize;
                let max = (data.len() - i).min(MAX_MATCH);
                while len < max && data[cand + len] == data[i + len] {
                    len += 1;
                }
                dist = i - cand;
            }
        }
        if len >= MIN_MATCH {
            let l = bucket(&LEN_BASE, len);
            bits.symbol(257 + l as u32);
            bits.put(
                (len - usize::from(LEN_BASE[l])) as u32,
                u32::from(LEN_EXTRA[l]),
            );
            let d = bucket(&DIST_BASE, dist);
            bits.code(d as u32, 5);
            bits.put(
                (dist - usize::from(DIST_BASE[d])) as u32,
                u32::from(DIST_EXTRA[d]),
            );
            // Index the positions the match covers, for later matches.
            let end = (i + len).min(data.len().saturating_sub(MIN_MATCH - 1));
            for j in i + 1..end {
                head[hash(data, j)] = j as u32;
            }
            i += len;
        } else {
            bits.symbol(u32::from(data[i]));
            i += 1;
        }
    }
    bits.symbol(256);
    let mut out = bits.finish();
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::compression::decompress_zlib;

    fn round_trip(data: &[u8]) -> usize {
        let packed = compress(data);
        assert_eq!(decompress_zlib(&packed, data.len() + 1).unwrap(), data);
        packed.len()
    }

    #[test]
    fn empty_and_tiny_inputs_round_trip() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abc");
        round_trip(b"aaaa");
    }

    #[test]
    fn repetitive_text_round_trips_and_shrinks() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| {
                alloc::format!("line {i}: the quick brown fox jumps over the lazy dog\n")
                    .into_bytes()
            })
            .collect();
        let n = round_trip(&text);
        assert!(n * 4 < text.len(), "{n} of {}", text.len());
    }

    #[test]
    fn runs_long_matches_and_far_distances_round_trip() {
        round_trip(&[7u8; 100_000]);
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 24) as u8
            })
            .collect();
        // The same noise twice, 40 000 bytes apart (past the window), and
        // then 30 000 apart (inside it).
        let mut data = noise.clone();
        data.extend_from_slice(&noise);
        data.extend_from_slice(&noise[..30_000]);
        data.extend_from_slice(&noise[..30_000]);
        round_trip(&data);
    }

    #[test]
    fn random_inputs_round_trip() {
        let mut x: u32 = 42;
        for len in [1usize, 5, 100, 1000, 70_000] {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    // A small alphabet: many short matches.
                    b'a' + ((x >> 16) % 4) as u8
                })
                .collect();
            round_trip(&data);
        }
    }
}
