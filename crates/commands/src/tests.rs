use super::*;
use cinnabar_resp::{Frame, Protocol, ReplyBuf};

fn cmd(name: &str) -> &'static CommandDef {
    lookup_full(name.as_bytes()).unwrap_or_else(|| panic!("no command {name}"))
}

fn keys(name: &str, argv: &[&str]) -> Result<Vec<usize>, KeysError> {
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    let mut out = vec![99];
    let r = key_positions(cmd(name), &argv, &mut out);
    r.map(|()| out)
}

// ---------------------------------------------------------------- the table

#[test]
fn table_has_every_redis_72_command() {
    // Redis 7.2.4 ships 241 top-level command JSON files that are not
    // sentinel-only (COMMAND COUNT on a 7.2 server), with 129 subcommands.
    // We add Redis 7.4's nine hash-field expiry commands on top.
    const HASH_FIELD_TTL: [&str; 9] = [
        "hexpire",
        "hpexpire",
        "hexpireat",
        "hpexpireat",
        "httl",
        "hpttl",
        "hexpiretime",
        "hpexpiretime",
        "hpersist",
    ];
    // Redis 8.0's HGETEX, HSETEX and HGETDEL (tools/gen-commands/extra/), with Redis's
    // `since`, and our own CL.THROTTLE (also there), whose `since` is Cinnabar's version.
    const REDIS_80: [&str; 3] = ["hgetex", "hsetex", "hgetdel"];
    let added = HASH_FIELD_TTL.len() + REDIS_80.len() + 1;
    assert_eq!(all().len(), 241 + added);
    assert_eq!(cmd("cl.throttle").since, "0.1.0");
    assert_eq!(
        all().iter().filter(|c| c.since.starts_with("7.4")).count(),
        HASH_FIELD_TTL.len()
    );
    for name in HASH_FIELD_TTL {
        assert_eq!(cmd(name).since, "7.4.0");
    }
    for name in REDIS_80 {
        assert_eq!(cmd(name).since, "8.0.0");
        assert_eq!(cmd(name).group, Group::Hash);
    }
    let subs: usize = all().iter().map(|c| c.subcommands.len()).sum();
    assert_eq!(subs, 129);
    assert_eq!(iter_all().count(), 370 + added);
    assert!(lookup(b"sentinel").is_none());
}

#[test]
fn table_is_sorted_unique_and_consistent() {
    for w in all().windows(2) {
        assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
    }
    for c in all() {
        assert!(c.container.is_none());
        assert_eq!(c.name, c.name.to_ascii_lowercase());
        for w in c.subcommands.windows(2) {
            assert!(w[0].name < w[1].name);
        }
        for s in c.subcommands {
            assert_eq!(s.container, Some(c.name));
            assert!(s.name.starts_with(c.name) && s.name[c.name.len()..].starts_with('|'));
            assert_eq!(s.group, c.group);
            assert!(s.subcommands.is_empty());
        }
    }
    for c in iter_all() {
        assert!(!c.summary.is_empty(), "{}", c.name);
        assert!(!c.since.is_empty(), "{}", c.name);
        assert_ne!(c.arity, 0, "{}", c.name);
        // Exactly one of @fast / @slow, as Redis guarantees.
        assert!(
            c.in_acl_category(acl::FAST) ^ c.in_acl_category(acl::SLOW),
            "{}",
            c.name
        );
        fn check_args(c: &CommandDef, args: &[Arg]) {
            for a in args {
                assert!(a.key_spec_index < c.key_specs.len() as i32, "{}", c.name);
                let nested = matches!(a.kind, ArgKind::OneOf | ArgKind::Block);
                assert_eq!(nested, !a.subargs.is_empty(), "{} {}", c.name, a.name);
                check_args(c, a.subargs);
            }
        }
        check_args(c, c.args);
    }
}

