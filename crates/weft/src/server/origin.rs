//! Origin policy: which pages may open connections.
//!
//! Browsers attach cookies to WebSocket handshakes and let any page open one to any server; a
//! server that authenticates by cookie and accepts every `Origin` lets a hostile page act as
//! its user (cross-site WebSocket hijacking). Such a server should name the origins it serves
//! with [`OriginPolicy::allow`], or authenticate with something a page cannot send on its own,
//! such as a token in the first message.

use std::sync::Arc;

/// A function deciding on an `Origin` value (`None` when the request has none).
pub type OriginCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// Which `Origin` values a server accepts; a refused origin gets 403.
#[derive(Clone, Default)]
pub enum OriginPolicy {
    /// Accept any origin, and requests without one (the default: non-browser clients).
    #[default]
    Any,
    /// Accept only these origins (compared ASCII case-insensitively, e.g.
    /// `https://app.example.com`). Requests without `Origin` are accepted unless
    /// `require` is set.
    AllowList {
        /// The accepted origins.
        origins: Vec<String>,
        /// Whether a request without `Origin` is refused.
        require: bool,
    },
    /// Decide with a function of the `Origin` value (`None` when absent).
    Custom(OriginCheck),
}

impl OriginPolicy {
    /// An allowlist that also accepts requests without `Origin`.
    pub fn allow<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OriginPolicy::AllowList {
            origins: origins.into_iter().map(Into::into).collect(),
            require: false,
        }
    }

    /// Whether `origin` may connect.
    pub fn permits(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (OriginPolicy::Any, _) => true,
            (OriginPolicy::AllowList { require, .. }, None) => !require,
            (OriginPolicy::AllowList { origins, .. }, Some(o)) => origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(o)),
            (OriginPolicy::Custom(f), o) => f(o),
        }
    }
}

impl std::fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginPolicy::Any => f.write_str("Any"),
            OriginPolicy::AllowList { origins, require } => f
                .debug_struct("AllowList")
                .field("origins", origins)
                .field("require", require)
                .finish(),
            OriginPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_case_insensitively_and_accepts_absent_origin() {
        let policy = OriginPolicy::allow(["https://app.example.com"]);
        assert!(policy.permits(Some("HTTPS://APP.example.com")));
        assert!(!policy.permits(Some("https://evil.example")));
        assert!(policy.permits(None));
    }

    #[test]
    fn required_origin_refuses_absent_origin() {
        let policy = OriginPolicy::AllowList {
            origins: vec!["https://a".into()],
            require: true,
        };
        assert!(!policy.permits(None));
    }
}
