//! Feed arbitrary bytes to the server's command framer, consuming every
//! command in the buffer the way a connection does. Small limits make the
//! size-limit branches reachable with short inputs.
#![no_main]

use cinnabar_resp::{parse_command, Argv, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bulk_len: 64,
        max_multibulk_len: 16,
        max_inline_len: 64,
        unauthenticated: true,
    };
    for limits in [limits, Limits::default()] {
        let mut argv = Argv::new();
        let mut pos = 0;
        while let Ok(Some(n)) = parse_command(&data[pos..], &limits, &mut argv) {
            assert!(n > 0, "a complete command consumes bytes");
            assert!(n <= data.len() - pos, "consumed more than buffered");
            let rest = &data[pos..];
            // The framer reads a command in the multibulk format when it starts with '*'.
            let inline = rest[0] != b'*';
            let mut count = 0;
            for arg in argv.iter(rest) {
                if !inline {
                    // Multibulk arguments are slices of the command itself.
                    assert!(arg.len() < n);
                }
                count += 1;
            }
            assert_eq!(count, argv.len());
            pos += n;
        }
    }
});
