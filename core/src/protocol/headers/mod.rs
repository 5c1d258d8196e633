//! Typed request and response headers: one struct per Java
//! `CommandCustomHeader`, each mapped onto ext fields with the exact keys the
//! broker and name server expect.
//!
//! Conventions, the same for every header:
//! - Rust field names are the Java field names in snake case (two exceptions,
//!   each documented: the wire typo `proxyFrowardClientId` and `isForce`).
//! - A Java field annotated `@CFNotNull` is a plain field and its absence when
//!   decoding is [`HeaderError::Missing`];
//!   every other field is an `Option`, written only when `Some`. Java fields
//!   with a primitive default (for example `committed = true`) are `Option`
//!   too: `None` means "the peer applies its default", and Java peers always
//!   send such fields, so decoded values are usually `Some`.
//! - Fields are written in Java declaration order, inherited keys last.
//!
//! # Inherited keys (`ns`, `nsd`, `bname`, `oway`, `lo`)
//!
//! Java request headers that extend `RpcRequestHeader` (and its subclasses
//! `TopicRequestHeader` / `TopicQueueRequestHeader`) inherit up to five optional
//! keys. Every such header here embeds them as `pub rpc: RpcHeaderExtras`, so
//! `header.rpc.broker_name` is the `bname` key. Headers that do not extend
//! `RpcRequestHeader` in Java (responses, `ViewMessageRequestHeader`) have no
//! `rpc` field. [`SendMessageRequestHeaderV2`] is the one subclass without it:
//! its Java codec reads and writes only the keys `a`..`n`, and `n` is its
//! broker name.

use super::fields::FieldValue;
#[cfg(doc)]
use super::fields::{CommandHeader, HeaderError};
use alloc::string::String;

/// Declares a header struct and its [`CommandHeader`] impl from one table of
/// fields.
///
/// Each field line is `name: req Type => "key"` (Java `@CFNotNull`),
/// `name: opt Type => "key"` (nullable: the field is `Option<Type>`), or
/// `name: flat Type` (a nested [`CommandHeader`] whose keys are written
/// inline, used for [`RpcHeaderExtras`]).
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $kind:ident $ty:ty $(=> $key:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $crate::protocol::headers::field_ty!($kind $ty),
            )*
        }

        impl $crate::protocol::fields::CommandHeader for $name {
            #[allow(unused_variables)]
            fn write_fields<S: $crate::protocol::fields::FieldSink + ?Sized>(&self, sink: &mut S) {
                $(
                    $crate::protocol::headers::write_field!($kind sink, &self.$field $(, $key)?);
                )*
            }

            #[allow(unused_variables)]
            fn from_fields(
                fields: &$crate::protocol::fields::ExtFields,
            ) -> Result<Self, $crate::protocol::fields::HeaderError> {
                Ok(Self {
                    $(
                        $field: $crate::protocol::headers::read_field!($kind fields, $ty $(, $key)?),
                    )*
                })
            }
        }
    };
}

/// The Rust type of a field of the given kind.
macro_rules! field_ty {
    (req $ty:ty) => { $ty };
    (opt $ty:ty) => { Option<$ty> };
    (flat $ty:ty) => { $ty };
}

/// Writes one field of the given kind.
macro_rules! write_field {
    (req $sink:ident, $value:expr, $key:literal) => {
        $sink.field($key, $crate::protocol::headers::ToField::to_field($value))
    };
    (opt $sink:ident, $value:expr, $key:literal) => {
        if let Some(v) = $value {
            $sink.field($key, $crate::protocol::headers::ToField::to_field(v));
        }
    };
    (flat $sink:ident, $value:expr) => {
        $crate::protocol::fields::CommandHeader::write_fields($value, $sink)
    };
}

/// Reads one field of the given kind.
macro_rules! read_field {
    (req $fields:ident, $ty:ty, $key:literal) => {
        $fields.required::<$ty>($key)?
    };
    (opt $fields:ident, $ty:ty, $key:literal) => {
        $fields.optional::<$ty>($key)?
    };
    (flat $fields:ident, $ty:ty) => {
        <$ty as $crate::protocol::fields::CommandHeader>::from_fields($fields)?
    };
}

// The submodules below see `command_header!` by textual scope (it is
// defined above them); the helpers are also reachable by path for its
// expansion.
pub(crate) use {field_ty, read_field, write_field};

pub mod admin;
pub mod client;
pub mod incoming;
pub mod offset;
pub mod pop;
pub mod pull;
pub mod query;
pub mod route;
pub mod send;
pub mod transaction;

pub use admin::{
    CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader, TopicFilterType,
};
pub use client::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader,
    UnregisterClientRequestHeader,
};
pub use incoming::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
    NotifyConsumerIdsChangedRequestHeader, ReplyMessageRequestHeader, ResetOffsetRequestHeader,
};
pub use offset::{
    BoundaryType, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
pub use pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
pub use pull::{PullMessageRequestHeader, PullMessageResponseHeader};
pub use query::{QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader};
pub use route::GetRouteInfoRequestHeader;
pub use send::{SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader};
pub use transaction::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TransactionResolution,
};

/// A value a header can write as one ext field.
pub trait ToField {
    /// The field value, borrowing from `self`.
    fn to_field(&self) -> FieldValue<'_>;
}

impl ToField for String {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Str(self)
    }
}

impl ToField for i32 {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Int(i64::from(*self))
    }
}

impl ToField for i64 {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Int(*self)
    }
}

impl ToField for bool {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Bool(*self)
    }
}

