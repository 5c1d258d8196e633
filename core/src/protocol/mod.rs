//! The remoting protocol: frames, commands, codes, headers and JSON bodies.

pub mod binary_header;
pub mod body;
pub mod codes;
pub mod command;
pub mod fields;
pub mod frame;
pub mod headers;
pub mod json;
pub mod json_header;

pub use codes::{request_code, response_code};
pub use command::{
    encode_frame, encode_request, CommandMeta, EncodeError, FieldSource, HeaderDecodeError,
    LanguageCode, RemotingCommand, SerializeType, DEFAULT_VERSION, ONEWAY_FLAG, RESPONSE_FLAG,
};
pub use fields::{CommandHeader, ExtFields, FieldSink, FieldValue, FromField, HeaderError};
pub use frame::{decode_command, FrameDecoder, FrameError};
pub use json::{JsonError, JsonNumber, JsonValue};
