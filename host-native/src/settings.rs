//! The connection settings every client builder takes: name servers,
//! instance name, namespace, ACL credentials and TLS.
//!
//! Each builder holds one [`ClientSettings`] and gets its public setters
//! from [`client_settings_setters!`], so the setters have the same names,
//! documentation and behaviour on every client (as Java's `ClientConfig`
//! and `AclClientRPCHook` apply to any client), and [`ClientSettings::connect`]
//! turns them into the core's [`ClientConfig`] and the TLS connector in one
//! place.

use std::sync::Arc;

use rmq_core::acl::AclCredentials;
use rmq_core::client::{identify, name_servers_or_env, parse_name_servers};
use rmq_core::engine::ClientConfig;

use crate::clock::host_facts;
use crate::tls::TlsConnector;
use crate::{Error, TlsConfig};

/// Name servers, instance name, namespace, credentials and TLS of a client
/// being built (plus the client-wide knobs of [`ClientConfig`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientSettings {
    /// The core's client configuration: name servers, namespaces,
    /// credentials, serialization, intervals.
    config: ClientConfig,
    /// The instance name in the client id, when set.
    instance: Option<String>,
    /// TLS to every name server and broker, when set.
    tls: Option<TlsConfig>,
}

/// Settings checked and resolved at build: what the client is made with.
pub(crate) struct Connection {
    /// The core's configuration, with name servers and client id resolved.
    pub(crate) config: ClientConfig,
    /// The connector every connection uses, when TLS is on.
    pub(crate) tls: Option<Arc<TlsConnector>>,
    /// The TLS settings the connector was made of (a trace producer's).
    tls_config: Option<TlsConfig>,
}

impl Connection {
    /// How a trace producer of this client connects: to the same name
    /// servers, with the same ACL credentials (security token included) and
    /// TLS, and nothing else of this client (no namespace: trace records
    /// go to the trace topic as it is named).
    pub(crate) fn trace_settings(&self) -> ClientSettings {
        ClientSettings {
            config: ClientConfig {
                name_servers: self.config.name_servers.clone(),
                credentials: self.config.credentials.clone(),
                ..ClientConfig::default()
            },
            instance: None,
            tls: self.tls_config.clone(),
        }
    }
}

impl ClientSettings {
    /// Adds the name servers of `addrs` (`;`-separated `host:port`).
    pub(crate) fn add_name_servers(&mut self, addrs: &str) {
        self.config.name_servers.extend(parse_name_servers(addrs));
    }

    /// Sets the instance name of the client id.
    pub(crate) fn set_instance_name(&mut self, name: String) {
        self.instance = Some(name);
    }

    /// Sets the (v1) namespace.
    pub(crate) fn set_namespace(&mut self, namespace: String) {
        self.config.namespace = Some(namespace);
    }

    /// Sets the 5.x namespace v2.
    pub(crate) fn set_namespace_v2(&mut self, namespace: String) {
        self.config.namespace_v2 = Some(namespace);
    }

    /// Signs every request with `credentials`.
    pub(crate) fn set_credentials(&mut self, credentials: AclCredentials) {
        self.config.credentials = Some(credentials);
    }

    /// Speaks TLS to every name server and broker.
    pub(crate) fn set_tls(&mut self, tls: TlsConfig) {
        self.tls = Some(tls);
    }

    /// The core's configuration, for builders' other client-wide knobs
    /// (serialization, intervals).
    pub(crate) fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// Checks the settings and resolves them: name servers default to
    /// `NAMESRV_ADDR`, the client id is made of the instance name (or
    /// `default_instance`, or Java's `pid#nanos`), and the TLS settings
    /// become a connector (a bad one is an [`Error::Config`]).
    pub(crate) fn connect(self, default_instance: Option<&str>) -> Result<Connection, Error> {
        let ClientSettings {
            mut config,
            instance,
            tls,
        } = self;
        let env = std::env::var("NAMESRV_ADDR").ok();
        config.name_servers = name_servers_or_env(config.name_servers, env.as_deref())?;
        let instance = instance.as_deref().or(default_instance);
        identify(&mut config, &host_facts(), instance);
        let connector = crate::tls::connector_of(tls.as_ref())?;
        Ok(Connection {
            config,
            tls: connector,
            tls_config: tls,
        })
    }
}

