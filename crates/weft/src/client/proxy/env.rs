//! Proxy selection from `*_proxy` and `no_proxy` environment variables, following curl.

use std::net::IpAddr;

use super::Proxy;

/// See [`Proxy::from_env`].
pub(super) fn proxy_for(
    secure: bool,
    host: &str,
    port: u16,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<Proxy> {
    let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let no_proxy = var("no_proxy").or_else(|| var("NO_PROXY"));
    if no_proxy.is_some_and(|list| bypasses(&list, host, port)) {
        return None;
    }
    let names: &[&str] = if secure {
        &["wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY"]
    } else {
        // No HTTP_PROXY: CGI servers set it from a request's `Proxy:` header (httpoxy).
        &["ws_proxy", "WS_PROXY", "http_proxy"]
    };
    names
        .iter()
        .chain(&["all_proxy", "ALL_PROXY"])
        .find_map(|name| {
            let value = var(name)?;
            match Proxy::parse(value.trim()) {
                Ok(proxy) => Some(proxy),
                Err(error) => {
                    tracing::warn!(variable = name, %error, "ignoring unusable proxy setting");
                    None
                }
            }
        })
}

/// Whether `no_proxy` exempts `host:port`.
fn bypasses(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = normalize(host);
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let Some((pattern, entry_port)) = split_port(entry) else {
            return false;
        };
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let pattern = normalize(pattern);
        let pattern = pattern.strip_prefix('.').unwrap_or(&pattern);
        if pattern.is_empty() {
            return false;
        }
        match (host_ip, pattern.parse::<IpAddr>()) {
            (Some(host_ip), Ok(ip)) => host_ip == ip,
            (Some(_), Err(_)) | (None, Ok(_)) => false,
            (None, Err(_)) => {
                host == pattern
                    || host
                        .strip_suffix(pattern)
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        }
    })
}

/// Splits `host[:port]`, with IPv6 as `[addr]:port` or a bare `addr`. `None` for an entry
/// whose port does not parse, which then matches nothing.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match entry.split_once(':') {
        // More than one colon: a bare IPv6 address.
        Some((_, rest)) if rest.contains(':') => Some((entry, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((entry, None)),
    }
}

/// Lower case, without IPv6 brackets or the root's trailing dot.
fn normalize(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}