#[test]
fn lookups_are_case_insensitive() {
    assert_eq!(lookup(b"get").unwrap().name, "get");
    assert_eq!(lookup(b"GET").unwrap().name, "get");
    assert_eq!(
        lookup(b"GeoRadiusByMember_RO").unwrap().name,
        "georadiusbymember_ro"
    );
    assert_eq!(lookup(b"restore-ASKING").unwrap().name, "restore-asking");
    assert!(lookup(b"nosuchcommand").is_none());
    assert!(lookup(b"").is_none());
    assert!(lookup(&[b'a'; 100]).is_none());
    assert!(lookup(b"config|get").is_none());

    let config = lookup(b"Config").unwrap();
    let get = lookup_sub(config, b"GET").unwrap();
    assert_eq!(get.full_name(), "config|get");
    assert_eq!(get.container, Some("config"));
    assert!(lookup_sub(config, b"nope").is_none());
    let cluster = lookup(b"cluster").unwrap();
    for sub in cluster.subcommands {
        let upper = sub.name["cluster|".len()..].to_ascii_uppercase();
        assert_eq!(
            lookup_sub(cluster, upper.as_bytes()).unwrap().name,
            sub.name
        );
    }

    assert_eq!(lookup_full(b"CONFIG|Get").unwrap().name, "config|get");
    assert_eq!(lookup_full(b"config").unwrap().name, "config");
    assert!(lookup_full(b"get|x").is_none());
    assert!(lookup_full(b"config|get|x").is_none());

    assert_eq!(
        lookup_argv(&["config", "get", "x"]).unwrap().name,
        "config|get"
    );
    assert_eq!(lookup_argv(&["config"]).unwrap().name, "config");
    assert!(lookup_argv(&["config", "nope"]).is_none());
    assert_eq!(lookup_argv(&["get", "k"]).unwrap().name, "get");
    assert!(lookup_argv::<&str>(&[]).is_none());
}

#[test]
fn arity() {
    assert_eq!(cmd("get").arity, 2);
    assert_eq!(cmd("set").arity, -3);
    assert_eq!(cmd("mset").arity, -3);
    assert_eq!(cmd("config|get").arity, -3);
    assert_eq!(cmd("client|id").arity, 2);
    assert!(cmd("get").arity_ok(2));
    assert!(!cmd("get").arity_ok(1));
    assert!(!cmd("get").arity_ok(3));
    assert!(cmd("set").arity_ok(3));
    assert!(cmd("set").arity_ok(9));
    assert!(!cmd("set").arity_ok(2));
}

#[test]
fn flags_and_acl_categories() {
    let get = cmd("get");
    assert!(
        get.has_flag(flags::READONLY) && get.has_flag(flags::FAST) && !get.has_flag(flags::WRITE)
    );
    assert_eq!(flags::names(get.flags), ["readonly", "fast"]);
    assert_eq!(acl::names(get.acl), ["read", "string", "fast"]);

    let set = cmd("set");
    assert_eq!(flags::names(set.flags), ["write", "denyoom"]);
    assert_eq!(acl::names(set.acl), ["write", "string", "slow"]);

    // admin implies @admin and @dangerous.
    let flushall = cmd("flushall");
    assert!(flushall.in_acl_category(acl::DANGEROUS));
    assert_eq!(
        acl::names(cmd("config|set").acl),
        ["admin", "slow", "dangerous"]
    );

    // Scripting commands stay out of @read even when readonly.
    assert!(cmd("eval_ro").has_flag(flags::READONLY));
    assert!(!cmd("eval_ro").in_acl_category(acl::READ));

    assert!(cmd("blpop").in_acl_category(acl::BLOCKING));
    assert!(cmd("subscribe").in_acl_category(acl::PUBSUB));
    // Hidden flags are kept but not named.
    assert!(cmd("eval").has_flag(flags::MAY_REPLICATE));
    assert!(!flags::names(cmd("eval").flags).contains(&"may_replicate"));
    assert!(cmd("eval").has_flag(flags::MOVABLE_KEYS));

    assert_eq!(acl::from_name("SortedSet"), Some(acl::SORTEDSET));
    assert_eq!(acl::from_name("nope"), None);
    assert_eq!(
        keyspec_flags::names(keyspec_flags::RW | keyspec_flags::ACCESS | keyspec_flags::INCOMPLETE),
        ["RW", "access", "incomplete"]
    );
    assert_eq!(doc_flags::names(cmd("getset").doc_flags), ["deprecated"]);
    assert_eq!(Group::SortedSet.name(), "sorted-set");
    assert_eq!(cmd("zadd").group, Group::SortedSet);
}