command_header! {
    /// The optional keys Java's `RpcRequestHeader` family adds to a request
    /// header (see the [module docs](self)).
    ///
    /// `lo` belongs to `TopicRequestHeader` in Java; headers that extend only
    /// `RpcRequestHeader` never carry it, so leave it `None` there.
    pub struct RpcHeaderExtras {
        /// `ns`: the namespace the resources belong to.
        namespace: opt String => "ns",
        /// `nsd`: whether names in the header already carry the namespace.
        namespaced: opt bool => "nsd",
        /// `bname`: the target broker name (Java 5.x sets it; static topics
        /// need it).
        broker_name: opt String => "bname",
        /// `oway`: the request is one-way.
        oneway: opt bool => "oway",
        /// `lo`: "logical" (static-topic) addressing, on topic headers only.
        lo: opt bool => "lo",
    }
}

impl RpcHeaderExtras {
    /// Extras carrying only a broker name (`bname`), the common case.
    pub fn with_broker_name(broker_name: impl Into<String>) -> Self {
        Self {
            broker_name: Some(broker_name.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Checks shared by every header's tests.
    use crate::protocol::fields::{CommandHeader, ExtFields, HeaderError};
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Debug;

    /// Encoding then decoding gives the header back.
    pub fn assert_round_trip<H: CommandHeader + PartialEq + Debug>(header: &H) {
        let fields = header.to_ext_fields();
        assert_eq!(H::from_fields(&fields).as_ref(), Ok(header));
    }

    /// The header writes exactly `keys` (in any order), each once.
    pub fn assert_keys<H: CommandHeader>(header: &H, keys: &[&str]) {
        let mut written: Vec<String> = header
            .to_ext_fields()
            .iter()
            .map(|(k, _)| String::from(k))
            .collect();
        let mut expected: Vec<String> = keys.iter().map(|k| String::from(*k)).collect();
        written.sort();
        expected.sort();
        assert_eq!(written, expected);
    }

    /// Removing any one of `required` from the header's fields makes
    /// decoding fail with `Missing` for that key.
    pub fn assert_required<H: CommandHeader + Debug>(header: &H, required: &[&'static str]) {
        for key in required {
            let mut fields: ExtFields = header.to_ext_fields();
            assert!(fields.remove(key).is_some(), "`{key}` was not written");
            assert_eq!(
                H::from_fields(&fields).err(),
                Some(HeaderError::Missing { key }),
                "removing `{key}`"
            );
        }
    }

    /// Generates the four specification tests every header gets: round trip
    /// with every field set, round trip with no optional field set, the exact
    /// keys written with every field set, and `Missing` for each required key.
    macro_rules! header_spec {
        (
            $modname:ident,
            full: $full:expr,
            minimal: $minimal:expr,
            keys: [$($key:literal),* $(,)?],
            required: [$($req:literal),* $(,)?] $(,)?
        ) => {
            mod $modname {
                // The parent test module glob-imports `test_support`.
                use super::*;

                #[test]
                fn round_trips_with_every_field_set() {
                    assert_round_trip(&$full);
                }

                #[test]
                fn round_trips_with_no_optional_field_set() {
                    assert_round_trip(&$minimal);
                }

                #[test]
                fn writes_exactly_its_keys() {
                    assert_keys(&$full, &[$($key),*]);
                }

                #[test]
                fn writes_only_required_keys_when_optionals_are_none() {
                    assert_keys(&$minimal, &[$($req),*]);
                }

                #[test]
                fn reports_each_missing_required_key() {
                    assert_required(&$full, &[$($req),*]);
                }
            }
        };
    }
    pub(crate) use header_spec;

    /// Every inherited key set, for `full` fixtures.
    pub fn full_extras() -> super::RpcHeaderExtras {
        super::RpcHeaderExtras {
            namespace: Some("ns1".into()),
            namespaced: Some(true),
            broker_name: Some("broker-a".into()),
            oneway: Some(false),
            lo: Some(true),
        }
    }

    /// Every key a header extending only Java's `RpcRequestHeader` (not
    /// `TopicRequestHeader`) carries: all but `lo`.
    pub fn rpc_only_extras() -> super::RpcHeaderExtras {
        super::RpcHeaderExtras {
            lo: None,
            ..full_extras()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::protocol::fields::{CommandHeader, ExtFields, HeaderError};

    header_spec!(
        rpc_extras,
        full: full_extras(),
        minimal: RpcHeaderExtras::default(),
        keys: ["ns", "nsd", "bname", "oway", "lo"],
        required: [],
    );

    #[test]
    fn empty_extras_write_nothing() {
        assert!(RpcHeaderExtras::default().to_ext_fields().is_empty());
    }

    #[test]
    fn broker_name_is_written_as_bname() {
        let f = RpcHeaderExtras::with_broker_name("broker-a").to_ext_fields();
        assert_eq!(f.get("bname"), Some("broker-a"));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn malformed_integer_is_invalid() {
        let f: ExtFields = [("offset", "x12")].into_iter().collect();
        assert_eq!(
            GetMinOffsetResponseHeader::from_fields(&f),
            Err(HeaderError::Invalid { key: "offset" })
        );
    }

    #[test]
    fn booleans_are_written_as_java_literals() {
        let e = RpcHeaderExtras {
            oneway: Some(true),
            namespaced: Some(false),
            ..RpcHeaderExtras::default()
        };
        let f = e.to_ext_fields();
        assert_eq!(f.get("oway"), Some("true"));
        assert_eq!(f.get("nsd"), Some("false"));
    }
}
