//! Validation of `owner/name` repository names.

use std::fmt;

/// A repository name that passed GitHub's naming rules, so it can be put in an upstream URL
/// and a database key as it is (no escaping needed, no path traversal possible).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    owner: String,
    name: String,
}

/// Why a name was refused; shown to the client in the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoNameError {
    #[error("expected \"owner/name\"")]
    Shape,
    #[error("owner must be 1-39 letters, digits or hyphens, not starting or ending with a hyphen")]
    Owner,
    #[error("name must be 1-100 letters, digits, '.', '-' or '_', and not '.' or '..'")]
    Name,
}

impl RepoName {
    /// Parses `owner/name` following GitHub's rules: owners (users and organisations) are
    /// 1-39 ASCII letters, digits and hyphens, with no hyphen at either end; repository names
    /// are 1-100 of `[A-Za-z0-9._-]` other than `.` and `..`.
    pub fn parse(s: &str) -> Result<RepoName, RepoNameError> {
        let (owner, name) = s.split_once('/').ok_or(RepoNameError::Shape)?;
        if name.contains('/') {
            return Err(RepoNameError::Shape);
        }
        let owner_ok = (1..=39).contains(&owner.len())
            && owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !owner.starts_with('-')
            && !owner.ends_with('-');
        if !owner_ok {
            return Err(RepoNameError::Owner);
        }
        let name_ok = (1..=100).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && name != "."
            && name != "..";
        if !name_ok {
            return Err(RepoNameError::Name);
        }
        Ok(RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identity used for caching and coalescing. GitHub names are case-insensitive, so
    /// `Rust-Lang/Rust` and `rust-lang/rust` share one entry and one upstream call.
    pub fn cache_id(&self) -> String {
        format!("{}/{}", self.owner, self.name).to_ascii_lowercase()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_names() {
        for ok in [
            "rust-lang/rust",
            "a/b",
            "tokio-rs/axum",
            "foo/.github",
            "x1/under_score.dots-and-dashes",
        ] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        let long_owner = format!("{}/x", "a".repeat(39));
        assert!(RepoName::parse(&long_owner).is_ok());
        let long_name = format!("o/{}", "n".repeat(100));
        assert!(RepoName::parse(&long_name).is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        let cases = [
            ("", RepoNameError::Shape),
            ("noslash", RepoNameError::Shape),
            ("a/b/c", RepoNameError::Shape),
            ("/b", RepoNameError::Owner),
            ("-a/b", RepoNameError::Owner),
            ("a-/b", RepoNameError::Owner),
            ("a_b/c", RepoNameError::Owner),
            ("a b/c", RepoNameError::Owner),
            ("a/", RepoNameError::Name),
            ("a/..", RepoNameError::Name),
            ("a/.", RepoNameError::Name),
            ("a/b?x=1", RepoNameError::Name),
            ("a/b%2f", RepoNameError::Name),
            ("a/é", RepoNameError::Name),
        ];
        for (input, want) in cases {
            assert_eq!(RepoName::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(
            RepoName::parse(&format!("{}/x", "a".repeat(40))),
            Err(RepoNameError::Owner)
        );
        assert_eq!(
            RepoName::parse(&format!("o/{}", "n".repeat(101))),
            Err(RepoNameError::Name)
        );
    }

    #[test]
    fn cache_id_ignores_case() {
        let a = RepoName::parse("Rust-Lang/Rust").unwrap();
        let b = RepoName::parse("rust-lang/rust").unwrap();
        assert_eq!(a.cache_id(), b.cache_id());
        assert_eq!(a.to_string(), "Rust-Lang/Rust");
    }
}
