//! Who may call what the server opens on loopback. A machine may be shared, and a browser
//! lets any web page reach `localhost`, so:
//!
//! - the Lambda Runtime API (one port per function process) answers only sockets opened by
//!   this server's own user ([`peer_uid`], read from the kernel's socket table): another
//!   local user cannot take an invocation or answer one. Runtime clients send no
//!   credentials, so the socket's owner is what is checked; a process of the same user could
//!   read a credential from the functions' environment anyway;
//! - the local AWS endpoints the functions call (`@connections` and Secrets Manager, on the
//!   gateway's port) answer only requests that carry the per-run session token the server
//!   hands its functions as `AWS_SESSION_TOKEN` ([`LocalToken`]), which the SDKs send as
//!   `X-Amz-Security-Token`;
//! - all of them refuse a `Host` that is a name other than `localhost`, so a page whose name
//!   rebinds to 127.0.0.1 gets nothing ([`is_local_host`]).
//!
//! The decisions are pure; [`peer_uid`] and [`own_uid`] are the only I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A secret made for one run of the server and handed only to the processes it starts.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalToken(String);

impl std::fmt::Debug for LocalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalToken(..)")
    }
}

impl LocalToken {
    /// A new random token (256 bits).
    pub fn generate() -> LocalToken {
        let bytes: [u8; 32] = rand::random();
        LocalToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Its text, for the functions' environment.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token (compared in constant time).
    pub fn admits(&self, presented: Option<&[u8]>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let expected = self.0.as_bytes();
        presented.len() == expected.len()
            && presented
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Whether a `Host` header names this machine in a way DNS cannot rebind: `localhost`, or an
/// IP address literal (any port). A missing header is HTTP/1.0's, which sockets do not use.
pub fn is_local_host(host: Option<&[u8]>) -> bool {
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) if rest.is_empty() || rest.starts_with(':') => {
                return addr.parse::<Ipv6Addr>().is_ok();
            }
            _ => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<Ipv4Addr>().is_ok()
}

/// The owner (uid) of the socket at `socket_local` connected to `socket_remote`, in one of
/// the kernel's socket tables (`/proc/net/tcp` or `tcp6` text).
pub fn find_uid(table: &str, socket_local: SocketAddr, socket_remote: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = parse_endpoint(fields.get(1)?)?;
        let remote = parse_endpoint(fields.get(2)?)?;
        (same(local, socket_local) && same(remote, socket_remote))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// Two endpoints are the same when their ports match and their addresses do, an IPv4
/// address matching its IPv4-mapped IPv6 form.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6), as the kernel prints them:
/// each 32-bit word in the machine's byte order.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
            .ok()
            .map(u32::to_ne_bytes)
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The user that owns the other end of a loopback connection this server accepted on
/// `local` from `peer` (`None` when the kernel's tables do not show it).
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            // The caller's socket: its local end is our peer, its remote end is us.
            find_uid(&text, peer, local)
        })
}

/// This process's effective user.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_admit_only_themselves() {
        let token = LocalToken::generate();
        assert_eq!(token.expose().len(), 64);
        assert_ne!(token, LocalToken::generate());
        assert!(token.admits(Some(token.expose().as_bytes())));
        assert!(!token.admits(None));
        assert!(!token.admits(Some(b"local")));
        assert!(!token.admits(Some(&token.expose().as_bytes()[..63])));
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn only_names_that_cannot_rebind_are_local() {
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST:1",
            "127.0.0.1:3000",
            "127.0.0.1",
            "[::1]:3000",
            "[::1]",
            "10.0.0.2:80",
        ] {
            assert!(is_local_host(Some(host.as_bytes())), "{host}");
        }
        for host in [
            "evil.example:3000",
            "localhost.evil.example",
            "127.0.0.1.nip.io:3000",
            "[::1",
            "[::1]x",
            "",
        ] {
            assert!(!is_local_host(Some(host.as_bytes())), "{host}");
        }
        assert!(!is_local_host(None));
        assert!(!is_local_host(Some(b"\xff")));
    }

    /// Lines as `/proc/net/tcp` prints them on a little-endian machine.
    #[cfg(target_endian = "little")]
    #[test]
    fn the_caller_socket_owner_is_found_in_the_kernel_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11 1 0 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 12 1 0 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 13 1 0 20 4 30 10 -1
";
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        assert_eq!(find_uid(table, client, server), Some(65534));
        assert_eq!(find_uid(table, server, client), Some(1000));
        let other: SocketAddr = "127.0.0.1:50001".parse().unwrap();
        assert_eq!(find_uid(table, other, server), None);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:C350 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  4242        0 14 1 0 20 4 30 10 -1
";
        assert_eq!(find_uid(v6, client, server), Some(4242));
    }

    #[test]
    fn this_process_finds_its_own_loopback_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(
            peer_uid(listener.local_addr().unwrap(), peer),
            Some(own_uid())
        );
    }
}
