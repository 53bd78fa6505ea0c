//! redis.conf text: any file must load or fail with a message, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cinnabar_server::config::Config::from_text(text);
    }
});
