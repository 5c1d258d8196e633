//! rmq: the tokio host over `rmq-core`.