/// The public setters of [`ClientSettings`] on a builder with a `settings`
/// field; `$client` names the client type in the examples.
macro_rules! client_settings_setters {
    ($client:literal) => {
        /// Adds name servers (`host:port`; host names are resolved).
        /// Several may be given, separated by `;` or by repeated calls.
        /// Default: the `NAMESRV_ADDR` environment variable.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .name_server("127.0.0.1:9876;127.0.0.2:9876");
        /// ```
        pub fn name_server(mut self, addr: impl AsRef<str>) -> Self {
            self.settings.add_name_servers(addr.as_ref());
            self
        }

        /// The instance name in the client id (Java `instanceName`;
        /// default `pid#nanos`, or `DEFAULT` for a broadcasting push
        /// consumer, as Java). Clients of one process with the same
        /// instance name share a client id.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .instance_name("orders-1");
        /// ```
        pub fn instance_name(mut self, name: impl Into<String>) -> Self {
            self.settings.set_instance_name(name.into());
            self
        }

        /// A namespace for every topic and group of this client (`ns%name`,
        /// as Java's `namespace`): results and messages show names without
        /// it.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .namespace("tenant_a");
        /// ```
        pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
            self.settings.set_namespace(namespace.into());
            self
        }

        /// 5.x namespace v2 (Java `namespaceV2`): names stay as they are
        /// and every request carries `ns` / `nsd` ext fields.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .namespace_v2("tenant_a");
        /// ```
        pub fn namespace_v2(mut self, namespace: impl Into<String>) -> Self {
            self.settings.set_namespace_v2(namespace.into());
            self
        }

        /// ACL credentials (ACL 1.0 access/secret key, or ACL 2.0 user
        /// name and password; Java's `AclClientRPCHook`): every request to
        /// name servers and brokers is signed.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .name_server("127.0.0.1:9876")
        ///     .credentials("myAccessKey", "mySecretKey");
        /// ```
        pub fn credentials(
            mut self,
            access_key: impl Into<String>,
            secret_key: impl Into<String>,
        ) -> Self {
            self.settings
                .set_credentials(rmq_core::acl::AclCredentials::new(access_key, secret_key));
            self
        }

        /// How often the client asks the name servers for the routes of
        /// the topics it uses (Java `pollNameServerInterval`; default 30 s,
        /// at least 1 s). A route change (a broker added, removed or
        /// stopped) reaches the client at the next poll; a send that cannot
        /// reach a broker asks for its topic's route again at once.
        ///
        /// ```
        #[doc = concat!("let builder = rmq::", $client, "::builder()")]
        ///     .poll_name_server_interval(std::time::Duration::from_secs(10));
        /// ```
        pub fn poll_name_server_interval(mut self, interval: std::time::Duration) -> Self {
            self.settings.config_mut().route_refresh_interval =
                interval.max(std::time::Duration::from_secs(1));
            self
        }

        /// TLS to every name server and broker (see [`crate::TlsConfig`]):
        /// needed for servers started with `tls.server.mode=enforcing`.
        ///
        /// ```
        #[doc = concat!("fn configure(ca_pem: Vec<u8>) -> rmq::", $client, "Builder {")]
        #[doc = concat!("    rmq::", $client, "::builder()")]
        ///         .name_server("127.0.0.1:9876")
        ///         .tls(rmq::TlsConfig::new().ca_pem(ca_pem))
        /// }
        /// ```
        pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
            self.settings.set_tls(tls);
            self
        }
    };
}

pub(crate) use client_settings_setters;
