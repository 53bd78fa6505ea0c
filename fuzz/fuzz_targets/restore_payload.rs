//! RESTORE payloads are client-supplied bytes: any input must give a value or an error
//! (`ERR DUMP payload version or checksum are wrong` / `Bad data format`), never a panic, a
//! hang or unbounded memory. The checksum is fixed up for half of the inputs, so the fuzzer
//! reaches the value decoders behind it.
#![no_main]

use cinnabar_engine::rdb::{self, crc64, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lim = Limits::default();
    let _ = rdb::restore(data, &lim);
    if data.len() >= 10 {
        // Same body with a valid version (11) and checksum.
        let mut p = data[..data.len() - 10].to_vec();
        p.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64::crc64(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        let _ = rdb::restore(&p, &lim);
    }
});
