//! End-to-end tests of zhibu: the real server driven by the real client.
