//! `TopicRouteData` as the name server sends it (PROTOCOL.md §4.1).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::RouteError;
use crate::protocol::json::{self, JsonValue};

/// Broker id of a master in [`BrokerData::broker_addrs`]; slaves are ≥ 1.
pub const MASTER_ID: i64 = 0;

/// The most queues (read, or write) one route may add up to over all its
/// brokers. [`TopicRouteData::parse`] refuses a route above it as
/// [`RouteError::Invalid`], and [`super::RouteTable`] never builds more
/// (an `orderTopicConf` is cut there): a peer's absurd queue counts cannot
/// make the client allocate without bound. Real clusters stay far below
/// (hundreds of brokers × 16 queues).
pub const MAX_ROUTE_QUEUES: usize = 32 * 1024;

/// A topic's route: its queues per broker and the brokers' addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    /// Queue counts and permissions, one entry per broker.
    pub queue_datas: Vec<QueueData>,
    /// Brokers serving the topic and their addresses.
    pub broker_datas: Vec<BrokerData>,
    /// Name-server KV config for ordered topics, `"brokerA:4;brokerB:8"`;
    /// when present and non-empty it defines the publish queues exactly.
    pub order_topic_conf: Option<String>,
}

/// The queues of a topic on one broker (Java `QueueData`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueData {
    /// Broker (group) name.
    pub broker_name: String,
    /// Number of readable queues (ids `0..read_queue_nums`).
    pub read_queue_nums: i32,
    /// Number of writable queues (ids `0..write_queue_nums`).
    pub write_queue_nums: i32,
    /// Permission bits, see [`super::perm`].
    pub perm: i32,
    /// Topic system flags (1 UNIT, 2 UNIT_SUB); `topicSynFlag` on ≤ 4.8.
    pub topic_sys_flag: i32,
}

/// One broker group: its name and the addresses of its master and slaves
/// (Java `BrokerData`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    /// Cluster name.
    pub cluster: String,
    /// Broker (group) name.
    pub broker_name: String,
    /// Broker id → `"ip:port"`; id [`MASTER_ID`] is the master.
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x: a slave may act as master while the master is down.
    pub enable_acting_master: bool,
    /// Optional zone name (5.x).
    pub zone_name: Option<String>,
}

impl TopicRouteData {
    /// Parses a GET_ROUTEINFO_BY_TOPIC response body.
    ///
    /// Accepts standard JSON and fastjson's unquoted integer keys. Unknown
    /// fields (`filterServerTable`, `topicQueueMappingByBroker`, …) are
    /// ignored; absent lists are empty; `null` counts as absent.
    pub fn parse(body: &[u8]) -> Result<Self, RouteError> {
        let root = json::parse(body)?;
        Self::from_json(&root)
    }

    /// Reads a route from an already parsed JSON object.
    pub fn from_json(root: &JsonValue) -> Result<Self, RouteError> {
        if root.as_object().is_none() {
            return Err(RouteError::Invalid {
                field: "TopicRouteData",
            });
        }
        let queue_datas: Vec<QueueData> = list(root, "queueDatas")?
            .iter()
            .map(QueueData::from_json)
            .collect::<Result<_, _>>()?;
        // A route the client would expand into more queues than any real
        // cluster has is refused, before a table is built from it.
        let total = |count: fn(&QueueData) -> i32| {
            queue_datas
                .iter()
                .map(|q| usize::try_from(count(q)).unwrap_or(0))
                .fold(0usize, usize::saturating_add)
        };
        if total(|q| q.read_queue_nums) > MAX_ROUTE_QUEUES {
            return Err(RouteError::Invalid {
                field: "readQueueNums",
            });
        }
        if total(|q| q.write_queue_nums) > MAX_ROUTE_QUEUES {
            return Err(RouteError::Invalid {
                field: "writeQueueNums",
            });
        }
        let broker_datas = list(root, "brokerDatas")?
            .iter()
            .map(BrokerData::from_json)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            queue_datas,
            broker_datas,
            order_topic_conf: opt_str(root, "orderTopicConf")?,
        })
    }

    /// The broker data named `broker_name` (the first, if listed twice).
    pub fn broker(&self, broker_name: &str) -> Option<&BrokerData> {
        self.broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)
    }
}

impl QueueData {
    /// Reads one `queueDatas` element.
    pub fn from_json(v: &JsonValue) -> Result<Self, RouteError> {
        if v.as_object().is_none() {
            return Err(RouteError::Invalid {
                field: "queueDatas",
            });
        }
        let topic_sys_flag = match opt_i32(v, "topicSysFlag")? {
            Some(f) => f,
            None => opt_i32(v, "topicSynFlag")?.unwrap_or(0),
        };
        Ok(Self {
            broker_name: req_str(v, "brokerName")?,
            read_queue_nums: opt_i32(v, "readQueueNums")?.unwrap_or(0),
            write_queue_nums: opt_i32(v, "writeQueueNums")?.unwrap_or(0),
            perm: opt_i32(v, "perm")?.unwrap_or(0),
            topic_sys_flag,
        })
    }
}

