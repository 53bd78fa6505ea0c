//! The help table built from a COMMAND DOCS reply: HELP text, hints and
//! completion follow redis-cli's rules (cliOutputHelp, hintsCallback,
//! completionCallback).

use bytes::Bytes;
use cinnabar_cli::help::HelpTable;
use cinnabar_resp::Frame;

fn b(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn map(pairs: Vec<(&str, Frame)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (b(k), v)).collect())
}

fn arg(name: &str, typ: &str, extra: Vec<(&str, Frame)>) -> Frame {
    let mut p = vec![("name", b(name)), ("type", b(typ))];
    p.extend(extra);
    map(p)
}

fn flags(f: &[&str]) -> Frame {
    Frame::Set(f.iter().map(|x| Frame::Simple(x.to_string())).collect())
}

/// A small COMMAND DOCS reply: SET (tokens, oneof, optional), DEL (multiple),
/// CONFIG with the GET and SET subcommands.
fn docs() -> Frame {
    let set_args = Frame::Array(vec![
        arg("key", "key", vec![]),
        arg("value", "string", vec![]),
        arg(
            "condition",
            "oneof",
            vec![
                ("flags", flags(&["optional"])),
                (
                    "arguments",
                    Frame::Array(vec![
                        arg("nx", "pure-token", vec![("token", b("NX"))]),
                        arg("xx", "pure-token", vec![("token", b("XX"))]),
                    ]),
                ),
            ],
        ),
        arg(
            "expiration",
            "oneof",
            vec![
                ("flags", flags(&["optional"])),
                (
                    "arguments",
                    Frame::Array(vec![
                        arg("seconds", "integer", vec![("token", b("EX"))]),
                        arg("keepttl", "pure-token", vec![("token", b("KEEPTTL"))]),
                    ]),
                ),
            ],
        ),
    ]);
    let config_get = map(vec![
        (
            "summary",
            b("Returns the effective values of configuration parameters."),
        ),
        ("since", b("2.0.0")),
        ("group", b("server")),
        (
            "arguments",
            Frame::Array(vec![arg(
                "parameter",
                "string",
                vec![("flags", flags(&["multiple"]))],
            )]),
        ),
    ]);
    let config_set = map(vec![
        ("summary", b("Sets configuration parameters in-flight.")),
        ("since", b("2.0.0")),
        ("group", b("server")),
        (
            "arguments",
            Frame::Array(vec![arg(
                "data",
                "block",
                vec![
                    ("flags", flags(&["multiple"])),
                    (
                        "arguments",
                        Frame::Array(vec![
                            arg("parameter", "string", vec![]),
                            arg("value", "string", vec![]),
                        ]),
                    ),
                ],
            )]),
        ),
    ]);
    map(vec![
        (
            "set",
            map(vec![
                ("summary", b("Sets the string value of a key.")),
                ("since", b("1.0.0")),
                ("group", b("string")),
                ("arguments", set_args),
            ]),
        ),
        (
            "del",
            map(vec![
                ("summary", b("Deletes one or more keys.")),
                ("since", b("1.0.0")),
                ("group", b("generic")),
                (
                    "arguments",
                    Frame::Array(vec![arg(
                        "key",
                        "key",
                        vec![("flags", flags(&["multiple"]))],
                    )]),
                ),
            ]),
        ),
        (
            "config",
            map(vec![
                (
                    "summary",
                    b("A container for server configuration commands."),
                ),
                ("since", b("2.0.0")),
                ("group", b("server")),
                (
                    "subcommands",
                    map(vec![("config|get", config_get), ("config|set", config_set)]),
                ),
            ]),
        ),
    ])
}

fn table() -> HelpTable {
    HelpTable::from_docs(&docs()).unwrap()
}

#[test]
fn synopsis_from_argument_specs() {
    let t = table();
    let params: Vec<(&str, &str)> = t
        .entries
        .iter()
        .map(|e| (e.full.as_str(), e.params.as_str()))
        .collect();
    assert_eq!(
        params,
        vec![
            ("@generic", ""),
            ("@server", ""),
            ("@string", ""),
            ("CONFIG", ""),
            ("CONFIG GET", "parameter [parameter ...]"),
            ("CONFIG SET", "parameter value [parameter value ...]"),
            ("DEL", "key [key ...]"),
            ("SET", "key value [NX|XX] [EX seconds|KEEPTTL]"),
        ]
    );
}

