//! What rmq-core makes of its golden vectors, as text: the same function
//! runs natively (the test) and as a `wasm32-wasip1` program inside
//! wasmtime (`src/main.rs`), and the two texts must be byte-identical.
//!
//! Input: the vectors, each as `u32` LE name length, name, `u32` LE data
//! length, data (see [`pack`]). For each vector the report holds what was
//! decoded (commands, headers, routes, cluster tables, stored messages,
//! decompressed bodies) and the bytes the core encodes from it (re-encoded
//! frames, zlib recompressions), in hex.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use rmq_core::message::compression::{self, CompressionType, DEFAULT_MAX_DECOMPRESSED_SIZE};
use rmq_core::message::decode_messages;
use rmq_core::protocol::body::ClusterInfo;
use rmq_core::protocol::{FrameDecoder, SerializeType};
use rmq_core::route::TopicRouteData;

/// Packs `(name, data)` pairs into the program's input format.
pub fn pack(vectors: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in vectors {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// Splits the input format back into `(name, data)` pairs.
pub fn unpack(mut input: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if input.len() < n {
            return Err(format!("truncated input: {} < {n} bytes", input.len()));
        }
        let (head, tail) = input.split_at(n);
        *input = tail;
        Ok(head)
    }
    fn len(input: &mut &[u8]) -> Result<usize, String> {
        let b = take(input, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let mut out = Vec::new();
    while !input.is_empty() {
        let n = len(&mut input)?;
        let name = String::from_utf8(take(&mut input, n)?.to_vec())
            .map_err(|e| format!("vector name: {e}"))?;
        let n = len(&mut input)?;
        out.push((name, take(&mut input, n)?.to_vec()));
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The report over packed vectors (see the crate docs).
pub fn report(input: &[u8]) -> Result<String, String> {
    let mut out = String::new();
    for (name, data) in unpack(input)? {
        let _ = writeln!(out, "== {name} ({} bytes)", data.len());
        if let Some(kind) = compressed_kind(&name) {
            compressed(&mut out, kind, &data)?;
        } else if name.ends_with(".bin") {
            frame(&mut out, &name, &data)?;
        } else {
            let _ = writeln!(out, "skipped");
        }
    }
    Ok(out)
}

fn compressed_kind(name: &str) -> Option<CompressionType> {
    match name.rsplit('.').next()? {
        "zlib" => Some(CompressionType::Zlib),
        "lz4" => Some(CompressionType::Lz4),
        "zst" => Some(CompressionType::Zstd),
        _ => None,
    }
}

/// A compressed body: decompressed, then compressed again by the core's
/// own encoders (zlib at Java's level 5, LZ4 frame), and decompressed back.
fn compressed(out: &mut String, kind: CompressionType, data: &[u8]) -> Result<(), String> {
    let plain = compression::decompress(kind, data, DEFAULT_MAX_DECOMPRESSED_SIZE)
        .map_err(|e| format!("{kind:?}: {e}"))?;
    let _ = writeln!(out, "plain {} bytes: {}", plain.len(), hex(&plain));
    for again in [CompressionType::Zlib, CompressionType::Lz4] {
        let packed = compression::compress(again, &plain, compression::JAVA_ZLIB_LEVEL);
        let back = compression::decompress(again, &packed, DEFAULT_MAX_DECOMPRESSED_SIZE)
            .map_err(|e| format!("{again:?} round trip: {e}"))?;
        let _ = write!(out, "{again:?} round trip {}", back == plain);
        // lz4_flex's block compressor hashes `usize`-wide words: its
        // output differs between 64- and 32-bit targets (both decode to
        // the same bytes). Only zlib, the one the producer sends, is
        // compared byte for byte.
        if again == CompressionType::Zlib {
            let _ = write!(out, ", {} bytes: {}", packed.len(), hex(&packed));
        }
        let _ = writeln!(out);
    }
    Ok(())
}

/// One frame: the command, its body as a route, a cluster table or stored
/// messages where it is one, and its re-encoding.
fn frame(out: &mut String, name: &str, data: &[u8]) -> Result<(), String> {
    let mut dec = FrameDecoder::default();
    dec.feed(data);
    let cmd = dec
        .decode_next()
        .map_err(|e| format!("{name}: {e}"))?
        .ok_or_else(|| format!("{name}: no whole frame"))?;
    let mut fields: Vec<(&str, &str)> = cmd.ext_fields.iter().collect();
    fields.sort();
    let _ = writeln!(
        out,
        "code {} language {:?} version {} opaque {} flag {} remark {:?}",
        cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag, cmd.remark
    );
    let _ = writeln!(out, "fields {fields:?}");
    let _ = writeln!(out, "body {} bytes: {}", cmd.body.len(), hex(&cmd.body));
    if name.starts_with("route") && cmd.code == 0 {
        let route = TopicRouteData::parse(&cmd.body).map_err(|e| format!("{name}: {e}"))?;
        let _ = writeln!(out, "route {route:?}");
    }
    if name.starts_with("cluster_info") {
        let info = ClusterInfo::parse(&cmd.body).map_err(|e| format!("{name}: {e}"))?;
        let _ = writeln!(out, "cluster {info:?}");
    }
    if name.starts_with("pull") && !cmd.body.is_empty() {
        let msgs = decode_messages(&Bytes::copy_from_slice(&cmd.body))
            .map_err(|e| format!("{name}: {e}"))?;
        for m in msgs {
            let _ = writeln!(out, "message {m:?}");
        }
    }
    // Re-encoded in the serialization the frame came in.
    let ser = SerializeType::from_code(data.get(4).copied().unwrap_or(0))
        .ok_or_else(|| format!("{name}: unknown serialize type"))?;
    let mut again = BytesMut::new();
    cmd.encode(ser, &mut again)
        .map_err(|e| format!("{name}: encode: {e}"))?;
    let _ = writeln!(
        out,
        "reencoded {:?} identical {}: {}",
        ser,
        &again[..] == data,
        hex(&again)
    );
    Ok(())
}
