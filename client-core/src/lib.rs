//! The phone's offline library: durable local store, edits, queries and sync.

pub mod store;
