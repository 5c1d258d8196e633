//! Queue allocation against vectors written by the Java client's own
//! strategy classes (rocketmq-client 5.5.0; see
//! `tests/vectors/allocation/README.md`): for every case and every current
//! client id, rmq must return exactly Java's queues, in Java's order, or fail
//! where Java throws (with Java's message), or skip where Java's rebalance
//! does not allocate.

use std::path::PathBuf;

use rmq_core::consumer::{
    rebalance_allocation, AllocateError, AllocateStrategy, MachineRoomResolver,
};
use rmq_core::route::MessageQueue;

const VECTOR_FILE: &str = "tests/vectors/allocation/rocketmq-client-5.5.0.txt";

/// Reverses the generator's `%XX` escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// `~` is the empty list; otherwise items separated by `|`.
fn list(field: &str) -> Vec<&str> {
    if field == "~" {
        Vec::new()
    } else {
        field.split('|').collect()
    }
}

fn strings(field: &str) -> Vec<String> {
    list(field).into_iter().map(unescape).collect()
}

fn queues(field: &str) -> Vec<MessageQueue> {
    list(field)
        .into_iter()
        .map(|item| {
            let parts: Vec<&str> = item.split('/').collect();
            assert_eq!(parts.len(), 3, "bad queue `{item}`");
            MessageQueue::new(
                unescape(parts[0]),
                unescape(parts[1]),
                parts[2].parse().unwrap(),
            )
        })
        .collect()
}

fn separator(token: &str) -> char {
    let s = unescape(token);
    let mut chars = s.chars();
    let c = chars.next().unwrap();
    assert!(chars.next().is_none(), "separator `{s}` is not one char");
    c
}

/// Parses a strategy from its space-separated tokens.
fn strategy<'a>(tokens: &mut impl Iterator<Item = &'a str>) -> AllocateStrategy {
    let mut next = || tokens.next().expect("strategy truncated");
    match next() {
        "avg" => AllocateStrategy::Averagely,
        "circle" => AllocateStrategy::AveragelyByCircle,
        "hash" => AllocateStrategy::ConsistentHash {
            virtual_nodes: next().parse().unwrap(),
        },
        "config" => AllocateStrategy::ByConfig(queues(next())),
        "room" => AllocateStrategy::ByMachineRoom {
            consumer_idcs: strings(next()),
        },
        "nearby" => {
            let broker_separator = separator(next());
            let client_separator = separator(next());
            AllocateStrategy::MachineRoomNearby {
                inner: Box::new(strategy(tokens)),
                resolver: MachineRoomResolver::Prefix {
                    broker_separator,
                    client_separator,
                },
            }
        }
        other => panic!("unknown strategy `{other}`"),
    }
}

struct Case {
    name: String,
    rebalance: bool,
    group: String,
    strategy: AllocateStrategy,
    queues: Vec<MessageQueue>,
    cids: Vec<String>,
}

/// What Java did for one current client id.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<MessageQueue>),
    Err(String),
    Skip(String),
}

fn expected(outcome: &str, payload: &str) -> Outcome {
    match outcome {
        "ok" => Outcome::Ok(queues(payload)),
        "err" => Outcome::Err(unescape(payload)),
        "skip" => Outcome::Skip(payload.to_owned()),
        other => panic!("unknown outcome `{other}`"),
    }
}

fn actual(case: &Case, current: &str) -> Outcome {
    let result = if case.rebalance {
        rebalance_allocation(
            &case.strategy,
            &case.group,
            current,
            &case.queues,
            &case.cids,
        )
    } else {
        case.strategy
            .allocate(&case.group, current, &case.queues, &case.cids)
    };
    match result {
        Ok(queues) => Outcome::Ok(queues),
        // In rebalance mode these two mean "Java did not call the strategy".
        Err(AllocateError::EmptyQueues) if case.rebalance => Outcome::Skip("mqSet".into()),
        Err(AllocateError::EmptyClients) if case.rebalance => Outcome::Skip("cidAll".into()),
        Err(e) => Outcome::Err(e.to_string()),
    }
}

#[test]
fn every_strategy_allocates_exactly_like_the_java_client() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(VECTOR_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut case: Option<Case> = None;
    let (mut cases, mut allocs) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[0] {
            "case" => {
                assert_eq!(fields.len(), 8, "line {}: {line}", n + 1);
                let mut tokens = fields[4].split(' ');
                let parsed = Case {
                    name: unescape(fields[1]),
                    rebalance: match fields[2] {
                        "rebalance" => true,
                        "direct" => false,
                        other => panic!("line {}: unknown mode `{other}`", n + 1),
                    },
                    group: unescape(fields[3]),
                    strategy: strategy(&mut tokens),
                    queues: queues(fields[6]),
                    cids: strings(fields[7]),
                };
                assert!(
                    tokens.next().is_none(),
                    "line {}: strategy has extra tokens",
                    n + 1
                );
                if parsed.strategy.name() != fields[5] {
                    failures.push(format!(
                        "{}: name {:?}, Java {:?}",
                        parsed.name,
                        parsed.strategy.name(),
                        fields[5]
                    ));
                }
                cases += 1;
                case = Some(parsed);
            }
            "alloc" => {
                assert_eq!(fields.len(), 4, "line {}: {line}", n + 1);
                let case = case.as_ref().expect("alloc before any case");
                let current = unescape(fields[1]);
                let want = expected(fields[2], fields[3]);
                let got = actual(case, &current);
                if got != want {
                    failures.push(format!(
                        "{} (line {}), current cid {current:?}:\n    rmq:  {got:?}\n    Java: {want:?}",
                        case.name,
                        n + 1
                    ));
                }
                allocs += 1;
            }
            other => panic!("line {}: unknown record `{other}`", n + 1),
        }
    }
    assert!(
        cases >= 1000 && allocs >= 5000,
        "too few vectors: {cases} cases, {allocs} allocations"
    );
    assert!(
        failures.is_empty(),
        "{} of {allocs} allocations ({cases} cases) differ from Java; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
