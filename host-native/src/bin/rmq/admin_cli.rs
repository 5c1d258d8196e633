//! `rmq topic|cluster|group|query|trace`: administration, message lookup and
//! message trace. Tables for people, `--json` for scripts, a progress line
//! on standard error while a request runs (only when it is a terminal).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use rmq::rmq_core::message::OffsetMessageId;
use rmq::rmq_core::protocol::body::ConsumeStats;
use rmq::rmq_core::trace::{TraceRecord, TRACE_TOPIC};
use rmq::{Admin, ConsumeFrom, MessageExt, TopicConfig, QUERY_MAX};

use super::{broker_names, json_line, json_string, parse_consume_from, plain_line};

/// Errors that start with this exit with [`EXIT_NOT_FOUND`].
pub const NOT_FOUND: &str = "not found: ";
/// The exit code of a lookup that found nothing.
pub const EXIT_NOT_FOUND: u8 = 3;

/// What `rmq --help` says about exit codes.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    failure: a broker or name server refused or did not answer, bad input
  2    usage: unknown command or invalid arguments
  3    not found: query or trace found no message, a group has no progress
  130  consume: a second Ctrl-C or SIGTERM while shutting down";

/// The exit code for an error message.
pub fn exit_code(error: &str) -> u8 {
    if error.starts_with(NOT_FOUND) {
        EXIT_NOT_FOUND
    } else {
        1
    }
}

