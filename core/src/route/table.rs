//! [`RouteTable`]: the publish and subscribe queues of one topic, derived
//! from its [`TopicRouteData`] by the Java client's rules.

use alloc::string::String;
use alloc::vec::Vec;

use super::data::{BrokerData, QueueData, TopicRouteData, MAX_ROUTE_QUEUES};
use super::perm;
use super::queue::MessageQueue;
use crate::acl::java_string_cmp;
use crate::collections::VecMap;

/// Java producers' default `defaultTopicQueueNums`: how many queues per
/// broker a topic gets when it is auto-created from the `TBW102` template.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

/// The queues of one topic and the addresses of the brokers serving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    topic: String,
    publish: Vec<MessageQueue>,
    subscribe: Vec<MessageQueue>,
    brokers: VecMap<String, BrokerData>,
    order_topic: bool,
}

impl RouteTable {
    /// Builds the table of `topic` from its route
    /// (Java `topicRouteData2TopicPublishInfo` / `…SubscribeInfo`).
    ///
    /// Publish queues: if `orderTopicConf` is non-empty, exactly the queues it
    /// lists (`broker:count;…`, malformed entries skipped), in its order.
    /// Otherwise queue datas sorted by broker name (stable); a broker
    /// contributes ids `0..writeQueueNums` if it has the WRITE permission and
    /// a master (id 0) address in the route.
    ///
    /// Subscribe queues: ids `0..readQueueNums` of every broker with the READ
    /// permission, sorted and deduplicated (Java keeps a set).
    ///
    /// Each list holds at most [`MAX_ROUTE_QUEUES`] queues; the rest of a
    /// larger route is left out.
    pub fn new(topic: &str, route: &TopicRouteData) -> Self {
        let mut brokers = VecMap::new();
        for b in &route.broker_datas {
            // The first entry of a name wins.
            brokers.get_or_insert_with(b.broker_name.clone(), || b.clone());
        }
        let conf = route.order_topic_conf.as_deref().filter(|c| !c.is_empty());
        let publish = match conf {
            Some(conf) => order_topic_queues(topic, conf),
            None => publish_queues(topic, route),
        };
        let mut subscribe: Vec<MessageQueue> = route
            .queue_datas
            .iter()
            .filter(|q| perm::is_readable(q.perm))
            .flat_map(|q| queue_range(topic, &q.broker_name, q.read_queue_nums))
            .take(MAX_ROUTE_QUEUES)
            .collect();
        crate::collections::sort(&mut subscribe);
        subscribe.dedup();
        Self {
            topic: String::from(topic),
            publish,
            subscribe,
            brokers,
            order_topic: conf.is_some(),
        }
    }

    /// Builds the table of a topic the name server does not know from the
    /// route of the auto-create template topic (`TBW102`): every queue data
    /// gets `min(default_topic_queue_nums, readQueueNums)` read and write
    /// queues, then [`RouteTable::new`] applies under the user's topic name.
    /// Java uses [`DEFAULT_TOPIC_QUEUE_NUMS`] unless configured.
    pub fn from_default_topic(
        topic: &str,
        template: &TopicRouteData,
        default_topic_queue_nums: i32,
    ) -> Self {
        let mut route = template.clone();
        for q in &mut route.queue_datas {
            let n = default_topic_queue_nums.min(q.read_queue_nums);
            q.read_queue_nums = n;
            q.write_queue_nums = n;
        }
        Self::new(topic, &route)
    }

    /// The topic this table routes.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues a producer may send to, in Java's order (round-robin and
    /// hash selectors index into this list).
    pub fn publish_queues(&self) -> &[MessageQueue] {
        &self.publish
    }

    /// Queues a consumer may pull from, sorted by [`MessageQueue`]'s order.
    pub fn subscribe_queues(&self) -> &[MessageQueue] {
        &self.subscribe
    }

    /// True when the publish queues come from `orderTopicConf`.
    pub fn is_order_topic(&self) -> bool {
        self.order_topic
    }

    /// The master's address of `broker_name`, if the route lists one.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.brokers.get(broker_name)?.master_addr()
    }

    /// The address of broker `id` (0 master, ≥ 1 slaves) of `broker_name`.
    pub fn broker_addr(&self, broker_name: &str, id: i64) -> Option<&str> {
        self.brokers
            .get(broker_name)?
            .broker_addrs
            .get(&id)
            .map(String::as_str)
    }

    /// The broker data of `broker_name`.
    pub fn broker(&self, broker_name: &str) -> Option<&BrokerData> {
        self.brokers.get(broker_name)
    }

    /// Names of the brokers in the route, sorted.
    pub fn broker_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.brokers.keys().map(String::as_str)
    }

    /// True when the route yields neither publish nor subscribe queues.
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty()
    }
}

