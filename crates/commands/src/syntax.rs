//! Human-readable usage lines rendered from the argument grammar, for the
//! CLI's hints and help and for the generated command reference.
//!
//! Notation (the usual one of Redis documentation):
//! `[x]` optional, `x [x ...]` repeatable, `<a | b>` choose one (`[a | b]`
//! when the choice itself is optional and has no token), tokens in upper case, values by
//! their display name.

use crate::{Arg, ArgKind, CommandDef};

impl CommandDef {
    /// The full usage line, e.g. `CONFIG GET parameter [parameter ...]`.
    pub fn syntax(&self) -> String {
        let mut s = self.name.replace('|', " ").to_ascii_uppercase();
        let args = self.args_syntax();
        if !args.is_empty() {
            s.push(' ');
            s.push_str(&args);
        }
        s
    }

    /// The arguments part of [`CommandDef::syntax`] (empty when none).
    pub fn args_syntax(&self) -> String {
        join(self.args, " ")
    }
}

impl Arg {
    /// This argument in usage notation, e.g. `[EX seconds | PX milliseconds]`.
    pub fn syntax(&self) -> String {
        let value = match self.kind {
            ArgKind::PureToken => String::new(),
            // The brackets of an optional choice delimit it well enough,
            // unless a token precedes the alternatives.
            ArgKind::OneOf if self.optional && self.token.is_none() => join(self.subargs, " | "),
            ArgKind::OneOf => format!("<{}>", join(self.subargs, " | ")),
            ArgKind::Block => join(self.subargs, " "),
            _ => self.display_text().to_string(),
        };
        let token = match (self.kind, self.token) {
            (ArgKind::PureToken, None) => Some(self.name),
            (_, token) => token,
        };
        let one = match token {
            Some(t) if value.is_empty() => t.to_string(),
            Some(t) => format!("{t} {value}"),
            None => value.clone(),
        };
        let repeated = if !self.multiple {
            one
        } else if let (Some(t), false) = (token, self.multiple_token) {
            // The token is given once, then values repeat: WEIGHTS w [w ...]
            format!("{t} {value} [{value} ...]")
        } else {
            format!("{one} [{one} ...]")
        };
        if self.optional {
            format!("[{repeated}]")
        } else {
            repeated
        }
    }
}

fn join(args: &[Arg], sep: &str) -> String {
    args.iter().map(Arg::syntax).collect::<Vec<_>>().join(sep)
}
