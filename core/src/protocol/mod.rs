//! The remoting protocol: frames, commands, codes, headers and JSON bodies.

pub mod fields;
pub mod json;
