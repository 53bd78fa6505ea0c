//! Which arguments of a command MONITOR and SLOWLOG show as `(redacted)`: passwords and ACL
//! rules, at the positions Redis 7.2's handlers redact (AUTH, HELLO ... AUTH, MIGRATE ... AUTH
//! / AUTH2, ACL SETUSER, CONFIG SET of a sensitive parameter).
//!
//! Redis redacts from inside each handler as it parses; here the positions are computed from
//! the arguments alone, only for these few commands and only when a monitor or the slow log
//! wants the arguments, so handlers stay unaware of it.

/// What a redacted argument is shown as.
pub const REDACTED: &[u8] = b"(redacted)";

/// Parameters whose values CONFIG SET hides (Redis's SENSITIVE_CONFIG).
const SENSITIVE_CONFIGS: &[&str] = &["requirepass", "masterauth", "masteruser"];

/// Positions of `args` to redact, or None when nothing is.
pub fn positions(args: &[&[u8]]) -> Option<Vec<bool>> {
    let name = args.first()?;
    let mut hide = vec![false; args.len()];
    let is = |a: &[u8], s: &str| a.eq_ignore_ascii_case(s.as_bytes());
    if is(name, "auth") {
        // AUTH password | AUTH user password; a longer form is a syntax error, never run.
        if args.len() > 3 {
            return None;
        }
        hide[1..].iter_mut().for_each(|h| *h = true);
    } else if is(name, "hello") {
        let ver = std::str::from_utf8(args.get(1)?)
            .ok()?
            .parse::<i64>()
            .ok()?;
        if !(2..=3).contains(&ver) {
            return None;
        }
        let mut j = 2;
        while j < args.len() {
            let more = args.len() - 1 - j;
            if is(args[j], "auth") && more >= 2 {
                hide[j + 1] = true;
                hide[j + 2] = true;
                j += 3;
            } else if is(args[j], "setname") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
    } else if is(name, "migrate") {
        let mut j = 6;
        while j < args.len() {
            let more = args.len() - 1 - j;
            if is(args[j], "copy") || is(args[j], "replace") {
                j += 1;
            } else if is(args[j], "auth") && more >= 1 {
                hide[j + 1] = true;
                j += 2;
            } else if is(args[j], "auth2") && more >= 2 {
                hide[j + 1] = true;
                hide[j + 2] = true;
                j += 3;
            } else {
                break;
            }
        }
    } else if is(name, "acl") {
        if args.len() >= 3 && is(args[1], "setuser") {
            hide[2..].iter_mut().for_each(|h| *h = true);
        }
    } else if is(name, "config") {
        if args.len() >= 4 && is(args[1], "set") {
            let mut j = 2;
            while j + 1 < args.len() {
                if SENSITIVE_CONFIGS.iter().any(|s| is(args[j], s)) {
                    hide[j + 1] = true;
                }
                j += 2;
            }
        }
    } else {
        return None;
    }
    hide.contains(&true).then_some(hide)
}

/// Calls `f` with each argument as MONITOR and SLOWLOG show it.
pub fn for_each(args: &[&[u8]], mut f: impl FnMut(usize, &[u8])) {
    let hide = positions(args);
    for (i, a) in args.iter().enumerate() {
        if hide.as_ref().is_some_and(|h| h[i]) {
            f(i, REDACTED);
        } else {
            f(i, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(args: &[&str]) -> Vec<String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut out = Vec::new();
        for_each(&args, |_, a| {
            out.push(String::from_utf8_lossy(a).into_owned())
        });
        out
    }

    #[test]
    fn redacts_as_redis() {
        assert_eq!(shown(&["auth", "pw"]), ["auth", "(redacted)"]);
        assert_eq!(
            shown(&["AUTH", "u", "pw"]),
            ["AUTH", "(redacted)", "(redacted)"]
        );
        assert_eq!(shown(&["auth", "a", "b", "c"]), ["auth", "a", "b", "c"]);
        assert_eq!(
            shown(&["hello", "3", "AUTH", "u", "p", "SETNAME", "n"]),
            [
                "hello",
                "3",
                "AUTH",
                "(redacted)",
                "(redacted)",
                "SETNAME",
                "n"
            ]
        );
        assert_eq!(shown(&["hello", "4", "AUTH", "u", "p"])[3], "u");
        assert_eq!(
            shown(&["migrate", "h", "1", "", "0", "5", "COPY", "AUTH2", "u", "p", "KEYS", "k"]),
            [
                "migrate",
                "h",
                "1",
                "",
                "0",
                "5",
                "COPY",
                "AUTH2",
                "(redacted)",
                "(redacted)",
                "KEYS",
                "k"
            ]
        );
        assert_eq!(
            shown(&["acl", "setuser", "bob", "on", ">pw"]),
            ["acl", "setuser", "(redacted)", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            shown(&["config", "set", "masterauth", "x", "hz", "10"]),
            ["config", "set", "masterauth", "(redacted)", "hz", "10"]
        );
        assert_eq!(shown(&["set", "auth", "x"]), ["set", "auth", "x"]);
    }
}
