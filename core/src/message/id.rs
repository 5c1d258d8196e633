//! Message IDs (PROTOCOL.md §6): the offset message ID brokers derive from
//! the store address and commit-log offset, and the client unique ID
//! (`UNIQ_KEY`) producers attach to every message.

use alloc::string::String;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xF)];
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes hex into `out`; `hex` must be exactly twice as long.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (pair.first()?, pair.get(1)?);
        *o = (hex_value(*hi)? << 4) | hex_value(*lo)?;
    }
    Some(())
}

/// A message ID could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    /// The ID is neither 32 (IPv4) nor 56 (IPv6) characters long.
    #[error("message ID has length {0}, expected 32 or 56")]
    InvalidLength(usize),
    /// The ID contains a non-hex character.
    #[error("message ID is not hexadecimal")]
    InvalidHex,
    /// The port field is outside 0..=65535.
    #[error("message ID port {0} is out of range")]
    PortOutOfRange(i32),
}

/// Offset message ID: `storeIP (4|16) | storePort int32 | commitLogOffset
/// int64` as upper-case hex (32 characters for IPv4, 56 for IPv6). Used by
/// VIEW_MESSAGE_BY_ID and END_TRANSACTION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetMessageId {
    /// Address of the broker that stored the message.
    pub addr: SocketAddr,
    /// Physical offset in that broker's commit log.
    pub commit_log_offset: i64,
}

impl OffsetMessageId {
    /// The upper-case hex form.
    pub fn encode(&self) -> String {
        let mut buf = [0u8; 56];
        String::from(self.encode_to(&mut buf))
    }

    /// Appends the upper-case hex form to `out`.
    pub fn encode_into(&self, out: &mut String) {
        let mut buf = [0u8; 56];
        out.push_str(self.encode_to(&mut buf));
    }

