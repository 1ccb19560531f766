//! What packaging a `bootstrap` needs beyond its machine (read from its ELF header by
//! [`streamgate_contract::arch`]): the Rust target an architecture is built for, and the
//! newest glibc symbol version a binary needs (from the version names its dynamic section
//! carries).

use streamgate_contract::arch::Architecture;

/// The Rust target Lambda runs for `arch` (`provided.al2023` is glibc-based).
pub const fn rust_target(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Arm64 => "aarch64-unknown-linux-gnu",
        Architecture::X86_64 => "x86_64-unknown-linux-gnu",
    }
}

/// The newest `GLIBC_x.y` version a binary names (the versions its dynamic symbols need,
/// which the dynamic linker checks at start), as `(major, minor)`; `None` when it names none
/// (a static binary).
pub fn newest_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    let needle = b"GLIBC_";
    let mut newest = None;
    let mut i = 0;
    while let Some(pos) = find(&binary[i..], needle) {
        let start = i + pos + needle.len();
        let digits: Vec<u8> = binary[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .copied()
            .collect();
        let text = String::from_utf8_lossy(&digits);
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
            newest = newest.max(Some((major, minor)));
        }
        i = start;
    }
    newest
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The glibc of `provided.al2023` (Amazon Linux 2023).
pub const AL2023_GLIBC: (u32, u32) = (2, 34);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_glibc_version_is_found() {
        let bytes = b"\0libc.so.6\0GLIBC_2.17\0GLIBC_2.28\0GLIBC_2.3.4\0GLIBC_PRIVATE\0";
        assert_eq!(newest_glibc(bytes), Some((2, 28)));
        assert_eq!(newest_glibc(b"\0GLIBC_2.39\0GLIBC_2.2.5\0"), Some((2, 39)));
        assert_eq!(newest_glibc(b"static, no libc"), None);
        assert!(Some((2, 28)) <= Some(AL2023_GLIBC));
        assert!(Some((2, 39)) > Some(AL2023_GLIBC));
    }

    #[test]
    fn each_architecture_has_its_rust_target() {
        assert_eq!(
            rust_target(Architecture::Arm64),
            "aarch64-unknown-linux-gnu"
        );
        assert_eq!(
            rust_target(Architecture::X86_64),
            "x86_64-unknown-linux-gnu"
        );
    }
}
