//! RDB files: a corrupt or hostile file must stop loading with an error naming the offset,
//! never a panic, a hang or unbounded memory.
#![no_main]

use cinnabar_engine::rdb::{Limits, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = b"REDIS0011".to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        let mut r = Reader::new(bytes);
        let _ = r.load(&Limits::default(), 16, 0, |_item| Ok(()));
    }
});
