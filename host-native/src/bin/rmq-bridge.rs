//! `rmq-bridge`: a WebSocket-to-TCP bridge so browsers and edge runtimes can
//! reach RocketMQ name servers and brokers. See `rmq::bridge`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rmq::bridge::{BridgeConfig, Server, TlsFiles};

/// `--help`'s description (a constant, so rustdoc does not read its
/// `<host>:<port>` as HTML).
const LONG_ABOUT: &str = "\
rmq-bridge: lets browsers and edge runtimes reach RocketMQ over WebSocket.

Each WebSocket connection to ws[s]://<listen>/tcp/<host>:<port> becomes one TCP
connection to <host>:<port> (IPv6: /tcp/[addr]:port). Binary messages carry the
bytes both ways; a text message closes the connection (1008), a message over
--max-message-size too (1009).

Allowed targets: the --namesrv name servers, the --allow entries, and the broker
addresses those name servers name in their route (105) and cluster (106)
answers read through the bridge. Clients may not send broker-registration or
name-server configuration requests through it.

Refusals are answered before the upgrade: 401 missing or bad token, 403 origin
or target not allowed, 404 other path, 400 bad host:port, 429 per-IP limit,
503 total limit. Logs: RUST_LOG (default info).";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "rmq-bridge",
    version,
    about = "rmq-bridge: lets browsers and edge runtimes reach RocketMQ over WebSocket.",
    long_about = LONG_ABOUT
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "RMQ_BRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Name server `host:port` (repeatable, or `;`/`,`-separated). Always
    /// allowed; its answers teach the broker addresses.
    #[arg(
        long = "namesrv",
        short = 'n',
        env = "RMQ_BRIDGE_NAMESRV",
        value_delimiter = ';'
    )]
    namesrv: Vec<String>,

    /// Further allowed target `host:port` (repeatable, or `;`/`,`-separated),
    /// e.g. a 5.x proxy. Matched exactly: a host name does not match its IP.
    #[arg(long = "allow", env = "RMQ_BRIDGE_ALLOW", value_delimiter = ';')]
    allow: Vec<String>,

    /// Require this bearer token: `Authorization: Bearer <token>`, or
    /// `?token=<token>` (browsers cannot set WebSocket headers). Prefer the
    /// environment variable: command lines are visible to other users.
    #[arg(long, env = "RMQ_BRIDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Allowed `Origin` (`scheme://host[:port]`, repeatable or
    /// `;`/`,`-separated). When set, requests with another or no Origin get
    /// 403. When unset, any web page may use the bridge.
    #[arg(
        long = "allow-origin",
        env = "RMQ_BRIDGE_ALLOW_ORIGIN",
        value_delimiter = ';'
    )]
    allow_origin: Vec<String>,

    /// Open connections in all, handshakes included; more get 503.
    #[arg(long, env = "RMQ_BRIDGE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,

    /// Open connections per client IP, handshakes included; more get 429.
    /// Behind a reverse proxy every client has the proxy's IP.
    #[arg(long, env = "RMQ_BRIDGE_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    max_connections_per_ip: usize,

    /// Close a connection after this long without traffic either way
    /// (`120`, `90s`, `500ms`, `5m`, `1h`).
    #[arg(long, env = "RMQ_BRIDGE_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    idle_timeout: Duration,

    /// Largest WebSocket message (and frame) from a client (`8MiB`, `65536`,
    /// `512KiB`); larger closes the connection with 1009. Also bounds the
    /// memory a connection holds.
    #[arg(long, env = "RMQ_BRIDGE_MAX_MESSAGE_SIZE", default_value = "8MiB", value_parser = parse_size)]
    max_message_size: usize,

    /// Time allowed to connect to a target (WebSocket closed with 1011 on
    /// failure).
    #[arg(long, env = "RMQ_BRIDGE_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    connect_timeout: Duration,

    /// Time allowed for the TLS and WebSocket handshakes.
    #[arg(long, env = "RMQ_BRIDGE_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,

    /// Learned broker addresses kept at most (least recently seen dropped
    /// first).
    #[arg(long, env = "RMQ_BRIDGE_MAX_LEARNED", default_value_t = 4096)]
    max_learned: usize,

    /// Forget a learned broker address no name-server answer has named for
    /// this long.
    #[arg(long, env = "RMQ_BRIDGE_LEARNED_TTL", default_value = "1h", value_parser = parse_duration)]
    learned_ttl: Duration,

    /// Serve wss: certificate chain, PEM, leaf first (needs --tls-key).
    #[arg(long, env = "RMQ_BRIDGE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// Serve wss: private key, PEM (PKCS#8, PKCS#1 or SEC1; needs --tls-cert).
    #[arg(long, env = "RMQ_BRIDGE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn split_list(v: Vec<String>) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split([',', ';']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `120` (seconds), `90s`, `500ms`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected e.g. 30s"))?;
    match unit.trim() {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        u => Err(format!("`{s}`: unknown unit `{u}` (ms, s, m, h)")),
    }
}

/// `65536`, `512KiB`/`512K`, `8MiB`/`8M`.
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}`: expected e.g. 8MiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        u => return Err(format!("`{s}`: unknown unit `{u}` (KiB, MiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}`: too large"))
}

fn config(cli: Cli) -> BridgeConfig {
    BridgeConfig {
        name_servers: split_list(cli.namesrv),
        allow: split_list(cli.allow),
        token: cli.token.filter(|t| !t.is_empty()),
        allowed_origins: split_list(cli.allow_origin),
        max_connections: cli.max_connections,
        max_connections_per_ip: cli.max_connections_per_ip,
        idle_timeout: cli.idle_timeout,
        max_message_size: cli.max_message_size,
        connect_timeout: cli.connect_timeout,
        handshake_timeout: cli.handshake_timeout,
        max_learned: cli.max_learned,
        learned_ttl: cli.learned_ttl,
        tls: cli
            .tls_cert
            .zip(cli.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key }),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let listen = cli.listen;
    let config = config(cli);
    if let Err(e) = config.validate() {
        eprintln!("rmq-bridge: {e}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rmq-bridge: listening on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::new(config, listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rmq-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received, shutting down");
        stop.shutdown();
    });
    match server.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmq-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("120").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert!(parse_size("1GiB").is_err());
    }

    #[test]
    fn lists_split_on_commas_and_semicolons() {
        assert_eq!(
            split_list(vec!["a:1;b:2".into(), " c:3 , d:4".into()]),
            ["a:1", "b:2", "c:3", "d:4"]
        );
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
