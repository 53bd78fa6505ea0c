//! Incremental AOF files: the loader's parser must split any bytes into commands or stop
//! with an offset and whether the data was only cut short, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err((offset, _truncated)) = cinnabar_server::persist::aof::scan(data) {
        assert!(offset <= data.len());
    }
});
