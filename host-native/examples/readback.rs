//! Reads every message of a topic back from the broker (raw pulls over each
//! queue from offset 0) and prints topic, tags, keys, properties and body.
//!
//! `NAMESRV_ADDR=127.0.0.1:9876 cargo run -p rmq --example readback -- test`

use rmq::{Admin, PullStatus};

#[tokio::main]
async fn main() -> Result<(), rmq::Error> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let topic = std::env::args().nth(1).unwrap_or_else(|| "test".into());
    let admin = Admin::connect(&namesrv).await?;
    let route = admin.topic_route(&topic).await?;
    let table = rmq::RouteTable::new(&topic, &route);
    let mut total = 0;
    for queue in table.subscribe_queues() {
        let mut offset = 0;
        loop {
            let r = admin.pull("rmq_readback", queue, offset, 32).await?;
            for m in &r.messages {
                total += 1;
                println!(
                    "read back {}:{}@{} tags={} keys={:?} msgId={} body={:?}",
                    queue.broker_name,
                    queue.queue_id,
                    m.queue_offset,
                    m.message.tags().unwrap_or("-"),
                    m.message.keys().collect::<Vec<_>>(),
                    m.id(),
                    String::from_utf8_lossy(&m.message.body),
                );
            }
            if r.status != PullStatus::Found || r.next_begin_offset <= offset {
                break;
            }
            offset = r.next_begin_offset;
        }
    }
    println!("{total} message(s) in topic {topic}");
    admin.shutdown().await
}
