//! The one error type every host hands its users (the tokio host
//! re-exports it as `rmq::Error`), and the mapping into it from the
//! engine's and the roles' own errors.

use alloc::string::String;

use crate::engine::RequestError;
use crate::message::ValidationError;
use crate::producer::SendError;

/// Everything an rmq call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The message (or batch) broke a rule; nothing was sent.
    #[error("invalid message: {0}")]
    InvalidMessage(ValidationError),
    /// The name servers know no route for the topic.
    #[error("no route for topic {topic}: {reason}")]
    NoRoute {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// No answer before the deadline; the message may or may not be stored.
    #[error("timed out waiting for broker {broker}")]
    Timeout {
        /// The broker of the last attempt (`-` if none was reached).
        broker: String,
    },
    /// The broker refused the request.
    #[error("broker {broker} answered code {code}: {remark}")]
    Broker {
        /// The broker name or address.
        broker: String,
        /// The response code.
        code: i32,
        /// The broker's remark.
        remark: String,
    },
    /// A connection could not be opened or broke.
    #[error("connection to {addr} failed: {reason}")]
    Connection {
        /// The peer.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The client was used before `start()`.
    #[error("client not started: call start() first")]
    NotStarted,
    /// The client was shut down.
    #[error("client is shut down")]
    ShutDown,
    /// The settings are unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A response could not be understood, or a request not encoded.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The broker does not offer this feature (POP on a 4.x broker).
    #[error("broker {broker} does not support {feature}")]
    Unsupported {
        /// The broker address.
        broker: String,
        /// What is missing.
        feature: String,
    },
    /// The broker refused the request for lack of permission (ACL, or a
    /// topic or broker that forbids it): code 16 NO_PERMISSION.
    #[error("permission denied by broker {broker}: {remark}")]
    PermissionDenied {
        /// The broker address.
        broker: String,
        /// The broker's remark.
        remark: String,
    },
}

impl Error {
    /// The error for a broker's answer `code` (not SUCCESS) with `remark`:
    /// NO_PERMISSION is [`Error::PermissionDenied`], and so is a 4.x ACL 1.0
    /// refusal (SYSTEM_ERROR with an `AclException` remark: a bad or
    /// missing signature, or no permission on the topic or group);
    /// REQUEST_CODE_NOT_SUPPORTED is [`Error::Unsupported`], anything else
    /// [`Error::Broker`].
    pub fn from_broker_code(broker: &str, code: i32, remark: String) -> Self {
        use crate::protocol::response_code;
        match code {
            response_code::NO_PERMISSION => Error::PermissionDenied {
                broker: broker.into(),
                remark,
            },
            response_code::SYSTEM_ERROR if is_acl_refusal(&remark) => Error::PermissionDenied {
                broker: broker.into(),
                remark,
            },
            response_code::REQUEST_CODE_NOT_SUPPORTED => Error::Unsupported {
                broker: broker.into(),
                feature: remark,
            },
            _ => Error::Broker {
                broker: broker.into(),
                code,
                remark,
            },
        }
    }
}

impl Error {
    /// The error for a refused request (send, pull, admin): a permission
    /// refusal (see [`Error::from_broker_code`]) is
    /// [`Error::PermissionDenied`], anything else [`Error::Broker`].
    pub fn from_refusal(broker: &str, code: i32, remark: String) -> Self {
        match Error::from_broker_code(broker, code, remark) {
            denied @ Error::PermissionDenied { .. } => denied,
            Error::Unsupported { broker, feature } => Error::Broker {
                broker,
                code,
                remark: feature,
            },
            other => other,
        }
    }
}

/// A 4.x broker with ACL 1.0 answers every refusal of its access
/// validator as SYSTEM_ERROR with the exception in the remark
/// (`org.apache.rocketmq.acl.common.AclException: No default permission
/// for topic:…`, `…: Check signature failed for accessKey=…`).
fn is_acl_refusal(remark: &str) -> bool {
    remark.contains("AclException")
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid(v) => Error::InvalidMessage(v),
            SendError::NoRoute { topic, reason } => Error::NoRoute { topic, reason },
            SendError::Timeout { broker } => Error::Timeout { broker },
            SendError::Broker {
                broker,
                code,
                remark,
            } => Error::from_refusal(&broker, code, remark),
            SendError::Connection { addr, reason } => Error::Connection { addr, reason },
            SendError::Unencodable { reason } => Error::Protocol(reason),
            SendError::NotRunning => Error::ShutDown,
        }
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Timeout { addr } => Error::Timeout { broker: addr },
            RequestError::Connection { addr, reason } => Error::Connection { addr, reason },
            RequestError::ShutDown => Error::ShutDown,
            RequestError::NoNameServer => Error::Config("no name server address".into()),
            RequestError::Unencodable { reason } => Error::Protocol(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::response_code;

    #[test]
    fn a_refused_send_of_no_permission_is_permission_denied() {
        let e = Error::from(SendError::Broker {
            broker: "b".into(),
            code: response_code::NO_PERMISSION,
            remark: "no".into(),
        });
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    }

    #[test]
    fn a_4x_acl_exception_is_permission_denied() {
        let remark =
            "org.apache.rocketmq.acl.common.AclException: No default permission for topic:t";
        let e = Error::from_broker_code("b", response_code::SYSTEM_ERROR, remark.into());
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    }

    #[test]
    fn another_system_error_stays_a_broker_error() {
        let e = Error::from_broker_code("b", response_code::SYSTEM_ERROR, "disk full".into());
        assert!(matches!(e, Error::Broker { code: 1, .. }), "{e:?}");
    }
}