    /// Writes the hex form into `buf` and returns it (32 or 56 bytes).
    fn encode_to<'b>(&self, buf: &'b mut [u8; 56]) -> &'b str {
        let mut raw = [0u8; 28];
        let ip_len = match self.addr.ip() {
            IpAddr::V4(ip) => {
                raw[..4].copy_from_slice(&ip.octets());
                4
            }
            IpAddr::V6(ip) => {
                raw[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        let len = ip_len + 12;
        if let Some(rest) = raw.get_mut(ip_len..len) {
            rest[..4].copy_from_slice(&i32::from(self.addr.port()).to_be_bytes());
            rest[4..].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        }
        write_hex(buf, raw.get(..len).unwrap_or_default());
        let hex = buf.get(..len * 2).unwrap_or_default();
        core::str::from_utf8(hex).unwrap_or_default()
    }

    /// Parses the hex form (either case); the length selects IPv4 (32) or
    /// IPv6 (56).
    pub fn decode(id: &str) -> Result<Self, MessageIdError> {
        let hex = id.as_bytes();
        let (ip_hex, rest) = match hex.len() {
            32 => hex.split_at(8),
            56 => hex.split_at(32),
            n => return Err(MessageIdError::InvalidLength(n)),
        };
        let (port_hex, offset_hex) = rest.split_at(8);
        let ip = if ip_hex.len() == 8 {
            let mut b = [0u8; 4];
            decode_hex(ip_hex, &mut b).ok_or(MessageIdError::InvalidHex)?;
            IpAddr::V4(Ipv4Addr::from(b))
        } else {
            let mut b = [0u8; 16];
            decode_hex(ip_hex, &mut b).ok_or(MessageIdError::InvalidHex)?;
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let mut port = [0u8; 4];
        decode_hex(port_hex, &mut port).ok_or(MessageIdError::InvalidHex)?;
        let port = i32::from_be_bytes(port);
        let mut offset = [0u8; 8];
        decode_hex(offset_hex, &mut offset).ok_or(MessageIdError::InvalidHex)?;
        Ok(OffsetMessageId {
            addr: SocketAddr::new(
                ip,
                u16::try_from(port).map_err(|_| MessageIdError::PortOutOfRange(port))?,
            ),
            commit_log_offset: i64::from_be_bytes(offset),
        })
    }
}

impl fmt::Display for OffsetMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for OffsetMessageId {
    type Err = MessageIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

/// Longest unique ID: IPv6 layout, 56 hex characters.
pub const UNIQUE_ID_MAX_LEN: usize = 56;

/// A unique ID in a fixed buffer (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqueId {
    buf: [u8; UNIQUE_ID_MAX_LEN],
    len: u8,
}

impl UniqueId {
    /// The ID as a string (32 or 56 upper-case hex characters).
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl core::ops::Deref for UniqueId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for UniqueId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Generates `UNIQ_KEY` values in the Java client layout:
/// `ip (4|16) | pid int16 | classLoaderHash int32 | msSinceMonthStart int32
/// | counter int16`, upper-case hex (32 or 56 characters).
///
/// The clock is not read: callers pass the current time and the start of
/// the current month (see [`month_start_unix_ms`]). The counter wraps at
/// 65536; IDs stay unique as long as fewer than 65536 are made per
/// millisecond.
#[derive(Debug, Clone)]
pub struct UniqueIdGenerator {
    /// Hex of ip | pid | seed, computed once.
    prefix: [u8; UNIQUE_ID_MAX_LEN],
    prefix_len: usize,
    counter: u16,
}

impl UniqueIdGenerator {
    /// A generator for this host `ip`, process `pid` (low 16 bits used)
    /// and `seed` (Java: the class loader's hash code; any per-instance
    /// random value works). The counter starts at 0.
    pub fn new(ip: IpAddr, pid: u32, seed: i32) -> Self {
        let mut raw = [0u8; 22];
        let ip_len = match ip {
            IpAddr::V4(v4) => {
                raw[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                raw[..16].copy_from_slice(&v6.octets());
                16
            }
        };
        let fixed_len = ip_len + 6;
        raw[ip_len..ip_len + 2].copy_from_slice(&(pid as u16).to_be_bytes());
        raw[ip_len + 2..fixed_len].copy_from_slice(&seed.to_be_bytes());
        let mut prefix = [0u8; UNIQUE_ID_MAX_LEN];
        write_hex(&mut prefix, &raw[..fixed_len]);
        Self {
            prefix,
            prefix_len: fixed_len * 2,
            counter: 0,
        }
    }

    /// The same generator with its counter starting at `start`.
    pub fn with_counter(mut self, start: u16) -> Self {
        self.counter = start;
        self
    }

    /// Length of the IDs this generator makes (32 or 56).
    pub fn id_len(&self) -> usize {
        self.prefix_len + 12
    }

    /// The next ID in a fixed buffer.
    pub fn next_id(&mut self, now_unix_ms: i64, month_start_unix_ms: i64) -> UniqueId {
        let mut buf = self.prefix;
        // Java casts the difference to int; small negative skew becomes 0.
        let elapsed = now_unix_ms.saturating_sub(month_start_unix_ms).max(0) as i32;
        let counter = self.counter;
        self.counter = self.counter.wrapping_add(1);
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&elapsed.to_be_bytes());
        tail[4..].copy_from_slice(&counter.to_be_bytes());
        if let Some(dst) = buf.get_mut(self.prefix_len..self.prefix_len + 12) {
            write_hex(dst, &tail);
        }
        UniqueId {
            buf,
            len: (self.prefix_len + 12) as u8,
        }
    }

    /// The next ID as a new string.
    pub fn next(&mut self, now_unix_ms: i64, month_start_unix_ms: i64) -> String {
        String::from(self.next_id(now_unix_ms, month_start_unix_ms).as_str())
    }

    /// Appends the next ID to `out` (no allocation if `out` has room).
    pub fn next_into(&mut self, now_unix_ms: i64, month_start_unix_ms: i64, out: &mut String) {
        out.push_str(self.next_id(now_unix_ms, month_start_unix_ms).as_str());
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Start of the month containing `now_unix_ms`, in Unix ms, for a local
/// time zone `utc_offset_ms` ahead of UTC (Java uses the JVM's zone: local
/// 00:00 on day 1).
pub fn month_start_unix_ms(now_unix_ms: i64, utc_offset_ms: i64) -> i64 {
    let local = now_unix_ms.saturating_add(utc_offset_ms);
    let days = local.div_euclid(MS_PER_DAY);
    let day_of_month = day_of_month(days);
    (days - (day_of_month - 1))
        .saturating_mul(MS_PER_DAY)
        .saturating_sub(utc_offset_ms)
}

/// Day of month (1..=31) of a day count since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's civil-from-days algorithm).
fn day_of_month(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    doy - (153 * mp + 2) / 5 + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn offset_id_ipv4_layout() {
        let id = OffsetMessageId {
            addr: "192.168.1.2:10911".parse().unwrap(),
            commit_log_offset: 0x1234,
        };
        assert_eq!(id.encode(), "C0A8010200002A9F0000000000001234");
        assert_eq!(id.to_string(), id.encode());
    }

    #[test]
    fn offset_id_ipv6_is_56_characters() {
        let id = OffsetMessageId {
            addr: "[2001:db8::1]:10911".parse().unwrap(),
            commit_log_offset: -1,
        };
        let s = id.encode();
        assert_eq!(s.len(), 56);
        assert!(s.starts_with("20010DB8"));
        assert_eq!(OffsetMessageId::decode(&s), Ok(id));
    }

    #[test]
    fn offset_id_decodes_lower_case() {
        let id: OffsetMessageId = "c0a8010200002a9f0000000000001234".parse().unwrap();
        assert_eq!(id.addr, "192.168.1.2:10911".parse().unwrap());
        assert_eq!(id.commit_log_offset, 0x1234);
    }

    #[test]
    fn offset_id_with_bad_length_is_rejected() {
        assert_eq!(
            OffsetMessageId::decode("ABC"),
            Err(MessageIdError::InvalidLength(3))
        );
    }

    #[test]
    fn offset_id_with_non_hex_is_rejected() {
        assert_eq!(
            OffsetMessageId::decode("G0A8010200002A9F0000000000001234"),
            Err(MessageIdError::InvalidHex)
        );
        // Multi-byte UTF-8 of the right byte length.
        let id = alloc::format!("éé{}", &"C0A8010200002A9F0000000000001234"[4..]);
        assert_eq!(id.len(), 32);
        assert_eq!(
            OffsetMessageId::decode(&id),
            Err(MessageIdError::InvalidHex)
        );
    }

    #[test]
    fn offset_id_with_port_out_of_range_is_rejected() {
        assert_eq!(
            OffsetMessageId::decode("C0A8010200012A9F0000000000001234"),
            Err(MessageIdError::PortOutOfRange(0x12A9F))
        );
    }

    #[test]
    fn unique_id_has_java_layout() {
        let mut g = UniqueIdGenerator::new("10.0.0.5".parse().unwrap(), 0x1_2345, -2);
        let id = g.next(1_000_500, 1_000_000);
        assert_eq!(id.len(), 32);
        assert_eq!(&id[..8], "0A000005"); // ip
        assert_eq!(&id[8..12], "2345"); // pid, low 16 bits
        assert_eq!(&id[12..20], "FFFFFFFE"); // seed
        assert_eq!(&id[20..28], "000001F4"); // 500 ms since month start
        assert_eq!(&id[28..], "0000"); // counter
        assert_eq!(&g.next(1_000_500, 1_000_000)[28..], "0001");
    }

    #[test]
    fn unique_id_ipv6_is_56_characters() {
        let mut g = UniqueIdGenerator::new("::1".parse().unwrap(), 1, 1);
        assert_eq!(g.id_len(), 56);
        let id = g.next_id(10, 0);
        assert_eq!(id.len(), 56);
        assert!(id.starts_with("00000000000000000000000000000001"));
    }

    #[test]
    fn unique_id_counter_wraps() {
        let mut g = UniqueIdGenerator::new("1.2.3.4".parse().unwrap(), 1, 1).with_counter(0xFFFF);
        assert!(g.next(0, 0).ends_with("FFFF"));
        assert!(g.next(0, 0).ends_with("0000"));
    }

    #[test]
    fn unique_id_clamps_clock_skew_to_zero() {
        let mut g = UniqueIdGenerator::new("1.2.3.4".parse().unwrap(), 1, 1);
        assert_eq!(&g.next(999, 1000)[20..28], "00000000");
    }

    #[test]
    fn next_into_appends() {
        let mut g = UniqueIdGenerator::new("1.2.3.4".parse().unwrap(), 1, 1);
        let mut s = String::from("x");
        g.next_into(0, 0, &mut s);
        assert_eq!(s.len(), 33);
        assert!(s.starts_with("x01020304"));
    }

    #[test]
    fn month_start_in_utc() {
        // 2024-03-15T12:34:56Z -> 2024-03-01T00:00:00Z
        assert_eq!(month_start_unix_ms(1_710_506_096_000, 0), 1_709_251_200_000);
        // Exactly the first instant of the month maps to itself.
        assert_eq!(month_start_unix_ms(1_709_251_200_000, 0), 1_709_251_200_000);
        // Leap day 2024-02-29T23:00Z -> 2024-02-01T00:00Z
        assert_eq!(month_start_unix_ms(1_709_247_600_000, 0), 1_706_745_600_000);
    }

    #[test]
    fn month_start_honours_utc_offset() {
        // 2024-02-29T23:00Z is 2024-03-01T07:00 at UTC+8, whose month starts
        // 2024-03-01T00:00+08:00 = 2024-02-29T16:00Z.
        let offset = 8 * 3_600_000;
        assert_eq!(
            month_start_unix_ms(1_709_247_600_000, offset),
            1_709_222_400_000
        );
    }

    #[test]
    fn month_start_before_1970() {
        // 1969-12-31T12:00Z -> 1969-12-01T00:00Z
        assert_eq!(month_start_unix_ms(-43_200_000, 0), -2_678_400_000);
    }
}
