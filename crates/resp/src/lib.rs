//! RESP protocol (being written).
