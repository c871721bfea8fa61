//! The township server.