#[test]
fn resp2_docs_give_the_same_table() {
    fn flat(f: &Frame) -> Frame {
        match f {
            Frame::Map(p) => Frame::Array(p.iter().flat_map(|(k, v)| [flat(k), flat(v)]).collect()),
            Frame::Array(a) | Frame::Set(a) => Frame::Array(a.iter().map(flat).collect()),
            Frame::Simple(s) => Frame::Bulk(Bytes::copy_from_slice(s.as_bytes())),
            other => other.clone(),
        }
    }
    let t2 = HelpTable::from_docs(&flat(&docs())).unwrap();
    assert_eq!(t2.entries, table().entries);
}

#[test]
fn help_text() {
    let t = table();
    assert_eq!(
        t.help_text(&["set".into()], "0.1.0"),
        "\r\n  \x1b[1mSET\x1b[0m \x1b[90mkey value [NX|XX] [EX seconds|KEEPTTL]\x1b[0m\r\n  \x1b[33msummary:\x1b[0m Sets the string value of a key.\r\n  \x1b[33msince:\x1b[0m 1.0.0\r\n  \x1b[33mgroup:\x1b[0m string\r\n\r\n"
    );
    // A container lists itself and its subcommands; a group omits the group line.
    let out = t.help_text(&["config".into()], "0.1.0");
    assert_eq!(out.matches("summary:").count(), 3, "{out}");
    let out = t.help_text(&["@SERVER".into()], "0.1.0");
    assert_eq!(out.matches("summary:").count(), 3, "{out}");
    assert!(!out.contains("group:"));
    assert_eq!(t.help_text(&["nope".into()], "0.1.0"), "\r\n");
    assert!(t
        .help_text(&[], "0.1.0")
        .starts_with("cinnabar-cli 0.1.0\nTo get help"));
}

#[test]
fn hints_drop_the_arguments_typed() {
    let t = table();
    let h = |l: &str| t.hint(l);
    assert_eq!(
        h("set").as_deref(),
        Some(" key value [NX|XX] [EX seconds|KEEPTTL]")
    );
    assert_eq!(
        h("SET ").as_deref(),
        Some("key value [NX|XX] [EX seconds|KEEPTTL]")
    );
    assert_eq!(
        h("set k").as_deref(),
        Some(" value [NX|XX] [EX seconds|KEEPTTL]")
    );
    assert_eq!(
        h("set k v ").as_deref(),
        Some("[NX|XX] [EX seconds|KEEPTTL]")
    );
    // Optional parts stay once reached.
    assert_eq!(
        h("set k v nx ").as_deref(),
        Some("[NX|XX] [EX seconds|KEEPTTL]")
    );
    assert_eq!(
        h("config set ").as_deref(),
        Some("parameter value [parameter value ...]")
    );
    assert_eq!(
        h("config set a ").as_deref(),
        Some("value [parameter value ...]")
    );
    assert_eq!(h("del a b c ").as_deref(), Some("[key ...]"));
    assert_eq!(h("unknown "), None);
    assert_eq!(h(""), None);
    assert_eq!(h("set \"open"), None);
}

#[test]
fn completion_of_commands_subcommands_and_help_topics() {
    let t = table();
    assert_eq!(t.completions("s"), vec!["SET"]);
    assert_eq!(
        t.completions("conf"),
        vec!["CONFIG", "CONFIG GET", "CONFIG SET"]
    );
    assert_eq!(t.completions("config s"), vec!["CONFIG SET"]);
    assert_eq!(
        t.completions("help @s"),
        vec!["help @server", "help @string"]
    );
    assert_eq!(t.completions("help  de"), vec!["help  DEL"]);
    assert!(t.completions("x").is_empty());
    assert_eq!(
        t.command_words(&["config".into(), "get".into(), "x".into()]),
        2
    );
    assert_eq!(t.command_words(&["config".into(), "nope".into()]), 1);
    assert_eq!(t.command_words(&["nope".into()]), 0);
}

#[test]
fn fallbacks_for_servers_without_command_docs() {
    assert!(HelpTable::from_docs(&Frame::Error("ERR unknown subcommand".into())).is_none());
    let command = Frame::Array(vec![
        Frame::Array(vec![b("get"), Frame::Integer(2)]),
        Frame::Array(vec![b("set"), Frame::Integer(-3)]),
    ]);
    let t = HelpTable::from_command(&command).unwrap();
    assert_eq!(t.completions("g"), vec!["GET"]);
    assert_eq!(t.hint("get ").as_deref(), Some(""));
}
