//! `rmq_send_bench`: rmq's side of `cargo xtask bench`. Sends 1 KiB (by
//! default) messages to a real broker for a fixed time and prints one JSON
//! summary line shaped like `rmq-go-peer bench-send`'s, so the two clients are
//! measured the same way (CPU and peak RSS are the process's own).
//!
//! ```text
//! rmq_send_bench --namesrv 127.0.0.1:9876 --topic T [--group G]
//!     [--mode sync|pipelined|batch] [--concurrency N] [--batch-size 32]
//!     [--body-size 1024] [--duration-sec 10] [--warmup 100] [--worker-threads N]
//! ```
//!
//! - `sync`: N tasks, each awaiting one send at a time (like the Go peer's
//!   goroutines).
//! - `pipelined`: one task keeps N sends in flight (`FuturesUnordered`).
//! - `batch`: N tasks, each sending batches of `--batch-size` messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use rmq::{Message, Producer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Pipelined,
    Batch,
}

#[derive(Debug, Clone)]
struct Args {
    namesrv: String,
    topic: String,
    group: String,
    mode: Mode,
    concurrency: usize,
    batch_size: usize,
    body_size: usize,
    duration: Duration,
    warmup: usize,
    /// Tokio worker threads; 0 = tokio's default, 1 = a current-thread runtime.
    worker_threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        namesrv: "127.0.0.1:9876".into(),
        topic: String::new(),
        group: format!("rmq_bench_{}", std::process::id()),
        mode: Mode::Sync,
        concurrency: 1,
        batch_size: 32,
        body_size: 1024,
        duration: Duration::from_secs(10),
        warmup: 100,
        worker_threads: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.trim_start_matches('-').to_string(), Some(v.to_string())),
            None => (arg.trim_start_matches('-').to_string(), None),
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("--{flag} needs a value"))?;
        let number = |v: &str| -> Result<usize, String> {
            v.parse()
                .map_err(|_| format!("--{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "namesrv" => args.namesrv = value,
            "topic" => args.topic = value,
            "group" => args.group = value,
            "mode" => {
                args.mode = match value.as_str() {
                    "sync" => Mode::Sync,
                    "pipelined" => Mode::Pipelined,
                    "batch" => Mode::Batch,
                    other => return Err(format!("--mode: unknown mode `{other}`")),
                }
            }
            "concurrency" => args.concurrency = number(&value)?.max(1),
            "batch-size" => args.batch_size = number(&value)?.max(1),
            "body-size" => args.body_size = number(&value)?,
            "duration-sec" => args.duration = Duration::from_secs_f64(number(&value)? as f64),
            "warmup" => args.warmup = number(&value)?,
            "worker-threads" => args.worker_threads = number(&value)?,
            other => return Err(format!("unknown flag --{other}")),
        }
    }
    if args.topic.is_empty() {
        return Err("--topic is required".into());
    }
    Ok(args)
}

/// User and system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall (11th and 12th after the name).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    const CLK_TCK: f64 = 100.0;
    (ticks(11) / CLK_TCK, ticks(12) / CLK_TCK)
}

/// Peak resident set size in KiB (VmHWM).
fn max_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn body(size: usize) -> bytes::Bytes {
    (0..size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect::<Vec<u8>>()
        .into()
}

struct Counters {
    sent: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn record(&self, n: u64, result: Result<(), rmq::Error>) {
        match result {
            Ok(()) => {
                self.sent.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(n, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let producer = Producer::builder()
        .name_server(&args.namesrv)
        .group(&args.group)
        .retries(2)
        .send_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    producer.start().await.map_err(|e| e.to_string())?;
    let payload = body(args.body_size);
    let message = Message::new(args.topic.as_str(), payload);

    for _ in 0..args.warmup {
        producer
            .send(message.clone())
            .await
            .map_err(|e| format!("warm-up send: {e}"))?;
    }

    let counters = Arc::new(Counters {
        sent: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let (user0, sys0) = cpu_seconds();
    let start = Instant::now();
    let deadline = start + args.duration;
    let progress = {
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = counters.sent.load(Ordering::Relaxed);
                eprintln!("rmq_send_bench: {} msgs/s", now - last);
                last = now;
            }
        })
    };

    match args.mode {
        Mode::Sync | Mode::Batch => {
            let mut tasks = Vec::with_capacity(args.concurrency);
            for _ in 0..args.concurrency {
                let producer = producer.clone();
                let message = message.clone();
                let counters = Arc::clone(&counters);
                let (mode, batch_size) = (args.mode, args.batch_size);
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if mode == Mode::Sync {
                            let r = producer.send(message.clone()).await.map(|_| ());
                            counters.record(1, r);
                        } else {
                            let batch = vec![message.clone(); batch_size];
                            let r = producer.send_batch(batch).await.map(|_| ());
                            counters.record(batch_size as u64, r);
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.map_err(|e| e.to_string())?;
            }
        }
        Mode::Pipelined => {
            let mut in_flight = FuturesUnordered::new();
            for _ in 0..args.concurrency {
                in_flight.push(producer.send(message.clone()));
            }
            while let Some(result) = in_flight.next().await {
                counters.record(1, result.map(|_| ()));
                if Instant::now() < deadline {
                    in_flight.push(producer.send(message.clone()));
                }
            }
        }
    }

    let elapsed = start.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_seconds();
    progress.abort();
    let sent = counters.sent.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let first_error = counters
        .first_error
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .map(|e| format!(",\"first_error\":{}", json_string(&e)))
        .unwrap_or_default();
    let mode = match args.mode {
        Mode::Sync => "sync",
        Mode::Pipelined => "pipelined",
        Mode::Batch => "batch",
    };
    println!(
        "{{\"type\":\"summary\",\"client\":\"rmq\",\"mode\":\"{mode}\",\"sent\":{sent},\
         \"errors\":{errors},\"concurrency\":{},\"batch_size\":{},\"body_size\":{},\
         \"elapsed_sec\":{elapsed:.3},\"msgs_per_sec\":{:.1},\"cpu_user_sec\":{:.3},\
         \"cpu_sys_sec\":{:.3},\"max_rss_kib\":{}{first_error}}}",
        args.concurrency,
        if args.mode == Mode::Batch {
            args.batch_size
        } else {
            1
        },
        args.body_size,
        sent as f64 / elapsed,
        user1 - user0,
        sys1 - sys0,
        max_rss_kib()
    );
    producer.shutdown().await.map_err(|e| e.to_string())?;
    if sent == 0 {
        return Err("nothing was sent".into());
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            println!(
                "{{\"type\":\"error\",\"stage\":\"flags\",\"error\":{}}}",
                json_string(&e)
            );
            return std::process::ExitCode::from(2);
        }
    };
    let mut builder = match args.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rmq_send_bench: cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            println!(
                "{{\"type\":\"error\",\"stage\":\"send\",\"error\":{}}}",
                json_string(&e)
            );
            std::process::ExitCode::FAILURE
        }
    }
}