fn queue_range<'a>(
    topic: &'a str,
    broker_name: &'a str,
    count: i32,
) -> impl Iterator<Item = MessageQueue> + 'a {
    (0..count.max(0)).map(move |id| MessageQueue::new(topic, broker_name, id))
}

fn publish_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut datas: Vec<&QueueData> = route.queue_datas.iter().collect();
    crate::collections::sort_by(&mut datas, |a, b| {
        java_string_cmp(&a.broker_name, &b.broker_name)
    });
    datas
        .into_iter()
        .filter(|q| perm::is_writeable(q.perm))
        .filter(|q| {
            route
                .broker(&q.broker_name)
                .is_some_and(|b| b.master_addr().is_some())
        })
        .flat_map(|q| queue_range(topic, &q.broker_name, q.write_queue_nums))
        .take(MAX_ROUTE_QUEUES)
        .collect()
}

fn order_topic_queues(topic: &str, conf: &str) -> Vec<MessageQueue> {
    conf.split(';')
        .filter_map(|entry| {
            let mut parts = entry.split(':');
            let broker = parts.next()?;
            let count = parts.next()?.trim().parse::<i32>().ok()?;
            Some((broker, count))
        })
        .flat_map(|(broker, count)| queue_range(topic, broker, count))
        .take(MAX_ROUTE_QUEUES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn qd(broker: &str, read: i32, write: i32, perm: i32) -> QueueData {
        QueueData {
            broker_name: broker.into(),
            read_queue_nums: read,
            write_queue_nums: write,
            perm,
            topic_sys_flag: 0,
        }
    }

    fn bd(broker: &str, ids: &[i64]) -> BrokerData {
        BrokerData {
            cluster: "DefaultCluster".into(),
            broker_name: broker.into(),
            broker_addrs: ids
                .iter()
                .map(|id| (*id, alloc::format!("{broker}-{id}:10911")))
                .collect(),
            enable_acting_master: false,
            zone_name: None,
        }
    }

    fn route(queues: Vec<QueueData>, brokers: Vec<BrokerData>) -> TopicRouteData {
        TopicRouteData {
            queue_datas: queues,
            broker_datas: brokers,
            order_topic_conf: None,
        }
    }

    #[test]
    fn a_huge_order_topic_conf_builds_at_most_the_route_queue_limit() {
        let mut r = route(vec![], vec![bd("b", &[0])]);
        r.order_topic_conf = Some(alloc::format!("b:{};c:{}", i32::MAX, i32::MAX));
        let t = RouteTable::new("T", &r);
        assert_eq!(t.publish_queues().len(), MAX_ROUTE_QUEUES);
    }

    #[test]
    fn hand_built_huge_queue_datas_build_at_most_the_route_queue_limit() {
        let r = route(
            vec![
                qd("b", i32::MAX, i32::MAX, 6),
                qd("c", i32::MAX, i32::MAX, 6),
            ],
            vec![bd("b", &[0]), bd("c", &[0])],
        );
        let t = RouteTable::new("T", &r);
        assert_eq!(t.publish_queues().len(), MAX_ROUTE_QUEUES);
        assert_eq!(t.subscribe_queues().len(), MAX_ROUTE_QUEUES);
    }

    fn ids(qs: &[MessageQueue]) -> Vec<(&str, i32)> {
        qs.iter()
            .map(|q| (q.broker_name.as_str(), q.queue_id))
            .collect()
    }

    #[test]
    fn publish_queues_follow_sorted_broker_names() {
        let r = route(
            vec![qd("broker-b", 2, 2, 6), qd("broker-a", 2, 2, 6)],
            vec![bd("broker-b", &[0]), bd("broker-a", &[0])],
        );
        let t = RouteTable::new("T", &r);
        assert_eq!(
            ids(t.publish_queues()),
            [
                ("broker-a", 0),
                ("broker-a", 1),
                ("broker-b", 0),
                ("broker-b", 1)
            ]
        );
        assert!(t.publish_queues().iter().all(|q| q.topic == "T"));
    }

    #[test]
    fn publish_queues_use_write_queue_nums() {
        let r = route(vec![qd("a", 8, 3, 6)], vec![bd("a", &[0])]);
        assert_eq!(RouteTable::new("T", &r).publish_queues().len(), 3);
    }

    #[test]
    fn read_only_broker_publishes_nothing_but_is_subscribable() {
        let r = route(vec![qd("a", 4, 4, perm::READ)], vec![bd("a", &[0])]);
        let t = RouteTable::new("T", &r);
        assert!(t.publish_queues().is_empty());
        assert_eq!(t.subscribe_queues().len(), 4);
        assert!(!t.is_empty());
    }

    #[test]
    fn write_only_broker_is_not_subscribable() {
        let r = route(vec![qd("a", 4, 4, perm::WRITE)], vec![bd("a", &[0])]);
        let t = RouteTable::new("T", &r);
        assert_eq!(t.publish_queues().len(), 4);
        assert!(t.subscribe_queues().is_empty());
    }

    #[test]
    fn broker_with_only_slaves_is_excluded_from_publishing() {
        let r = route(
            vec![qd("a", 2, 2, 6), qd("b", 2, 2, 6)],
            vec![bd("a", &[0, 1]), bd("b", &[1, 2])],
        );
        let t = RouteTable::new("T", &r);
        assert_eq!(ids(t.publish_queues()), [("a", 0), ("a", 1)]);
        assert_eq!(t.subscribe_queues().len(), 4);
        assert_eq!(t.master_addr("b"), None);
        assert_eq!(t.broker_addr("b", 2), Some("b-2:10911"));
    }

    #[test]
    fn broker_missing_from_broker_datas_is_excluded_from_publishing() {
        let r = route(
            vec![qd("a", 2, 2, 6), qd("ghost", 2, 2, 6)],
            vec![bd("a", &[0])],
        );
        assert_eq!(
            ids(RouteTable::new("T", &r).publish_queues()),
            [("a", 0), ("a", 1)]
        );
    }

    #[test]
    fn subscribe_queues_are_sorted_and_use_read_queue_nums() {
        let r = route(
            vec![qd("b", 1, 4, 6), qd("a", 2, 1, 6)],
            vec![bd("a", &[0]), bd("b", &[0])],
        );
        let t = RouteTable::new("T", &r);
        assert_eq!(ids(t.subscribe_queues()), [("a", 0), ("a", 1), ("b", 0)]);
    }

    #[test]
    fn order_topic_conf_defines_publish_queues() {
        let mut r = route(
            vec![qd("a", 4, 4, 6), qd("b", 4, 4, 6)],
            vec![bd("a", &[0])],
        );
        r.order_topic_conf = Some("b:2;a:1".into());
        let t = RouteTable::new("T", &r);
        assert!(t.is_order_topic());
        assert_eq!(ids(t.publish_queues()), [("b", 0), ("b", 1), ("a", 0)]);
    }

    #[test]
    fn empty_order_topic_conf_is_ignored() {
        let mut r = route(vec![qd("a", 1, 1, 6)], vec![bd("a", &[0])]);
        r.order_topic_conf = Some(String::new());
        let t = RouteTable::new("T", &r);
        assert!(!t.is_order_topic());
        assert_eq!(ids(t.publish_queues()), [("a", 0)]);
    }

    #[test]
    fn malformed_order_topic_conf_entries_are_skipped() {
        let mut r = route(vec![], vec![]);
        r.order_topic_conf = Some("a:2;;b;c:x;d:1;".into());
        let t = RouteTable::new("T", &r);
        assert_eq!(ids(t.publish_queues()), [("a", 0), ("a", 1), ("d", 0)]);
    }

    #[test]
    fn default_topic_route_caps_queues_at_min_of_default_and_read_nums() {
        // TBW102 on two brokers with 8 and 2 read queues, perm 7 (R|W|INHERIT).
        let tbw = route(
            vec![qd("a", 8, 8, 7), qd("b", 2, 8, 7)],
            vec![bd("a", &[0]), bd("b", &[0])],
        );
        let t = RouteTable::from_default_topic("NewTopic", &tbw, DEFAULT_TOPIC_QUEUE_NUMS);
        assert_eq!(t.topic(), "NewTopic");
        assert_eq!(
            ids(t.publish_queues()),
            [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 0), ("b", 1)]
        );
        assert!(t.publish_queues().iter().all(|q| q.topic == "NewTopic"));
    }

    #[test]
    fn broker_names_are_sorted_and_unique() {
        let r = route(vec![], vec![bd("b", &[0]), bd("a", &[0]), bd("b", &[1])]);
        let t = RouteTable::new("T", &r);
        assert_eq!(t.broker_names().collect::<Vec<_>>(), ["a", "b"]);
        // The first listing of a duplicated broker wins.
        assert_eq!(t.master_addr("b"), Some("b-0:10911"));
    }

    #[test]
    fn route_without_queues_is_empty() {
        let t = RouteTable::new("T", &route(vec![], vec![bd("a", &[0])]));
        assert!(t.is_empty());
    }

    #[test]
    fn negative_queue_counts_yield_no_queues() {
        let r = route(vec![qd("a", -1, -5, 6)], vec![bd("a", &[0])]);
        assert!(RouteTable::new("T", &r).is_empty());
    }
}