impl BrokerData {
    /// Reads one broker data object (a `brokerDatas` element, or a value of
    /// ClusterInfo's `brokerAddrTable`).
    pub fn from_json(v: &JsonValue) -> Result<Self, RouteError> {
        if v.as_object().is_none() {
            return Err(RouteError::Invalid {
                field: "brokerDatas",
            });
        }
        let mut broker_addrs = BTreeMap::new();
        if let Some(addrs) = present(v, "brokerAddrs") {
            let members = addrs.as_object().ok_or(RouteError::Invalid {
                field: "brokerAddrs",
            })?;
            for (key, addr) in members {
                let id = key
                    .key_text()
                    .and_then(|k| k.trim().parse::<i64>().ok())
                    .ok_or(RouteError::Invalid {
                        field: "brokerAddrs",
                    })?;
                let addr = addr.as_str().ok_or(RouteError::Invalid {
                    field: "brokerAddrs",
                })?;
                broker_addrs.insert(id, String::from(addr));
            }
        }
        Ok(Self {
            cluster: opt_str(v, "cluster")?.unwrap_or_default(),
            broker_name: req_str(v, "brokerName")?,
            broker_addrs,
            enable_acting_master: opt_bool(v, "enableActingMaster")?.unwrap_or(false),
            zone_name: opt_str(v, "zoneName")?,
        })
    }

    /// The master's address (broker id 0), if the broker has a live master.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    /// The master's address, else the lowest-id slave's (Java picks a random
    /// slave; this choice is deterministic).
    pub fn preferred_addr(&self) -> Option<&str> {
        self.master_addr()
            .or_else(|| self.broker_addrs.values().next().map(String::as_str))
    }
}

/// The member `key`, treating `null` as absent.
fn present<'a>(v: &'a JsonValue, key: &str) -> Option<&'a JsonValue> {
    v.get(key).filter(|x| !x.is_null())
}

fn list<'a>(v: &'a JsonValue, field: &'static str) -> Result<&'a [JsonValue], RouteError> {
    match present(v, field) {
        None => Ok(&[]),
        Some(x) => x.as_array().ok_or(RouteError::Invalid { field }),
    }
}

fn opt_str(v: &JsonValue, field: &'static str) -> Result<Option<String>, RouteError> {
    present(v, field)
        .map(|x| {
            x.as_str()
                .map(String::from)
                .ok_or(RouteError::Invalid { field })
        })
        .transpose()
}

fn req_str(v: &JsonValue, field: &'static str) -> Result<String, RouteError> {
    opt_str(v, field)?.ok_or(RouteError::Missing { field })
}

fn opt_i32(v: &JsonValue, field: &'static str) -> Result<Option<i32>, RouteError> {
    present(v, field)
        .map(|x| {
            x.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or(RouteError::Invalid { field })
        })
        .transpose()
}

