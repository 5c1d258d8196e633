//! A tiny, self-contained remoting client used only for readiness probes.
//!
//! It hand-encodes one JSON-header request per connection (frame = total
//! length, header-length word, header JSON, no body) so the harness does not
//! depend on `rmq-core`'s codec, which it is meant to test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::HarnessError;

/// `GET_BROKER_CLUSTER_INFO`, answered by the namesrv.
pub const GET_BROKER_CLUSTER_INFO: u16 = 106;
/// `GET_BROKER_RUNTIME_INFO`, answered by the broker.
pub const GET_BROKER_RUNTIME_INFO: u16 = 28;

const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A decoded response: the header JSON text and the raw body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The header, as JSON text.
    pub header: String,
    /// The body bytes (often JSON, sometimes fastjson's non-standard JSON).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The `code` field of the header, if present.
    pub fn code(&self) -> Option<i64> {
        let rest = &self.header[self.header.find("\"code\":")? + 7..];
        let rest = rest.trim_start();
        let end = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].parse().ok()
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Encodes a JSON-header request frame with `code`, opaque 1 and `ext_fields`.
pub fn encode_request(code: u16, ext_fields: &[(&str, &str)]) -> Vec<u8> {
    let mut header = format!(
        "{{\"code\":{code},\"flag\":0,\"language\":\"JAVA\",\"opaque\":1,\
         \"serializeTypeCurrentRPC\":\"JSON\",\"version\":401"
    );
    if !ext_fields.is_empty() {
        header.push_str(",\"extFields\":{");
        for (i, (k, v)) in ext_fields.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&format!("\"{}\":\"{}\"", json_escape(k), json_escape(v)));
        }
        header.push('}');
    }
    header.push('}');
    let header = header.into_bytes();
    let mut frame = Vec::with_capacity(8 + header.len());
    // The header length fits 24 bits by construction; the top byte 0 = JSON.
    let header_len = header.len() as u32;
    frame.extend_from_slice(&(4 + header_len).to_be_bytes());
    frame.extend_from_slice(&header_len.to_be_bytes());
    frame.extend_from_slice(&header);
    frame
}

/// Sends one request to `addr` and reads one response, all within `timeout`.
pub fn request(
    addr: &str,
    code: u16,
    ext_fields: &[(&str, &str)],
    timeout: Duration,
) -> Result<RawResponse, HarnessError> {
    let sock: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|e| HarnessError::io(format!("resolve {addr}"), e))?
        .next()
        .ok_or_else(|| HarnessError::Invalid(format!("{addr} resolves to nothing")))?;
    let io = |what: &str, e| HarnessError::io(format!("{what} {addr}"), e);
    let mut stream = TcpStream::connect_timeout(&sock, timeout).map_err(|e| io("connect to", e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| io("configure", e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| io("configure", e))?;
    stream
        .write_all(&encode_request(code, ext_fields))
        .map_err(|e| io("write to", e))?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| io("read from", e))?;
    let len = u32::from_be_bytes(len) as usize;
    if !(4..=MAX_FRAME).contains(&len) {
        return Err(HarnessError::Invalid(format!(
            "{addr} sent a frame of length {len}"
        )));
    }
    let mut frame = vec![0u8; len];
    stream
        .read_exact(&mut frame)
        .map_err(|e| io("read from", e))?;
    let word = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let header_len = (word & 0x00ff_ffff) as usize;
    if word >> 24 != 0 || 4 + header_len > len {
        return Err(HarnessError::Invalid(format!(
            "{addr} sent an unexpected header word {word:#010x}"
        )));
    }
    Ok(RawResponse {
        header: String::from_utf8_lossy(&frame[4..4 + header_len]).into_owned(),
        body: frame[4 + header_len..].to_vec(),
    })
}

/// Asks the namesrv for its cluster table (code 106) and returns the body text.
pub fn cluster_info(namesrv_addr: &str, timeout: Duration) -> Result<String, HarnessError> {
    let resp = request(namesrv_addr, GET_BROKER_CLUSTER_INFO, &[], timeout)?;
    match resp.code() {
        Some(0) => Ok(resp.body_text()),
        _ => Err(HarnessError::Invalid(format!(
            "namesrv {namesrv_addr} answered GET_BROKER_CLUSTER_INFO with {}",
            resp.header
        ))),
    }
}