#[test]
fn legacy_key_triple() {
    let triple = |n: &str| {
        let c = cmd(n);
        (
            c.first_key,
            c.last_key,
            c.step,
            c.has_flag(flags::MOVABLE_KEYS),
        )
    };
    assert_eq!(triple("get"), (1, 1, 1, false));
    assert_eq!(triple("mset"), (1, -1, 2, false));
    assert_eq!(triple("del"), (1, -1, 1, false));
    assert_eq!(triple("rename"), (1, 2, 1, false));
    assert_eq!(triple("eval"), (0, 0, 0, true));
    assert_eq!(triple("zunionstore"), (1, 1, 1, true));
    assert_eq!(triple("xread"), (0, 0, 0, true));
    assert_eq!(triple("sort"), (1, 1, 1, true));
    assert_eq!(triple("migrate"), (3, 3, 1, true));
    assert_eq!(triple("blpop"), (1, -2, 1, false));
    assert_eq!(triple("object|encoding"), (2, 2, 1, false));
    assert_eq!(triple("ping"), (0, 0, 0, false));
}

// ------------------------------------------------------------ key positions

#[test]
fn key_positions_simple_ranges() {
    assert_eq!(keys("get", &["get", "k"]), Ok(vec![1]));
    assert_eq!(keys("mset", &["mset", "a", "1", "b", "2"]), Ok(vec![1, 3]));
    assert_eq!(keys("del", &["del", "a", "b", "c"]), Ok(vec![1, 2, 3]));
    assert_eq!(keys("blpop", &["blpop", "a", "b", "0"]), Ok(vec![1, 2]));
    assert_eq!(
        keys("object|encoding", &["object", "encoding", "k"]),
        Ok(vec![2])
    );
    assert_eq!(keys("ping", &["ping"]), Ok(vec![]));
    assert_eq!(
        keys("lmove", &["lmove", "a", "b", "LEFT", "RIGHT"]),
        Ok(vec![1, 2])
    );
}

