//! Real-broker harness.