/// True when the namesrv's cluster table lists `broker_name` as a master
/// (`brokerId` 0) at `broker_addr`.
pub fn broker_registered(
    namesrv_addr: &str,
    broker_name: &str,
    broker_addr: &str,
    timeout: Duration,
) -> bool {
    cluster_info(namesrv_addr, timeout)
        .is_ok_and(|body| lists_master(&body, broker_name, broker_addr))
}

/// True when every name server of `namesrv_addrs` that answers lists the
/// broker `broker_name` at `broker_addr`, and at least one answers. A broker
/// registers with each name server on its own, so "registered" with the
/// first says nothing of the others; one that does not answer (stopped by a
/// test) is not waited for.
pub fn broker_registered_with_all(
    namesrv_addrs: &[String],
    broker_name: &str,
    broker_addr: &str,
    timeout: Duration,
) -> bool {
    let mut answered = false;
    for ns in namesrv_addrs {
        if let Ok(body) = cluster_info(ns, timeout) {
            answered = true;
            if !lists_master(&body, broker_name, broker_addr) {
                return false;
            }
        }
    }
    answered
}

fn lists_master(cluster_info: &str, broker_name: &str, broker_addr: &str) -> bool {
    // The body is fastjson output, e.g. `"brokerAddrs":{0:"127.0.0.1:10911"}`
    // (an unquoted integer key), so match on text rather than parse JSON.
    cluster_info.contains(&format!("\"brokerName\":\"{broker_name}\""))
        && (cluster_info.contains(&format!("0:\"{broker_addr}\""))
            || cluster_info.contains(&format!("\"0\":\"{broker_addr}\"")))
}

/// True when the broker at `broker_addr` answers GET_BROKER_RUNTIME_INFO with
/// success.
pub fn broker_answers(broker_addr: &str, timeout: Duration) -> bool {
    matches!(
        request(broker_addr, GET_BROKER_RUNTIME_INFO, &[], timeout).map(|r| r.code()),
        Ok(Some(0))
    )
}

/// True when the broker at `broker_addr` answers GET_BROKER_RUNTIME_INFO
/// with any response code: a broker with authentication on refuses the
/// unsigned probe (4.9.7 ACL 1.0: code 1 "…AclException: No accessKey is
/// configured, …"; 5.5.0 ACL 2.0: code 16 "username cannot be null."), but
/// it answers.
pub fn broker_responds(broker_addr: &str, timeout: Duration) -> bool {
    matches!(
        request(broker_addr, GET_BROKER_RUNTIME_INFO, &[], timeout).map(|r| r.code()),
        Ok(Some(_))
    )
}

/// True when `namesrv_addr` answers GET_BROKER_CLUSTER_INFO with success.
pub fn namesrv_answers(namesrv_addr: &str, timeout: Duration) -> bool {
    cluster_info(namesrv_addr, timeout).is_ok()
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_cluster_info_request_as_a_json_header_frame() {
        let frame = encode_request(106, &[]);
        let header = br#"{"code":106,"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":401}"#;
        assert_eq!(&frame[0..4], &(4 + header.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..8], &(header.len() as u32).to_be_bytes());
        assert_eq!(&frame[8..], &header[..]);
    }

    #[test]
    fn encodes_ext_fields_as_a_json_object() {
        let frame = encode_request(105, &[("topic", "T\"1")]);
        let text = String::from_utf8_lossy(&frame[8..]).into_owned();
        assert!(
            text.ends_with(r#","extFields":{"topic":"T\"1"}}"#),
            "{text}"
        );
    }

    #[test]
    fn reads_the_response_code_from_the_header() {
        let resp = RawResponse {
            header: r#"{"code":17,"flag":1,"opaque":1}"#.into(),
            body: Vec::new(),
        };
        assert_eq!(resp.code(), Some(17));
        let negative = RawResponse {
            header: r#"{"code": -1}"#.into(),
            body: Vec::new(),
        };
        assert_eq!(negative.code(), Some(-1));
    }
}
