//! Networking (being written).
