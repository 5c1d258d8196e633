//! Errors a user can act on: the core's one error type, as it is.

pub use rmq_core::client::Error;