fn opt_bool(v: &JsonValue, field: &'static str) -> Result<Option<bool>, RouteError> {
    present(v, field)
        .map(|x| x.as_bool().ok_or(RouteError::Invalid { field }))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json::JsonErrorKind;

    /// PROTOCOL.md §4.1, as a 5.x name server writes it with fastjson.
    const FASTJSON_ROUTE: &[u8] = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    fn route_with_counts(read: i64, write: i64, copies: usize) -> alloc::vec::Vec<u8> {
        let one = alloc::format!(
            r#"{{"brokerName":"b","perm":6,"readQueueNums":{read},"writeQueueNums":{write}}}"#
        );
        let all = alloc::vec![one; copies].join(",");
        alloc::format!(r#"{{"brokerDatas":[],"queueDatas":[{all}]}}"#).into_bytes()
    }

    #[test]
    fn absurd_queue_counts_are_refused_as_invalid() {
        assert_eq!(
            TopicRouteData::parse(&route_with_counts(i32::MAX.into(), 4, 1)),
            Err(RouteError::Invalid {
                field: "readQueueNums"
            })
        );
        assert_eq!(
            TopicRouteData::parse(&route_with_counts(4, i32::MAX.into(), 1)),
            Err(RouteError::Invalid {
                field: "writeQueueNums"
            })
        );
    }

    #[test]
    fn queue_counts_summed_over_brokers_are_bounded() {
        let per = (MAX_ROUTE_QUEUES / 4) as i64;
        assert!(TopicRouteData::parse(&route_with_counts(per, per, 4)).is_ok());
        assert!(TopicRouteData::parse(&route_with_counts(per, per, 5)).is_err());
        // Negative counts mean no queues, as before.
        assert!(TopicRouteData::parse(&route_with_counts(-5, -5, 3)).is_ok());
    }

    #[test]
    fn parses_fastjson_unquoted_broker_ids() {
        let r = TopicRouteData::parse(FASTJSON_ROUTE).unwrap();
        assert_eq!(r.broker_datas.len(), 1);
        let b = &r.broker_datas[0];
        assert_eq!(b.cluster, "DefaultCluster");
        assert_eq!(b.broker_name, "broker-a");
        assert_eq!(b.master_addr(), Some("10.0.0.5:10911"));
        assert_eq!(
            b.broker_addrs.get(&1).map(String::as_str),
            Some("10.0.0.6:10911")
        );
        assert!(!b.enable_acting_master);
        assert_eq!(
            r.queue_datas,
            [QueueData {
                broker_name: "broker-a".into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                perm: 6,
                topic_sys_flag: 0,
            }]
        );
        assert_eq!(r.order_topic_conf, None);
    }

    #[test]
    fn parses_standard_json_with_quoted_broker_ids() {
        let body = br#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"c","enableActingMaster":true,"zoneName":"z1"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":1,"writeQueueNums":8}],"orderTopicConf":"broker-a:8"}"#;
        let r = TopicRouteData::parse(body).unwrap();
        let b = &r.broker_datas[0];
        assert_eq!(b.master_addr(), Some("10.0.0.5:10911"));
        assert!(b.enable_acting_master);
        assert_eq!(b.zone_name.as_deref(), Some("z1"));
        assert_eq!(r.queue_datas[0].topic_sys_flag, 1);
        assert_eq!(r.order_topic_conf.as_deref(), Some("broker-a:8"));
    }

    #[test]
    fn accepts_legacy_topic_syn_flag_spelling() {
        // Name servers up to 4.8.x write `topicSynFlag`.
        let body = br#"{"brokerDatas":[],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSynFlag":2,"writeQueueNums":4}]}"#;
        let r = TopicRouteData::parse(body).unwrap();
        assert_eq!(r.queue_datas[0].topic_sys_flag, 2);
    }

    #[test]
    fn ignores_unknown_fields_and_nulls() {
        let body = br#"{"orderTopicConf":null,"topicQueueMappingByBroker":{"b":{"x":1}},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":1,"extra":[1,2]}],"brokerDatas":[{"brokerName":"b","cluster":"c","brokerAddrs":{0:"a:1"},"zoneName":null}]}"#;
        let r = TopicRouteData::parse(body).unwrap();
        assert_eq!(r.order_topic_conf, None);
        assert_eq!(r.broker_datas[0].zone_name, None);
    }

    #[test]
    fn preferred_addr_falls_back_to_lowest_slave() {
        let body = br#"{"brokerDatas":[{"brokerAddrs":{2:"s2:1",1:"s1:1"},"brokerName":"b","cluster":"c"}],"queueDatas":[]}"#;
        let r = TopicRouteData::parse(body).unwrap();
        let b = r.broker("b").unwrap();
        assert_eq!(b.master_addr(), None);
        assert_eq!(b.preferred_addr(), Some("s1:1"));
    }

    #[test]
    fn rejects_non_json() {
        let err = TopicRouteData::parse(b"not json").unwrap_err();
        assert!(matches!(err, RouteError::Json(e) if e.kind == JsonErrorKind::UnexpectedChar));
    }

    #[test]
    fn rejects_a_queue_data_without_broker_name() {
        let body = br#"{"queueDatas":[{"perm":6}],"brokerDatas":[]}"#;
        assert_eq!(
            TopicRouteData::parse(body),
            Err(RouteError::Missing {
                field: "brokerName"
            })
        );
    }

    #[test]
    fn rejects_non_numeric_broker_id() {
        let body =
            br#"{"queueDatas":[],"brokerDatas":[{"brokerName":"b","brokerAddrs":{"x":"a:1"}}]}"#;
        assert_eq!(
            TopicRouteData::parse(body),
            Err(RouteError::Invalid {
                field: "brokerAddrs"
            })
        );
    }

    #[test]
    fn rejects_queue_count_out_of_i32_range() {
        let body = br#"{"queueDatas":[{"brokerName":"b","readQueueNums":4294967296}]}"#;
        assert_eq!(
            TopicRouteData::parse(body),
            Err(RouteError::Invalid {
                field: "readQueueNums"
            })
        );
    }

    #[test]
    fn rejects_a_top_level_array() {
        assert_eq!(
            TopicRouteData::parse(b"[]"),
            Err(RouteError::Invalid {
                field: "TopicRouteData"
            })
        );
    }
}
