//! GET_BROKER_CLUSTER_INFO (106) and GET_CONSUMER_LIST_BY_GROUP (38) bodies.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{list, object, present, string_item, BodyError};
use crate::protocol::json;
use crate::route::BrokerData;

/// The name server's view of all clusters (Java `ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// Broker name → broker data (addresses keyed by broker id).
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → names of its brokers.
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    /// Parses the body (fastjson, unquoted broker-id keys accepted).
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "ClusterInfo")?;
        let mut info = Self::default();
        if let Some(table) = present(&root, "brokerAddrTable") {
            let members = table.as_object().ok_or(BodyError::Invalid {
                field: "brokerAddrTable",
            })?;
            for (name, data) in members {
                let name = name.key_text().ok_or(BodyError::Invalid {
                    field: "brokerAddrTable",
                })?;
                info.broker_addr_table
                    .insert(String::from(name), BrokerData::from_json(data)?);
            }
        }
        if let Some(table) = present(&root, "clusterAddrTable") {
            let field = "clusterAddrTable";
            let members = table.as_object().ok_or(BodyError::Invalid { field })?;
            for (cluster, names) in members {
                let cluster = cluster.key_text().ok_or(BodyError::Invalid { field })?;
                let names = names
                    .as_array()
                    .ok_or(BodyError::Invalid { field })?
                    .iter()
                    .map(|n| string_item(n, field))
                    .collect::<Result<_, _>>()?;
                info.cluster_addr_table.insert(String::from(cluster), names);
            }
        }
        Ok(info)
    }

    /// Master addresses of the brokers of `cluster` (brokers without a
    /// master are skipped), in the cluster table's order.
    pub fn master_addrs(&self, cluster: &str) -> Vec<&str> {
        self.cluster_addr_table
            .get(cluster)
            .into_iter()
            .flatten()
            .filter_map(|b| self.broker_addr_table.get(b)?.master_addr())
            .collect()
    }
}

/// GET_CONSUMER_LIST_BY_GROUP response body
/// (Java `GetConsumerListByGroupResponseBody`): `{"consumerIdList":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerListBody {
    /// Client IDs of the group's live consumers, as the broker lists them.
    pub consumer_id_list: Vec<String>,
}

impl ConsumerListBody {
    /// Parses the body; an absent list is empty.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "GetConsumerListByGroupResponseBody")?;
        let field = "consumerIdList";
        let consumer_id_list = list(&root, field)?
            .iter()
            .map(|v| string_item(v, field))
            .collect::<Result<_, _>>()?;
        Ok(Self { consumer_id_list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &[u8] = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false},"broker-b":{"brokerAddrs":{1:"10.0.0.8:10911"},"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}"#;

    #[test]
    fn parses_cluster_info_with_unquoted_broker_ids() {
        let info = ClusterInfo::parse(CLUSTER).unwrap();
        let a = &info.broker_addr_table["broker-a"];
        assert_eq!(a.master_addr(), Some("10.0.0.5:10911"));
        assert_eq!(a.broker_addrs.len(), 2);
        assert_eq!(
            info.cluster_addr_table["DefaultCluster"],
            ["broker-a", "broker-b"]
        );
    }

    #[test]
    fn master_addrs_skip_brokers_without_master() {
        let info = ClusterInfo::parse(CLUSTER).unwrap();
        assert_eq!(info.master_addrs("DefaultCluster"), ["10.0.0.5:10911"]);
        assert!(info.master_addrs("Other").is_empty());
    }

    #[test]
    fn cluster_info_rejects_non_string_broker_names() {
        let body = br#"{"clusterAddrTable":{"c":[1]}}"#;
        assert_eq!(
            ClusterInfo::parse(body),
            Err(BodyError::Invalid {
                field: "clusterAddrTable"
            })
        );
    }

    #[test]
    fn parses_consumer_id_list() {
        let body = br#"{"consumerIdList":["10.0.0.1@1#2","10.0.0.2@3#4"]}"#;
        assert_eq!(
            ConsumerListBody::parse(body).unwrap().consumer_id_list,
            ["10.0.0.1@1#2", "10.0.0.2@3#4"]
        );
    }

    #[test]
    fn absent_consumer_id_list_is_empty() {
        assert!(ConsumerListBody::parse(b"{}")
            .unwrap()
            .consumer_id_list
            .is_empty());
    }

    #[test]
    fn consumer_list_rejects_non_object() {
        assert!(ConsumerListBody::parse(b"[\"a\"]").is_err());
    }
}
