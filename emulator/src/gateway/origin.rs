//! Which web pages may open a socket: the `Origin` allow-list both endpoints check before
//! anything else runs.
//!
//! A browser always sends `Origin` on a WebSocket handshake and lets any page open a socket
//! to any host, `localhost` included; without this check, any site a developer visits could
//! drive the chat API or spend the voice relay's OpenAI key. Clients that are not browsers
//! (SDKs, `wscat`, other servers) send no `Origin` and are not affected.
//!
//! The default admits pages served from loopback (`http://localhost:5173`,
//! `http://127.0.0.1:3000`, `http://[::1]:8080`, on any port), which is what a developer's
//! own pages use. Same-origin is deliberately not assumed: a page whose name rebinds to
//! 127.0.0.1 would pass a "Host equals Origin" check. A server reached under another name
//! (the relay behind CloudFront, a LAN address) lists its origins.

/// An allow-list entry that is not an origin (`scheme://host[:port]`, `*` or `null`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an origin (scheme://host[:port])")]
pub struct NotAnOrigin(pub String);

/// The origins allowed to open sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins {
    /// Any origin (`*`).
    any: bool,
    /// Pages served from a loopback host, on any port.
    loopback: bool,
    /// Exact origins (`https://example.com`), lower case, no trailing slash.
    exact: Vec<String>,
}

impl Default for AllowedOrigins {
    /// Loopback pages only.
    fn default() -> Self {
        AllowedOrigins {
            any: false,
            loopback: true,
            exact: Vec::new(),
        }
    }
}

impl AllowedOrigins {
    /// Every origin: for a server whose callers are authorized some other way.
    pub fn any() -> AllowedOrigins {
        AllowedOrigins {
            any: true,
            loopback: true,
            exact: Vec::new(),
        }
    }

    /// The default plus `origins`, each an origin (`scheme://host[:port]`), `*` for any, or
    /// `null` (pages opened from files). Entries may be comma-separated.
    pub fn with(origins: &[String]) -> Result<AllowedOrigins, NotAnOrigin> {
        let mut allowed = AllowedOrigins::default();
        for entry in origins.iter().flat_map(|o| o.split(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                allowed.any = true;
                continue;
            }
            if entry == "null" {
                allowed.exact.push("null".into());
                continue;
            }
            let normal = normalize(entry).ok_or_else(|| NotAnOrigin(entry.to_owned()))?;
            allowed.exact.push(normal);
        }
        Ok(allowed)
    }

    /// Whether a handshake with this `Origin` header (none: not a browser) is admitted.
    pub fn admits(&self, origin: Option<&[u8]>) -> bool {
        let Some(origin) = origin else { return true };
        if self.any {
            return true;
        }
        let Ok(origin) = std::str::from_utf8(origin) else {
            return false;
        };
        let origin = origin.trim();
        if origin == "null" {
            return self.exact.iter().any(|e| e == "null");
        }
        let Some(normal) = normalize(origin) else {
            return false;
        };
        if self.loopback && is_loopback(&normal) {
            return true;
        }
        self.exact.contains(&normal)
    }
}

/// `scheme://host[:port]` in lower case without a trailing slash; `None` when it is not one.
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest.chars().all(|c| c.is_ascii_graphic());
    (scheme_ok && rest_ok).then_some(origin)
}

/// Whether a normalized origin's host is a loopback name or address.
fn is_loopback(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, "")) => host,
            Some((host, port)) if port.starts_with(':') => host,
            _ => return false,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            Some(_) => return false,
            None => authority,
        }
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(allowed: &AllowedOrigins, origin: &str) -> bool {
        allowed.admits(Some(origin.as_bytes()))
    }

    #[test]
    fn the_default_admits_loopback_pages_and_clients_without_an_origin() {
        let d = AllowedOrigins::default();
        assert!(d.admits(None), "not a browser");
        for ok in [
            "http://localhost:3000",
            "http://localhost",
            "https://LOCALHOST:5173/",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:3000",
            "http://app.localhost:3000",
        ] {
            assert!(admits(&d, ok), "{ok}");
        }
        for refused in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "http://evil.example:3000",
            "null",
            "file://",
            "localhost:3000",
            "http://localhost:3000@evil.example",
            "http://[::1]evil",
            "http://10.0.0.5:3000",
            "",
        ] {
            assert!(!admits(&d, refused), "{refused}");
        }
        assert!(!d.admits(Some(&[0xff, 0xfe])), "not UTF-8");
    }

    #[test]
    fn listed_origins_are_admitted_exactly() {
        let a = AllowedOrigins::with(&[
            "https://d111.cloudfront.net, https://waiter.example.com/".into(),
            "null".into(),
        ])
        .unwrap();
        assert!(admits(&a, "https://d111.cloudfront.net"));
        assert!(admits(&a, "https://WAITER.example.com"));
        assert!(admits(&a, "null"));
        assert!(admits(&a, "http://localhost:3000"), "loopback stays");
        assert!(!admits(&a, "http://d111.cloudfront.net"), "scheme matters");
        assert!(
            !admits(&a, "https://waiter.example.com:8443"),
            "port matters"
        );
        assert!(!admits(&a, "https://evil.example"));
        let any = AllowedOrigins::with(&["*".into()]).unwrap();
        assert!(admits(&any, "https://evil.example"));
        assert_eq!(any, AllowedOrigins::any());
    }

    #[test]
    fn a_list_entry_that_is_not_an_origin_is_refused_at_start_up() {
        let e = AllowedOrigins::with(&["example.com".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#""example.com" is not an origin (scheme://host[:port])"#
        );
        assert!(AllowedOrigins::with(&["https://example.com/path".into()]).is_err());
    }
}
