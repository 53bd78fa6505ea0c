//! Feed arbitrary bytes to the generic frame parser, consuming every frame
//! in the buffer; every parsed frame must survive an encode/parse round trip.
#![no_main]

use cinnabar_resp::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while let Ok(Some((frame, n))) = Frame::parse(&data[pos..]) {
        assert!(n > 0, "a frame consumes bytes");
        assert!(n <= data.len() - pos, "consumed more than buffered");
        pos += n;

        // Re-encoding must give a parsable frame of exactly that length.
        // (Not necessarily equal: NaN != NaN, lossy strings, attributes.)
        for resp3 in [true, false] {
            let mut out = Vec::new();
            if resp3 {
                frame.encode(&mut out);
            } else {
                frame.encode_resp2(&mut out);
            }
            match Frame::parse(&out) {
                Ok(Some((_, m))) => assert_eq!(m, out.len()),
                other => panic!("re-encoded frame does not parse: {other:?}"),
            }
        }
    }
});
