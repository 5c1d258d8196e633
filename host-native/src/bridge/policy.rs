//! Admission: connection limits, and the checks a WebSocket upgrade request
//! must pass (token, origin, path, allowlist) before it is answered 101.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::{header, Response, StatusCode};

use super::allowlist::{Allowlist, TargetKind};
use super::config::{normalize_origin, TargetAddr};

/// The path prefix of a bridge request: `/tcp/<host>:<port>`.
pub const PATH_PREFIX: &str = "/tcp/";

/// Why a request was refused; becomes the HTTP answer and one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 503: the bridge has `max_connections` open.
    TooManyConnections,
    /// 429: this client IP has `max_connections_per_ip` open.
    TooManyFromIp,
    /// 401: no token given.
    MissingToken,
    /// 401: a token that is not the configured one.
    BadToken,
    /// 403: an `Origin` that is not allowed, or none when origins are set.
    BadOrigin(Option<String>),
    /// 404: the path is not `/tcp/…`.
    UnknownPath,
    /// 400: the path does not name a `host:port`.
    BadTarget(&'static str),
    /// 403: the target is not on the allowlist.
    TargetNotAllowed(TargetAddr),
}

impl Refusal {
    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::TooManyFromIp => StatusCode::TOO_MANY_REQUESTS,
            Refusal::MissingToken | Refusal::BadToken => StatusCode::UNAUTHORIZED,
            Refusal::BadOrigin(_) | Refusal::TargetNotAllowed(_) => StatusCode::FORBIDDEN,
            Refusal::UnknownPath => StatusCode::NOT_FOUND,
            Refusal::BadTarget(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A short reason, logged and sent as the response body.
    pub fn reason(&self) -> String {
        match self {
            Refusal::TooManyConnections => "too many connections".into(),
            Refusal::TooManyFromIp => "too many connections from this address".into(),
            Refusal::MissingToken => "missing token".into(),
            Refusal::BadToken => "bad token".into(),
            Refusal::BadOrigin(Some(o)) => format!("origin `{}` not allowed", printable(o)),
            Refusal::BadOrigin(None) => "missing origin".into(),
            Refusal::UnknownPath => format!("unknown path (expected {PATH_PREFIX}<host>:<port>)"),
            Refusal::BadTarget(why) => format!("bad target: {why}"),
            Refusal::TargetNotAllowed(t) => format!("target {t} not allowed"),
        }
    }

    /// The HTTP response: the status, `Connection: close`, a plain-text
    /// reason, and `WWW-Authenticate` on 401.
    pub fn response(&self) -> ErrorResponse {
        let body = format!("{}\n", self.reason());
        let mut b = Response::builder()
            .status(self.status())
            .header(header::CONNECTION, "close")
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::CONTENT_LENGTH, body.len());
        if self.status() == StatusCode::UNAUTHORIZED {
            b = b.header(header::WWW_AUTHENTICATE, "Bearer");
        }
        b.body(Some(body)).unwrap_or_else(|_| {
            let mut r = Response::new(None);
            *r.status_mut() = StatusCode::FORBIDDEN;
            r
        })
    }
}