/// `rmq topic …`.
#[derive(Subcommand, Debug)]
pub enum TopicCmd {
    /// Create a topic, or update its queues and permission, on every master
    /// (of one cluster with --cluster).
    Create {
        /// Topic.
        topic: String,
        /// Read and write queues on each broker.
        #[arg(long, default_value_t = 8)]
        queues: i32,
        /// Permission: 2 write, 4 read, 6 both.
        #[arg(long, default_value_t = 6)]
        perm: i32,
        /// An ordered topic.
        #[arg(long)]
        order: bool,
        /// Only this cluster's masters.
        #[arg(long, short)]
        cluster: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic from every broker (of one cluster with --cluster) and
    /// from the name servers.
    Delete {
        /// Topic.
        topic: String,
        /// Only this cluster's brokers.
        #[arg(long, short)]
        cluster: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List every topic the name server knows.
    List {
        /// JSON output (an array of names).
        #[arg(long)]
        json: bool,
    },
}

/// `rmq group …`.
#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// Print a consumer group's progress: per queue the max offset, the
    /// committed offset, the lag and the last consume time.
    Lag {
        /// Consumer group.
        group: String,
        /// Only this topic (default: every topic the group consumes).
        #[arg(long, short)]
        topic: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Print a consumer group's live members and subscriptions.
    Members {
        /// Consumer group.
        group: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Move a consumer group's offsets to the first message stored at or
    /// after a time; online consumers are told by their brokers.
    Reset {
        /// Consumer group.
        group: String,
        /// `first`, `now`, a Unix time in ms, or `YYYY-MM-DDTHH:MM:SSZ` (UTC).
        #[arg(long, value_parser = parse_reset_time)]
        to: i64,
        /// Only this topic (default: every topic the group consumes).
        #[arg(long, short)]
        topic: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `rmq query`: one of --id or --key.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["id", "key"])))]
pub struct QueryArgs {
    /// A message id: the unique id producers return as msgId (needs
    /// --topic), or the broker's offset message id.
    #[arg(long)]
    id: Option<String>,
    /// A message key (needs --topic).
    #[arg(long, requires = "topic")]
    key: Option<String>,
    /// Topic.
    #[arg(long, short)]
    topic: Option<String>,
    /// Stored at or after (key and unique id queries; default: any time):
    /// a Unix time in ms or `YYYY-MM-DDTHH:MM:SSZ`.
    #[arg(long, value_parser = parse_reset_time)]
    begin: Option<i64>,
    /// Stored before (default: now).
    #[arg(long, value_parser = parse_reset_time)]
    end: Option<i64>,
    /// At most this many messages per broker (the broker caps it, 32 by
    /// default).
    #[arg(long, default_value_t = QUERY_MAX)]
    max: i32,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// `rmq trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The message's id (the unique id producers return as msgId).
    id: String,
    /// The trace topic.
    #[arg(long, default_value = TRACE_TOPIC)]
    trace_topic: String,
    /// One JSON object per record.
    #[arg(long)]
    json: bool,
}

// ----- progress, tables, times -------------------------------------------------

/// A one-line progress report on standard error, shown only when standard
/// error is a terminal, and erased when done.
struct Progress {
    on: bool,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn say(&mut self, what: &str) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{what}…");
            let _ = err.flush();
            self.shown = true;
        }
    }

    fn done(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

/// Columns aligned with two spaces between them; `right[i]` right-aligns
/// column `i` (numbers). The first row is the header.
fn table(rows: &[Vec<String>], right: &[bool]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `--to`, `--begin`, `--end`: `first` (0), `now`, Unix ms, or a UTC time.
fn parse_reset_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") || t.eq_ignore_ascii_case("last") {
        return Ok(now_ms());
    }
    match parse_consume_from(t) {
        Ok(ConsumeFrom::First) => Ok(0),
        Ok(ConsumeFrom::Timestamp(ms)) => Ok(ms),
        Ok(_) => Ok(now_ms()),
        Err(e) => Err(e.replace("first, last,", "first, now,")),
    }
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS.mmm` (UTC); `-` for 0 or less.
fn utc(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    json_string(&mut out, s);
    out
}

async fn connect(namesrv: &str) -> Result<Admin, String> {
    crate::connect_admin(namesrv).await
}

// ----- topic -------------------------------------------------------------------

/// `rmq topic …`.
pub async fn topic(namesrv: &str, cmd: TopicCmd) -> Result<(), String> {
    let admin = connect(namesrv).await?;
    let result = topic_with(&admin, cmd).await;
    let _ = admin.shutdown().await;
    result
}

async fn topic_with(admin: &Admin, cmd: TopicCmd) -> Result<(), String> {
    let mut progress = Progress::new();
    match cmd {
        TopicCmd::Create {
            topic,
            queues,
            perm,
            order,
            cluster,
            json,
        } => {
            if !(1..=1024).contains(&queues) {
                return Err(format!("--queues {queues}: must be 1 to 1024"));
            }
            if !(0..=7).contains(&perm) {
                return Err(format!("--perm {perm}: must be 0 to 7"));
            }
            let mut config = TopicConfig::new(topic.as_str()).queues(queues);
            config.perm = perm;
            config.order = order;
            config.cluster = cluster;
            progress.say(&format!("creating {topic}"));
            let brokers = admin
                .create_topic(&config)
                .await
                .map_err(|e| e.to_string())?;
            progress.done();
            if json {
                let list: Vec<String> = brokers.iter().map(|b| json_str(b)).collect();
                println!(
                    "{{\"topic\":{},\"queues\":{queues},\"perm\":{perm},\"order\":{order},\"brokers\":[{}]}}",
                    json_str(&topic),
                    list.join(",")
                );
            } else {
                println!(
                    "created {topic}: {queues} queues, perm {perm}, on {}",
                    brokers.join(", ")
                );
            }
        }
        TopicCmd::Delete {
            topic,
            cluster,
            json,
        } => {
            progress.say(&format!("deleting {topic}"));
            admin
                .delete_topic(&topic, cluster.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            progress.done();
            if json {
                println!("{{\"topic\":{},\"deleted\":true}}", json_str(&topic));
            } else {
                println!("deleted {topic}");
            }
        }
        TopicCmd::List { json } => {
            let topics = admin.topics().await.map_err(|e| e.to_string())?;
            if json {
                let list: Vec<String> = topics.iter().map(|t| json_str(t)).collect();
                println!("[{}]", list.join(","));
            } else {
                for t in &topics {
                    println!("{t}");
                }
            }
        }
    }
    Ok(())
}

// ----- cluster -----------------------------------------------------------------

/// `rmq cluster`: every cluster, broker and address, with each broker's
/// version and TPS.
pub async fn cluster(namesrv: &str, json: bool) -> Result<(), String> {
    let admin = connect(namesrv).await?;
    let result = cluster_with(&admin, json).await;
    let _ = admin.shutdown().await;
    result
}

async fn cluster_with(admin: &Admin, json: bool) -> Result<(), String> {
    let mut progress = Progress::new();
    progress.say("reading cluster info");
    let info = admin.cluster_info().await.map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (cluster, brokers) in &info.cluster_addr_table {
        for name in brokers {
            let Some(data) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &data.broker_addrs {
                progress.say(&format!("asking {name} ({addr})"));
                let stats = admin.broker_runtime_info(addr).await.ok();
                rows.push((cluster.clone(), name.clone(), *id, addr.clone(), stats));
            }
        }
    }
    progress.done();
    // The first of a broker's figures (`putTps` is "last 10 s, 1 min,
    // 10 min"), TPS with one decimal; 4.x spells `getTransferedTps`.
    let stat = |s: &Option<BTreeMap<String, String>>, key: &str| -> String {
        let keys: &[&str] = match key {
            "getTps" => &["getTransferredTps", "getTransferedTps"],
            other => std::slice::from_ref(match other {
                "putTps" => &"putTps",
                _ => &"brokerVersionDesc",
            }),
        };
        let value = keys
            .iter()
            .find_map(|k| s.as_ref()?.get(*k))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("");
        match value.parse::<f64>() {
            Ok(tps) if key != "brokerVersionDesc" => format!("{tps:.1}"),
            _ if value.is_empty() => "-".into(),
            _ => value.to_string(),
        }
    };
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|(cluster, name, id, addr, s)| {
                format!(
                    "{{\"cluster\":{},\"broker\":{},\"id\":{id},\"addr\":{},\"version\":{},\"putTps\":{},\"getTps\":{}}}",
                    json_str(cluster),
                    json_str(name),
                    json_str(addr),
                    json_str(&stat(s, "brokerVersionDesc")),
                    json_str(&stat(s, "putTps")),
                    json_str(&stat(s, "getTps")),
                )
            })
            .collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    let mut table_rows = vec![vec![
        "CLUSTER".to_string(),
        "BROKER".into(),
        "ID".into(),
        "ADDRESS".into(),
        "VERSION".into(),
        "PUT_TPS".into(),
        "GET_TPS".into(),
    ]];
    for (cluster, name, id, addr, s) in &rows {
        table_rows.push(vec![
            cluster.clone(),
            name.clone(),
            id.to_string(),
            addr.clone(),
            stat(s, "brokerVersionDesc"),
            stat(s, "putTps"),
            stat(s, "getTps"),
        ]);
    }
    print!(
        "{}",
        table(&table_rows, &[false, false, true, false, false, true, true])
    );
    Ok(())
}

// ----- group -------------------------------------------------------------------

/// `rmq group …`.
pub async fn group(namesrv: &str, cmd: GroupCmd) -> Result<(), String> {
    let admin = connect(namesrv).await?;
    let result = group_with(&admin, cmd).await;
    let _ = admin.shutdown().await;
    result
}

async fn group_with(admin: &Admin, cmd: GroupCmd) -> Result<(), String> {
    let mut progress = Progress::new();
    match cmd {
        GroupCmd::Lag { group, topic, json } => {
            progress.say(&format!("reading the progress of {group}"));
            let stats = admin
                .consume_stats(&group, topic.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            progress.done();
            if stats.offset_table.is_empty() {
                return Err(format!("{NOT_FOUND}group {group} has no offsets"));
            }
            print!("{}", lag_output(&stats, json));
        }
        GroupCmd::Members { group, json } => {
            progress.say(&format!("reading the members of {group}"));
            let c = admin
                .consumer_connections(&group)
                .await
                .map_err(|e| e.to_string())?;
            progress.done();
            if json {
                let members: Vec<String> = c
                    .connections
                    .iter()
                    .map(|m| {
                        format!(
                            "{{\"clientId\":{},\"clientAddr\":{},\"language\":{},\"version\":{}}}",
                            json_str(&m.client_id),
                            json_str(&m.client_addr),
                            json_str(&m.language),
                            m.version
                        )
                    })
                    .collect();
                let subs: Vec<String> = c
                    .subscriptions
                    .iter()
                    .map(|(t, e)| format!("{}:{}", json_str(t), json_str(e)))
                    .collect();
                println!(
                    "{{\"group\":{},\"messageModel\":{},\"members\":[{}],\"subscriptions\":{{{}}}}}",
                    json_str(&group),
                    c.message_model.as_deref().map_or("null".into(), json_str),
                    members.join(","),
                    subs.join(",")
                );
                return Ok(());
            }
            if c.connections.is_empty() {
                return Err(format!("{NOT_FOUND}group {group} has no member online"));
            }
            let mut rows = vec![vec![
                "CLIENT_ID".to_string(),
                "ADDRESS".into(),
                "LANGUAGE".into(),
                "VERSION".into(),
            ]];
            for m in &c.connections {
                rows.push(vec![
                    m.client_id.clone(),
                    m.client_addr.clone(),
                    m.language.clone(),
                    m.version.to_string(),
                ]);
            }
            print!("{}", table(&rows, &[false, false, false, true]));
            for (t, e) in &c.subscriptions {
                println!("subscription {t}: {e}");
            }
        }
        GroupCmd::Reset {
            group,
            to,
            topic,
            json,
        } => {
            let topics = match topic {
                Some(t) => vec![t],
                None => {
                    progress.say(&format!("finding the topics of {group}"));
                    let stats = admin
                        .consume_stats(&group, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut topics: Vec<String> = stats
                        .offset_table
                        .keys()
                        .map(|q| q.topic.clone())
                        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
                        .collect();
                    topics.dedup();
                    if topics.is_empty() {
                        return Err(format!(
                            "{NOT_FOUND}group {group} has no offsets: name the topic with --topic"
                        ));
                    }
                    topics
                }
            };
            let mut all = BTreeMap::new();
            for t in &topics {
                progress.say(&format!("resetting {group} on {t}"));
                let offsets = admin
                    .reset_offset(&group, t, to)
                    .await
                    .map_err(|e| e.to_string())?;
                all.extend(offsets);
            }
            progress.done();
            if json {
                let items: Vec<String> = all
                    .iter()
                    .map(|(q, o)| {
                        format!(
                            "{{\"topic\":{},\"broker\":{},\"queueId\":{},\"offset\":{o}}}",
                            json_str(&q.topic),
                            json_str(&q.broker_name),
                            q.queue_id
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            } else {
                let mut rows = vec![vec![
                    "TOPIC".to_string(),
                    "BROKER".into(),
                    "QUEUE".into(),
                    "OFFSET".into(),
                ]];
                for (q, o) in &all {
                    rows.push(vec![
                        q.topic.clone(),
                        q.broker_name.clone(),
                        q.queue_id.to_string(),
                        o.to_string(),
                    ]);
                }
                print!("{}", table(&rows, &[false, false, true, true]));
            }
        }
    }
    Ok(())
}

/// `group lag`'s table (a TOTAL row last) or JSON.
fn lag_output(stats: &ConsumeStats, json: bool) -> String {
    if json {
        let items: Vec<String> = stats
            .offset_table
            .iter()
            .map(|(q, w)| {
                format!(
                    "{{\"topic\":{},\"broker\":{},\"queueId\":{},\"brokerOffset\":{},\"consumerOffset\":{},\"lag\":{},\"lastTimestamp\":{}}}",
                    json_str(&q.topic),
                    json_str(&q.broker_name),
                    q.queue_id,
                    w.broker_offset,
                    w.consumer_offset,
                    w.lag(),
                    w.last_timestamp
                )
            })
            .collect();
        return format!(
            "{{\"totalLag\":{},\"consumeTps\":{},\"queues\":[{}]}}\n",
            stats.total_lag(),
            stats.consume_tps,
            items.join(",")
        );
    }
    let mut rows = vec![vec![
        "TOPIC".to_string(),
        "BROKER".into(),
        "QUEUE".into(),
        "BROKER_OFFSET".into(),
        "CONSUMER_OFFSET".into(),
        "LAG".into(),
        "LAST_CONSUMED (UTC)".into(),
    ]];
    let (mut broker, mut consumer) = (0i64, 0i64);
    for (q, w) in &stats.offset_table {
        broker += w.broker_offset;
        consumer += w.consumer_offset;
        rows.push(vec![
            q.topic.clone(),
            q.broker_name.clone(),
            q.queue_id.to_string(),
            w.broker_offset.to_string(),
            w.consumer_offset.to_string(),
            w.lag().to_string(),
            utc(w.last_timestamp),
        ]);
    }
    rows.push(vec![
        "TOTAL".to_string(),
        String::new(),
        String::new(),
        broker.to_string(),
        consumer.to_string(),
        stats.total_lag().to_string(),
        String::new(),
    ]);
    table(&rows, &[false, false, true, true, true, true, false])
}

// ----- query -------------------------------------------------------------------

/// `rmq query --id ID [--topic T] | --key KEY --topic T`.
pub async fn query(namesrv: &str, args: QueryArgs) -> Result<(), String> {
    let admin = connect(namesrv).await?;
    let result = query_with(&admin, args).await;
    let _ = admin.shutdown().await;
    result
}

async fn query_with(admin: &Admin, args: QueryArgs) -> Result<(), String> {
    let mut progress = Progress::new();
    let begin = args.begin.unwrap_or(0);
    let end = args.end.unwrap_or_else(|| now_ms() + 60_000);
    let mut found: Vec<MessageExt> = Vec::new();
    let what;
    if let Some(key) = &args.key {
        let topic = args.topic.as_deref().unwrap_or_default();
        what = format!("key {key} in {topic}");
        progress.say(&format!("querying {what}"));
        found = admin
            .query_by_key(topic, key, begin, end, args.max)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        let id = args.id.as_deref().unwrap_or_default();
        what = format!("id {id}");
        // A unique id first (it needs the topic), then an offset id.
        if let Some(topic) = &args.topic {
            progress.say(&format!("querying {what} in {topic}"));
            found = admin
                .query_by_unique_key(topic, id, begin, end)
                .await
                .map_err(|e| e.to_string())?;
        }
        if found.is_empty() && OffsetMessageId::decode(id).is_ok() {
            progress.say(&format!("reading offset {what}"));
            let viewed = admin.view_message(id).await;
            match viewed {
                Ok(Some(m)) => {
                    if args.topic.as_deref().is_none_or(|t| t == m.topic()) {
                        found.push(m);
                    }
                }
                Ok(None) => {}
                // Without a topic, an id that is no offset id is not found;
                // with one, the unique-id query already answered.
                Err(e) if args.topic.is_none() => {
                    return Err(format!("{NOT_FOUND}{what}: {e}"));
                }
                Err(_) => {}
            }
        }
    }
    progress.done();
    if found.is_empty() {
        return Err(format!("{NOT_FOUND}no message with {what}"));
    }
    // Broker names for the store addresses.
    let mut names = std::collections::HashMap::new();
    let mut topics: Vec<&str> = found.iter().map(MessageExt::topic).collect();
    topics.dedup();
    for t in topics {
        if let Ok(route) = admin.topic_route(t).await {
            names.extend(broker_names(&route));
        }
    }
    let mut out = String::new();
    for m in &found {
        let addr = m.store_host.to_string();
        let broker = names.get(&addr).cloned().unwrap_or(addr);
        if args.json {
            out.push_str(&query_json(m, &broker));
        } else {
            out.push_str(&query_block(m, &broker));
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// A message as `name: value` lines, for people; the body last.
fn query_block(m: &MessageExt, broker: &str) -> String {
    let mut props: Vec<String> = m
        .message
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    props.sort();
    let line = plain_line(m, broker);
    let body = line.split_once(" body=").map_or("", |(_, b)| b);
    let fields = [
        ("Topic", m.topic().to_string()),
        ("Msg ID", m.id().to_string()),
        ("Offset Msg ID", m.msg_id.clone()),
        ("Tags", m.tags().unwrap_or("-").to_string()),
        (
            "Keys",
            m.message
                .keys()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .collect::<String>(),
        ),
        ("Queue", format!("{broker}:{}", m.queue_id)),
        ("Queue Offset", m.queue_offset.to_string()),
        (
            "Born",
            format!("{} UTC from {}", utc(m.born_timestamp), m.born_host),
        ),
        (
            "Stored",
            format!("{} UTC on {}", utc(m.store_timestamp), m.store_host),
        ),
        ("Reconsume Times", m.reconsume_times.to_string()),
        ("Body Bytes", m.body().len().to_string()),
        ("Properties", props.join(" ")),
        ("Body", body.to_string()),
    ];
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in fields {
        let v = if v.is_empty() { "-".to_string() } else { v };
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    out
}

/// `consume --json`'s object plus the store fields.
fn query_json(m: &MessageExt, broker: &str) -> String {
    let mut line = json_line(m, broker);
    line.pop();
    line.push_str(&format!(
        ",\"offsetMsgId\":{},\"queueOffset\":{},\"bornTimestamp\":{},\"bornHost\":{},\"storeTimestamp\":{},\"storeHost\":{},\"reconsumeTimes\":{}}}",
        json_str(&m.msg_id),
        m.queue_offset,
        m.born_timestamp,
        json_str(&m.born_host.to_string()),
        m.store_timestamp,
        json_str(&m.store_host.to_string()),
        m.reconsume_times
    ));
    line
}

// ----- trace -------------------------------------------------------------------

/// `rmq trace ID`.
pub async fn trace(namesrv: &str, args: TraceArgs) -> Result<(), String> {
    let admin = connect(namesrv).await?;
    let mut progress = Progress::new();
    progress.say(&format!("reading the trace of {}", args.id));
    let records = admin.message_trace(&args.id, Some(&args.trace_topic)).await;
    let _ = admin.shutdown().await;
    progress.done();
    let records = records.map_err(|e| e.to_string())?;
    if records.is_empty() {
        return Err(format!(
            "{NOT_FOUND}no trace of {} in {}",
            args.id, args.trace_topic
        ));
    }
    if args.json {
        for r in &records {
            println!("{}", trace_json(r));
        }
        return Ok(());
    }
    print!("{}", trace_table(&records));
    Ok(())
}

/// One record as JSON: its type and fields.
fn trace_json(r: &TraceRecord) -> String {
    let s = json_str;
    let opt = |v: Option<&str>| v.map_or("null".to_string(), json_str);
    match r {
        TraceRecord::Pub(p) => format!(
            "{{\"type\":\"Pub\",\"timestamp\":{},\"regionId\":{},\"group\":{},\"topic\":{},\"msgId\":{},\"tags\":{},\"keys\":{},\"storeHost\":{},\"bodyLength\":{},\"costTime\":{},\"msgType\":{},\"offsetMsgId\":{},\"success\":{}}}",
            p.timestamp, s(&p.region_id), s(&p.group), s(&p.topic), s(&p.msg_id), s(&p.tags),
            s(&p.keys), s(&p.store_host), p.body_length, p.cost_ms, p.msg_type.ordinal(),
            opt(p.offset_msg_id.as_deref()), p.success
        ),
        TraceRecord::SubBefore(b) => format!(
            "{{\"type\":\"SubBefore\",\"timestamp\":{},\"regionId\":{},\"group\":{},\"requestId\":{},\"msgId\":{},\"retryTimes\":{},\"keys\":{}}}",
            b.timestamp, s(&b.region_id), s(&b.group), s(&b.request_id), s(&b.msg_id),
            b.retry_times, s(&b.keys)
        ),
        TraceRecord::SubAfter(a) => format!(
            "{{\"type\":\"SubAfter\",\"timestamp\":{},\"group\":{},\"requestId\":{},\"msgId\":{},\"costTime\":{},\"success\":{},\"keys\":{},\"contextCode\":{}}}",
            a.timestamp.map_or("null".into(), |t| t.to_string()), opt(a.group.as_deref()),
            s(&a.request_id), s(&a.msg_id), a.cost_ms, a.success, s(&a.keys),
            a.context_code.map_or("null".into(), |c| c.to_string())
        ),
        TraceRecord::EndTransaction(e) => format!(
            "{{\"type\":\"EndTransaction\",\"timestamp\":{},\"group\":{},\"topic\":{},\"msgId\":{},\"transactionId\":{},\"transactionState\":{},\"fromTransactionCheck\":{}}}",
            e.timestamp, s(&e.group), s(&e.topic), s(&e.msg_id), s(&e.transaction_id),
            s(&e.transaction_state), e.from_transaction_check
        ),
        TraceRecord::Recall(c) => format!(
            "{{\"type\":\"Recall\",\"timestamp\":{},\"group\":{},\"topic\":{},\"msgId\":{},\"success\":{}}}",
            c.timestamp, s(&c.group), s(&c.topic), s(&c.msg_id), c.success
        ),
    }
}

/// The records as a table, in time order.
fn trace_table(records: &[TraceRecord]) -> String {
    let mut rows = vec![vec![
        "TYPE".to_string(),
        "TIME (UTC)".into(),
        "GROUP".into(),
        "DETAIL".into(),
        "COST_MS".into(),
        "STATUS".into(),
    ]];
    let status = |ok: bool| if ok { "success" } else { "failed" }.to_string();
    for r in records {
        let (detail, cost, ok) = match r {
            TraceRecord::Pub(p) => (
                format!(
                    "topic={} broker={} bytes={}",
                    p.topic, p.store_host, p.body_length
                ),
                p.cost_ms.to_string(),
                status(p.success),
            ),
            TraceRecord::SubBefore(b) => (
                format!("request={} retry={}", b.request_id, b.retry_times),
                String::new(),
                "delivered".into(),
            ),
            TraceRecord::SubAfter(a) => (
                format!("request={}", a.request_id),
                a.cost_ms.to_string(),
                status(a.success),
            ),
            TraceRecord::EndTransaction(e) => (
                format!("topic={} state={}", e.topic, e.transaction_state),
                String::new(),
                e.transaction_state.clone(),
            ),
            TraceRecord::Recall(c) => (
                format!("topic={}", c.topic),
                String::new(),
                status(c.success),
            ),
        };
        rows.push(vec![
            r.type_name().to_string(),
            r.timestamp().map_or("-".into(), utc),
            r.group().unwrap_or("-").to_string(),
            detail,
            cost,
            ok,
        ]);
    }
    table(&rows, &[false, false, false, false, true, false])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_unix_ms() {
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(utc(951_868_800_500), "2000-03-01 00:00:00.500");
        assert_eq!(utc(0), "-");
    }

    #[test]
    fn tables_align_columns_and_right_align_numbers() {
        let rows = vec![
            vec!["NAME".to_string(), "N".into()],
            vec!["a".to_string(), "100".into()],
            vec!["longer".to_string(), "2".into()],
        ];
        assert_eq!(
            table(&rows, &[false, true]),
            "NAME      N\na       100\nlonger    2\n"
        );
    }

    #[test]
    fn reset_times_accept_first_now_millis_and_utc() {
        assert_eq!(parse_reset_time("first"), Ok(0));
        assert_eq!(parse_reset_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_reset_time("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        let now = parse_reset_time("now").unwrap();
        assert!((now - now_ms()).abs() < 10_000);
        assert!(parse_reset_time("yesterday").is_err());
    }

    #[test]
    fn not_found_errors_exit_with_3() {
        assert_eq!(exit_code(&format!("{NOT_FOUND}no message")), 3);
        assert_eq!(exit_code("broker refused"), 1);
    }
}
