//! ACL rules: any list of rules (as ACL SETUSER or an ACL file line gives them) is applied or
//! refused, never a panic; a user's description always loads back to the same description.
#![no_main]

use cinnabar_server::acl::rules::{merge_selector_args, RuleCtx, User};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = RuleCtx {
        allchannels_default: data.first().is_some_and(|b| b & 1 == 1),
    };
    let ops: Vec<Vec<u8>> = data.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
    let Ok(ops) = merge_selector_args(&ops) else {
        return;
    };
    let mut user = User::new(ctx);
    let _ = user.apply_all(&ops, ctx);
    for op in &ops {
        let _ = user.apply(op, ctx);
    }
    let text = user.describe();
    // Patterns or first arguments holding quotes, parentheses or whitespace do not survive
    // a description in Redis either.
    let odd = |b: &[u8]| b.iter().any(|c| b"\"'()\t\n\r\x0b\x0c\0".contains(c));
    if user.selectors.iter().any(|s| {
        odd(&s.describe_keys())
            || odd(&s.describe_channels())
            || odd(s.describe_commands().as_bytes())
    }) {
        return;
    }
    // A `*` pattern given as `%RW~*` among other patterns is listed as `~*`, which loads as
    // allkeys: Redis 7.2 does not round-trip it either.
    if user.selectors.iter().any(|s| s.lists_star_among_patterns()) {
        return;
    }
    let words: Vec<Vec<u8>> = text
        .split(|&c| c == b' ')
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if let Ok(merged) = merge_selector_args(&words) {
        let mut again = User::new(ctx);
        if again.apply_all(&merged, ctx).is_ok() {
            assert_eq!(again.describe(), text);
        }
    }
});
