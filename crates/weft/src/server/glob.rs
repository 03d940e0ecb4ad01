//! Glob patterns for routes and registry lookups (Tcl's `string match`): `*` matches any run
//! of characters, `?` any one character, everything else itself.

/// Whether `text` matches `pattern`.
///
/// ```
/// use weft::server::glob_match;
/// assert!(glob_match("/chat/*", "/chat/room-1"));
/// assert!(glob_match("127.0.0.?", "127.0.0.1"));
/// assert!(!glob_match("/chat/*", "/admin"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in `text` it is currently assumed to end: on a
    // mismatch the star takes one more character. At most O(pattern × text) steps, no recursion.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(glob_match("*", ""));
        assert!(glob_match("/a/*", "/a/"));
        assert!(glob_match("/a/*/c", "/a/b/x/c"));
        assert!(!glob_match("/a/*/c", "/a/b/x/d"));
    }

    #[test]
    fn question_mark_matches_exactly_one() {
        assert!(glob_match("v?", "v2"));
        assert!(!glob_match("v?", "v"));
        assert!(!glob_match("v?", "v22"));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(glob_match("/echo", "/echo"));
        assert!(!glob_match("/echo", "/echo/"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let text = "a".repeat(2000);
        assert!(!glob_match("*a*a*a*a*a*b", &text));
    }
}
