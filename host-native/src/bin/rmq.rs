//! `rmq`: send messages and inspect routes from the command line.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rmq::{Admin, Message, Producer};

/// rmq: an Apache RocketMQ client.
#[derive(Parser, Debug)]
#[command(name = "rmq", version, about)]
struct Cli {
    /// Name servers, `host:port[;host:port]`.
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        global = true
    )]
    namesrv: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send one message and print the broker's acknowledgement.
    Send {
        /// Topic.
        #[arg(long, short)]
        topic: String,
        /// Tag.
        #[arg(long)]
        tag: Option<String>,
        /// Key (repeatable).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// User property `name=value` (repeatable).
        #[arg(long = "prop")]
        props: Vec<String>,
        /// Delay level 1-18 (1s 5s 10s 30s 1m 2m … 2h).
        #[arg(long, conflicts_with = "deliver_at")]
        delay_level: Option<u8>,
        /// Deliver at this Unix time in milliseconds (5.x timer messages).
        #[arg(long)]
        deliver_at: Option<i64>,
        /// Producer group.
        #[arg(long, default_value = "rmq_cli")]
        group: String,
        /// The body, or `-` to read standard input.
        body: String,
    },
    /// Print the route of a topic.
    Route {
        /// Topic.
        topic: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RMQ_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmq: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Cmd::Send {
            topic,
            tag,
            keys,
            props,
            delay_level,
            deliver_at,
            group,
            body,
        } => {
            let body = if body == "-" {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                buf
            } else {
                body.into_bytes()
            };
            let mut msg = Message::new(topic, body);
            if let Some(tag) = tag {
                msg = msg.with_tags(tag);
            }
            if !keys.is_empty() {
                msg = msg.with_keys(keys);
            }
            for p in props {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| format!("--prop {p}: expected name=value"))?;
                msg.put_user_property(k, v)
                    .map_err(|e| format!("--prop {p}: {e}"))?;
            }
            if let Some(level) = delay_level {
                msg = msg.with_delay_level(level);
            }
            if let Some(at) = deliver_at {
                msg = msg.with_deliver_at(at);
            }
            let producer = Producer::builder()
                .name_server(&cli.namesrv)
                .group(group)
                .build()
                .map_err(|e| e.to_string())?;
            producer.start().await.map_err(|e| e.to_string())?;
            let result = producer.send(msg).await;
            let _ = producer.shutdown().await;
            let r = result.map_err(|e| e.to_string())?;
            println!(
                "status={:?} msgId={} offsetMsgId={} broker={} queue={} queueOffset={}",
                r.status,
                r.msg_id,
                r.offset_msg_id,
                r.queue.broker_name,
                r.queue.queue_id,
                r.queue_offset
            );
            Ok(())
        }
        Cmd::Route { topic } => {
            let admin = Admin::connect(&cli.namesrv)
                .await
                .map_err(|e| e.to_string())?;
            let route = admin.topic_route(&topic).await;
            let _ = admin.shutdown().await;
            let route = route.map_err(|e| e.to_string())?;
            for b in &route.broker_datas {
                for (id, addr) in &b.broker_addrs {
                    println!(
                        "broker {} id={} addr={} cluster={}",
                        b.broker_name, id, addr, b.cluster
                    );
                }
            }
            for q in &route.queue_datas {
                println!(
                    "queues {} read={} write={} perm={}",
                    q.broker_name, q.read_queue_nums, q.write_queue_nums, q.perm
                );
            }
            Ok(())
        }
    }
}