#[test]
fn key_positions_keynum() {
    assert_eq!(
        keys("eval", &["eval", "s", "2", "a", "b", "x"]),
        Ok(vec![3, 4])
    );
    assert_eq!(keys("eval", &["eval", "s", "0", "x"]), Ok(vec![]));
    assert_eq!(keys("fcall", &["fcall", "f", "1", "a"]), Ok(vec![3]));
    assert_eq!(
        keys(
            "zunionstore",
            &["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
        ),
        Ok(vec![1, 3, 4])
    );
    assert_eq!(
        keys("lmpop", &["lmpop", "2", "a", "b", "LEFT"]),
        Ok(vec![2, 3])
    );
    assert_eq!(
        keys("blmpop", &["blmpop", "0", "1", "a", "LEFT"]),
        Ok(vec![3])
    );
    assert_eq!(keys("zinter", &["zinter", "2", "a", "b"]), Ok(vec![2, 3]));
    assert_eq!(
        keys("sintercard", &["sintercard", "1", "a", "LIMIT", "1"]),
        Ok(vec![2])
    );
}

#[test]
fn key_positions_bad_numkeys() {
    assert_eq!(
        keys("eval", &["eval", "s", "3", "a", "b"]),
        Err(KeysError::TooManyKeys)
    );
    assert_eq!(
        keys("eval", &["eval", "s", "-1"]),
        Err(KeysError::NegativeNumKeys)
    );
    assert_eq!(
        keys("eval", &["eval", "s", "x"]),
        Err(KeysError::NumKeysNotInteger)
    );
    assert_eq!(
        keys("eval", &["eval", "s", "01"]),
        Err(KeysError::NumKeysNotInteger)
    );
    assert_eq!(
        keys("eval", &["eval", "s", "99999999999999999999"]),
        Err(KeysError::NumKeysNotInteger)
    );
    assert_eq!(
        keys("eval", &["eval", "s", "9223372036854775807", "a"]),
        Err(KeysError::TooManyKeys)
    );
    assert_eq!(
        keys("lmpop", &["lmpop", "5", "a", "LEFT"]),
        Err(KeysError::TooManyKeys)
    );
    assert_eq!(
        KeysError::TooManyKeys.to_string(),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        KeysError::InvalidArguments.to_string(),
        "ERR Invalid arguments specified for command"
    );
    for e in [
        KeysError::InvalidArguments,
        KeysError::NumKeysNotInteger,
        KeysError::NegativeNumKeys,
        KeysError::TooManyKeys,
    ] {
        assert_eq!(e.message(), e.to_string().as_bytes());
    }
    // The output buffer is left empty on error.
    let mut out = vec![1, 2, 3];
    let argv: [&[u8]; 3] = [b"eval", b"s", b"5"];
    assert!(key_positions(cmd("eval"), &argv, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn key_positions_keyword_search() {
    assert_eq!(
        keys(
            "xread",
            &["xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]
        ),
        Ok(vec![4, 5])
    );
    assert_eq!(keys("xread", &["xread", "streams", "a", "$"]), Ok(vec![2]));
    assert_eq!(
        keys("xread", &["xread", "STREAMS", "a", "b", "c"]),
        Ok(vec![2]),
        "unbalanced: Redis takes the floor of half"
    );
    assert_eq!(
        keys("xread", &["xread", "STREAMS", "a"]),
        Err(KeysError::InvalidArguments)
    );
    assert_eq!(
        keys(
            "xreadgroup",
            &["xreadgroup", "GROUP", "g", "c", "STREAMS", "s", ">"]
        ),
        Ok(vec![5])
    );
    assert_eq!(
        keys(
            "georadius",
            &["georadius", "k", "0", "0", "1", "m", "STORE", "d"]
        ),
        Ok(vec![1, 7])
    );
    assert_eq!(
        keys(
            "georadius",
            &["georadius", "k", "0", "0", "1", "m", "WITHDIST"]
        ),
        Ok(vec![1])
    );
    // A repeated STORE: the command writes the last destination, which must be locked.
    assert_eq!(
        keys(
            "georadius",
            &[
                "georadius",
                "k",
                "0",
                "0",
                "1",
                "m",
                "STORE",
                "a",
                "STORE",
                "b"
            ]
        ),
        Ok(vec![1, 7, 9])
    );
    assert_eq!(
        keys(
            "georadiusbymember",
            &[
                "georadiusbymember",
                "k",
                "m",
                "1",
                "m",
                "STOREDIST",
                "a",
                "STORE",
                "b"
            ]
        ),
        Ok(vec![1, 8, 6])
    );
    assert_eq!(
        keys(
            "georadiusbymember",
            &[
                "georadiusbymember",
                "k",
                "m",
                "1",
                "m",
                "STORE",
                "b",
                "STOREDIST",
                "a",
                "STORE",
                "c"
            ]
        ),
        Ok(vec![1, 6, 8, 10])
    );
}

#[test]
fn key_positions_special_procedures() {
    assert_eq!(keys("sort", &["sort", "k"]), Ok(vec![1]));
    assert_eq!(
        keys(
            "sort",
            &["sort", "k", "BY", "w_*", "GET", "store", "STORE", "dst"]
        ),
        Ok(vec![1, 7])
    );
    assert_eq!(
        keys(
            "sort",
            &["sort", "k", "LIMIT", "store", "x", "STORE", "a", "store", "b"]
        ),
        Ok(vec![1, 8]),
        "last STORE wins; LIMIT operands skipped"
    );
    assert_eq!(keys("sort_ro", &["sort_ro", "k", "BY", "x"]), Ok(vec![1]));
    assert_eq!(
        keys("migrate", &["migrate", "h", "6379", "k", "0", "1000"]),
        Ok(vec![3])
    );
    assert_eq!(
        keys(
            "migrate",
            &["migrate", "h", "1", "", "0", "9", "COPY", "AUTH", "keys", "KEYS", "a", "b"]
        ),
        Ok(vec![10, 11])
    );
    assert_eq!(
        keys(
            "migrate",
            &["migrate", "h", "1", "x", "0", "9", "KEYS", "a"]
        ),
        Err(KeysError::InvalidArguments)
    );
    // Shard channels are not keys.
    assert!(!cmd("spublish").has_keys());
    assert_eq!(keys("spublish", &["spublish", "ch", "msg"]), Ok(vec![]));
    assert!(cmd("get").has_keys());
    assert!(!cmd("ping").has_keys());
}

#[test]
fn key_positions_with_flags_reports_spec_flags() {
    let argv: [&[u8]; 5] = [b"zunionstore", b"d", b"1", b"a", b"AGGREGATE"];
    let mut out = Vec::new();
    key_positions_with_flags(cmd("zunionstore"), &argv, &mut out).unwrap();
    use keyspec_flags::*;
    assert_eq!(out, [(1, OW | UPDATE), (3, RO | ACCESS)]);
}

// ----------------------------------------------------------------- replies

fn encode(proto: Protocol, f: impl FnOnce(&mut ReplyBuf)) -> Vec<u8> {
    let mut out = ReplyBuf::new(proto);
    f(&mut out);
    out.buf
}

#[test]
fn command_info_get_resp2_snapshot() {
    let bytes = encode(Protocol::Resp2, |o| write_command_info(cmd("get"), o));
    let expected = concat!(
        "*10\r\n",
        "$3\r\nget\r\n",
        ":2\r\n",
        "*2\r\n+readonly\r\n+fast\r\n",
        ":1\r\n:1\r\n:1\r\n",
        "*3\r\n+@read\r\n+@string\r\n+@fast\r\n",
        "*0\r\n",
        "*1\r\n",
        "*6\r\n",
        "$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n",
        "$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n",
        "$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n",
        "$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n",
        "$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n",
        "*0\r\n",
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
}

#[test]
fn command_info_resp3_uses_sets_and_maps() {
    let bytes = encode(Protocol::Resp3, |o| write_command_info(cmd("get"), o));
    let (frame, used) = Frame::parse(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    let Frame::Array(items) = frame else { panic!() };
    assert_eq!(items.len(), 10);
    assert!(matches!(&items[2], Frame::Set(f) if f.len() == 2));
    assert!(matches!(&items[8], Frame::Set(s) if matches!(&s[0], Frame::Map(m) if m.len() == 3)));
    assert!(matches!(&items[9], Frame::Set(s) if s.is_empty()));
}

/// Parse one complete reply, checking that the encoder's declared lengths
/// account for exactly the bytes written.
fn parse_all(bytes: &[u8]) -> Frame {
    let (frame, used) = Frame::parse(bytes).unwrap().expect("complete frame");
    assert_eq!(used, bytes.len());
    frame
}

fn map_get<'a>(frame: &'a Frame, key: &str) -> Option<&'a Frame> {
    let Frame::Map(pairs) = frame else {
        panic!("not a map: {frame:?}")
    };
    pairs
        .iter()
        .find(|(k, _)| matches!(k, Frame::Bulk(b) if b.as_ref() == key.as_bytes()))
        .map(|(_, v)| v)
}

#[test]
fn every_command_encodes_well_formed_replies() {
    for c in all() {
        for proto in [Protocol::Resp2, Protocol::Resp3] {
            parse_all(&encode(proto, |o| write_command_info(c, o)));
            parse_all(&encode(proto, |o| write_command_docs(c, o)));
        }
    }
}

#[test]
fn command_info_with_subcommands_and_notes() {
    let frame = parse_all(&encode(Protocol::Resp3, |o| {
        write_command_info(cmd("config"), o)
    }));
    let Frame::Array(items) = frame else { panic!() };
    let Frame::Array(subs) = &items[9] else {
        panic!("{:?}", items[9])
    };
    assert_eq!(subs.len(), cmd("config").subcommands.len());
    assert!(matches!(&subs[0], Frame::Array(s) if s[0] == Frame::Bulk("config|get".into())));

    let frame = parse_all(&encode(Protocol::Resp3, |o| {
        write_command_info(cmd("sort"), o)
    }));
    let Frame::Array(items) = frame else { panic!() };
    let Frame::Set(specs) = &items[8] else {
        panic!()
    };
    assert_eq!(specs.len(), 3);
    assert!(map_get(&specs[0], "notes").is_none());
    assert!(matches!(map_get(&specs[1], "notes"), Some(Frame::Bulk(_))));
    let begin = map_get(&specs[1], "begin_search").unwrap();
    assert_eq!(map_get(begin, "type"), Some(&Frame::Bulk("unknown".into())));
}

#[test]
fn command_docs_shape() {
    let frame = parse_all(&encode(Protocol::Resp3, |o| {
        write_command_docs(cmd("set"), o)
    }));
    let Frame::Map(pairs) = &frame else { panic!() };
    let keys: Vec<_> = pairs
        .iter()
        .map(|(k, _)| match k {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "summary",
            "since",
            "group",
            "complexity",
            "history",
            "arguments"
        ]
    );
    assert_eq!(
        map_get(&frame, "group"),
        Some(&Frame::Bulk("string".into()))
    );
    let Some(Frame::Array(args)) = map_get(&frame, "arguments") else {
        panic!()
    };
    // key: name, type, display_text, key_spec_index
    assert_eq!(
        args[0],
        Frame::Map(vec![
            (Frame::Bulk("name".into()), Frame::Bulk("key".into())),
            (Frame::Bulk("type".into()), Frame::Bulk("key".into())),
            (
                Frame::Bulk("display_text".into()),
                Frame::Bulk("key".into())
            ),
            (Frame::Bulk("key_spec_index".into()), Frame::Integer(0)),
        ])
    );
    // condition: a optional oneof with since, flags and nested arguments, no display_text.
    let cond = &args[2];
    assert!(map_get(cond, "display_text").is_none());
    assert_eq!(
        map_get(cond, "flags"),
        Some(&Frame::Set(vec![Frame::Simple("optional".into())]))
    );
    assert!(matches!(map_get(cond, "arguments"), Some(Frame::Array(a)) if a.len() == 2));

    let frame = parse_all(&encode(Protocol::Resp3, |o| {
        write_command_docs(cmd("getset"), o)
    }));
    assert_eq!(
        map_get(&frame, "doc_flags"),
        Some(&Frame::Set(vec![Frame::Simple("deprecated".into())]))
    );
    assert_eq!(
        map_get(&frame, "deprecated_since"),
        Some(&Frame::Bulk("6.2.0".into()))
    );
    assert!(map_get(&frame, "replaced_by").is_some());

    let frame = parse_all(&encode(Protocol::Resp3, |o| {
        write_command_docs(cmd("client"), o)
    }));
    let Some(Frame::Map(subs)) = map_get(&frame, "subcommands") else {
        panic!()
    };
    assert_eq!(subs.len(), cmd("client").subcommands.len());
    assert!(map_get(&frame, "arguments").is_none());
}

// ------------------------------------------------------------------ syntax

#[test]
fn syntax_lines() {
    assert_eq!(cmd("get").syntax(), "GET key");
    assert_eq!(
        cmd("config|get").syntax(),
        "CONFIG GET parameter [parameter ...]"
    );
    assert_eq!(cmd("mset").syntax(), "MSET key value [key value ...]");
    assert_eq!(
        cmd("lmove").syntax(),
        "LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>"
    );
    assert_eq!(
        cmd("set").syntax(),
        "SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | \
         EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"
    );
    assert_eq!(
        cmd("zunionstore").syntax(),
        "ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] \
         [AGGREGATE <SUM | MIN | MAX>]"
    );
    assert_eq!(
        cmd("sort").syntax(),
        "SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] \
         [ASC | DESC] [ALPHA] [STORE destination]"
    );
    assert_eq!(cmd("ping").syntax(), "PING [message]");
}
