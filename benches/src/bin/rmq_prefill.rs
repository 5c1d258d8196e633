//! `rmq_prefill`: creates a topic with a given number of queues on every
//! master that serves the auto-create template (`TBW102`), waits until the
//! name server routes it, then (with `--count N`) fills it with N messages
//! sent as batches. `cargo xtask bench` uses it for the consume section's
//! topic and for each latency run's fresh, empty topic.
//!
//! ```text
//! rmq_prefill --namesrv 127.0.0.1:9876 --topic T [--queues 8] [--count 0]
//!     [--body-size 1024] [--batch-size 32] [--concurrency 4] [--group G]
//! ```
//!
//! Summary: `{"type":"summary","sent":N,"errors":0,"msgs_per_sec":...,...}`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{max_rss_kib, Flags, Mark};
use rmq::rmq_core::protocol::headers::{CreateTopicRequestHeader, TopicFilterType};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::{Admin, Message, Producer, RouteTable};

struct Args {
    namesrv: String,
    topic: String,
    group: String,
    queues: i32,
    count: u64,
    body_size: usize,
    batch_size: u64,
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let f = Flags::parse(&[
        "namesrv",
        "topic",
        "group",
        "queues",
        "count",
        "body-size",
        "batch-size",
        "concurrency",
    ])?;
    Ok(Args {
        namesrv: f.string("namesrv", "127.0.0.1:9876"),
        topic: f.required("topic")?,
        group: f.string("group", &format!("rmq_prefill_{}", std::process::id())),
        queues: f.number("queues", 8i32)?.max(1),
        count: f.number("count", 0)?,
        body_size: f.number("body-size", 1024)?,
        batch_size: f.number("batch-size", 32u64)?.max(1),
        concurrency: f.number("concurrency", 4usize)?.max(1),
    })
}

/// Creates `topic` (read/write queues = `queues`) on every master of the
/// template's route, then waits (bounded) until the name server routes it
/// with that many write queues per broker.
async fn create_topic(admin: &Admin, topic: &str, queues: i32) -> Result<(), String> {
    let template = admin
        .topic_route("TBW102")
        .await
        .map_err(|e| format!("route of TBW102: {e}"))?;
    for broker in &template.broker_datas {
        let addr = broker
            .master_addr()
            .ok_or_else(|| format!("{} has no master", broker.broker_name))?
            .to_string();
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
            rpc: Default::default(),
        };
        let cmd =
            RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC, 0).with_header(&header);
        let resp = admin
            .request(Some(&addr), cmd, Duration::from_secs(5))
            .await
            .map_err(|e| format!("create {topic} on {addr}: {e}"))?;
        if resp.code != response_code::SUCCESS {
            return Err(format!("create {topic} on {addr}: {resp:?}"));
        }
    }
    let want = template.broker_datas.len() * queues as usize;
    let start = Instant::now();
    loop {
        if let Ok(route) = admin.topic_route(topic).await {
            if RouteTable::new(topic, &route).publish_queues().len() >= want {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("the name server never routed {topic}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let admin = Admin::connect(&args.namesrv)
        .await
        .map_err(|e| e.to_string())?;
    create_topic(&admin, &args.topic, args.queues).await?;
    let _ = admin.shutdown().await;
    if args.count == 0 {
        println!(
            "{{\"type\":\"summary\",\"client\":\"rmq\",\"topic\":{},\"queues\":{},\"sent\":0,\
             \"errors\":0,\"msgs_per_sec\":0,\"cpu_user_sec\":0,\"cpu_sys_sec\":0,\
             \"max_rss_kib\":{}}}",
            common::json_string(&args.topic),
            args.queues,
            max_rss_kib()
        );
        return Ok(());
    }

    let producer = Producer::builder()
        .name_server(&args.namesrv)
        .group(&args.group)
        .retries(2)
        .send_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    producer.start().await.map_err(|e| e.to_string())?;
    let message = Message::new(
        args.topic.as_str(),
        bytes::Bytes::from(common::filler(args.body_size)),
    );
    let claimed = Arc::new(AtomicU64::new(0));
    let start = Mark::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (producer, message, claimed) = (producer.clone(), message.clone(), claimed.clone());
        let (count, batch_size) = (args.count, args.batch_size);
        tasks.push(tokio::spawn(async move {
            loop {
                let from = claimed.fetch_add(batch_size, Ordering::Relaxed);
                if from >= count {
                    return Ok(());
                }
                let n = batch_size.min(count - from) as usize;
                let mut tries = 0;
                loop {
                    match producer.send_batch(vec![message.clone(); n]).await {
                        Ok(_) => break,
                        Err(e) if tries >= 3 => return Err(format!("batch send: {e}")),
                        Err(_) => tries += 1,
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let end = Mark::now();
    let (user, sys) = start.cpu_to(&end);
    let elapsed = start.seconds_to(&end);
    println!(
        "{{\"type\":\"summary\",\"client\":\"rmq\",\"topic\":{},\"queues\":{},\"sent\":{},\
         \"errors\":0,\"elapsed_sec\":{elapsed:.3},\"msgs_per_sec\":{:.1},\
         \"cpu_user_sec\":{user:.3},\"cpu_sys_sec\":{sys:.3},\"max_rss_kib\":{}}}",
        common::json_string(&args.topic),
        args.queues,
        args.count,
        args.count as f64 / elapsed,
        max_rss_kib()
    );
    producer.shutdown().await.map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    match common::flags_or_exit(parse_args) {
        Ok(args) => common::run(0, run(args)),
        Err(code) => code,
    }
}