/// Connection counters, in all and per client IP.
#[derive(Debug)]
pub struct Limits {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Limits {
    /// Counters allowing `max_total` connections, `max_per_ip` per IP.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Limits {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `ip`.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let mut c = self.lock();
        if c.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        let n = c.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        *n += 1;
        c.total += 1;
        Ok(Permit {
            limits: Arc::clone(self),
            ip,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.limits.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// An admitted request: where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The target.
    pub target: TargetAddr,
    /// Why it is allowed.
    pub kind: TargetKind,
}

/// The request checks, in order: token (401), origin (403), path (404/400),
/// allowlist (403).
#[derive(Debug)]
pub struct Policy {
    token: Option<String>,
    origins: Vec<String>,
    allowlist: Arc<Allowlist>,
}

impl Policy {
    /// A policy; `origins` must already be valid (see `BridgeConfig::validate`).
    pub fn new(token: Option<String>, origins: &[String], allowlist: Arc<Allowlist>) -> Self {
        Policy {
            token,
            origins: origins.iter().filter_map(|o| normalize_origin(o)).collect(),
            allowlist,
        }
    }

    /// Decides on an upgrade request.
    pub fn admit(&self, req: &Request) -> Result<Admitted, Refusal> {
        if let Some(expected) = &self.token {
            check_token(req, expected)?;
        }
        if !self.origins.is_empty() {
            let origin = req
                .headers()
                .get(header::ORIGIN)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let ok = origin
                .as_deref()
                .and_then(normalize_origin)
                .is_some_and(|o| self.origins.contains(&o));
            if !ok {
                return Err(Refusal::BadOrigin(origin));
            }
        }
        let target = parse_path(req.uri().path())?;
        match self.allowlist.check(&target) {
            Some(kind) => Ok(Admitted { target, kind }),
            None => Err(Refusal::TargetNotAllowed(target)),
        }
    }
}

/// The target of a `/tcp/<host>:<port>` path (percent-decoded).
pub fn parse_path(path: &str) -> Result<TargetAddr, Refusal> {
    let raw = path.strip_prefix(PATH_PREFIX).ok_or(Refusal::UnknownPath)?;
    let decoded = percent_decode(raw).ok_or(Refusal::BadTarget("bad percent-encoding"))?;
    TargetAddr::parse(&decoded).map_err(Refusal::BadTarget)
}

fn check_token(req: &Request, expected: &str) -> Result<(), Refusal> {
    let mut offered = Vec::new();
    for v in req.headers().get_all(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| Refusal::BadToken)?;
        let (scheme, tok) = v.trim().split_once(' ').ok_or(Refusal::BadToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::BadToken);
        }
        offered.push(tok.trim().to_owned());
    }
    for pair in req.uri().query().unwrap_or("").split('&') {
        if let Some(v) = pair.strip_prefix("token=") {
            offered.push(percent_decode(&v.replace('+', " ")).ok_or(Refusal::BadToken)?);
        }
    }
    if offered.is_empty() {
        return Err(Refusal::MissingToken);
    }
    // Every offered token must be right, so a wrong header cannot be
    // shadowed by a right query parameter or the other way round.
    if offered
        .iter()
        .all(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(Refusal::BadToken)
    }
}

/// Equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// At most 64 printable characters of an untrusted header, for logs.
fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(token: Option<&str>, origins: &[&str]) -> Policy {
        let allow = Allowlist::new(
            [TargetAddr::parse("127.0.0.1:9876").unwrap()],
            [TargetAddr::parse("[::1]:8081").unwrap()],
            16,
            Duration::from_secs(60),
        );
        let origins: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        Policy::new(token.map(String::from), &origins, Arc::new(allow))
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn paths_name_targets() {
        assert_eq!(
            parse_path("/tcp/127.0.0.1:9876").unwrap().to_string(),
            "127.0.0.1:9876"
        );
        assert_eq!(
            parse_path("/tcp/%5B::1%5D%3A8081").unwrap().to_string(),
            "[::1]:8081"
        );
        assert_eq!(parse_path("/ws/x:1"), Err(Refusal::UnknownPath));
        assert!(matches!(parse_path("/tcp/x"), Err(Refusal::BadTarget(_))));
        assert!(matches!(parse_path("/tcp/%zz"), Err(Refusal::BadTarget(_))));
    }

    #[test]
    fn allowlisted_targets_pass_and_others_are_forbidden() {
        let p = policy(None, &[]);
        let a = p.admit(&req("/tcp/127.0.0.1:9876", &[])).unwrap();
        assert_eq!(a.kind, TargetKind::NameServer);
        assert!(p.admit(&req("/tcp/[::1]:8081", &[])).is_ok());
        let r = p.admit(&req("/tcp/127.0.0.1:22", &[])).unwrap_err();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn tokens_come_from_the_header_or_the_query() {
        let p = policy(Some("s3cret"), &[]);
        let ok_header = req("/tcp/127.0.0.1:9876", &[("authorization", "Bearer s3cret")]);
        assert!(p.admit(&ok_header).is_ok());
        assert!(p
            .admit(&req("/tcp/127.0.0.1:9876?token=s3cret", &[]))
            .is_ok());
        assert_eq!(
            p.admit(&req("/tcp/127.0.0.1:9876", &[])),
            Err(Refusal::MissingToken)
        );
        assert_eq!(
            p.admit(&req("/tcp/127.0.0.1:9876?token=nope", &[])),
            Err(Refusal::BadToken)
        );
        let mixed = req(
            "/tcp/127.0.0.1:9876?token=s3cret",
            &[("authorization", "Bearer nope")],
        );
        assert_eq!(p.admit(&mixed), Err(Refusal::BadToken));
        let basic = req("/tcp/127.0.0.1:9876", &[("authorization", "Basic s3cret")]);
        assert_eq!(p.admit(&basic), Err(Refusal::BadToken));
    }

    #[test]
    fn the_token_is_checked_before_the_target() {
        let p = policy(Some("s3cret"), &[]);
        assert_eq!(
            p.admit(&req("/tcp/127.0.0.1:22", &[])),
            Err(Refusal::MissingToken)
        );
    }

    #[test]
    fn origins_must_match_when_configured() {
        let p = policy(None, &["https://app.example"]);
        let ok = req("/tcp/127.0.0.1:9876", &[("origin", "https://APP.example")]);
        assert!(p.admit(&ok).is_ok());
        let other = req("/tcp/127.0.0.1:9876", &[("origin", "https://evil.example")]);
        assert!(matches!(p.admit(&other), Err(Refusal::BadOrigin(Some(_)))));
        assert_eq!(
            p.admit(&req("/tcp/127.0.0.1:9876", &[])),
            Err(Refusal::BadOrigin(None))
        );
    }

    #[test]
    fn limits_count_in_all_and_per_ip() {
        let l = Limits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = l.try_acquire(a).unwrap();
        let _p2 = l.try_acquire(a).unwrap();
        assert_eq!(l.try_acquire(a).unwrap_err(), Refusal::TooManyFromIp);
        let _p3 = l.try_acquire(b).unwrap();
        assert_eq!(l.try_acquire(b).unwrap_err(), Refusal::TooManyConnections);
        drop(p1);
        let _p4 = l.try_acquire(a).unwrap();
        assert_eq!(l.try_acquire(a).unwrap_err(), Refusal::TooManyConnections);
    }

    #[test]
    fn responses_carry_status_and_reason() {
        let r = Refusal::MissingToken.response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.body().as_deref(), Some("missing token\n"));
    }
}
