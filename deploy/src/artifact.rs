//! What a packaged `bootstrap` is: its machine (from the ELF header) and the newest glibc
//! symbol version it needs (from the version names its dynamic section carries).

/// The architectures the stack deploys to (the template's `Architecture` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Graviton; the stack's default.
    Arm64,
    /// Intel and AMD.
    X86_64,
}

impl Arch {
    /// The template parameter's value, and `just package`'s argument.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// Parses a parameter value.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "arm64" => Some(Arch::Arm64),
            "x86_64" => Some(Arch::X86_64),
            _ => None,
        }
    }

    /// The Rust target Lambda runs (`provided.al2023` is glibc-based).
    pub const fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// The ELF machine of its binaries.
    pub const fn machine(self) -> Machine {
        match self {
            Arch::Arm64 => Machine::Aarch64,
            Arch::X86_64 => Machine::X86_64,
        }
    }
}

/// An ELF file's machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
    /// Anything else (the raw `e_machine`).
    Other(u16),
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Machine::X86_64 => f.write_str("x86_64"),
            Machine::Aarch64 => f.write_str("arm64"),
            Machine::Other(m) => write!(f, "ELF machine {m}"),
        }
    }
}

/// Why a file is not a Linux executable this tool understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// No ELF magic.
    #[error("not an ELF file")]
    NotElf,
    /// Not 64-bit little-endian.
    #[error("not a 64-bit little-endian ELF file")]
    Unsupported,
}

/// The machine of an ELF file, from its first 20 bytes.
pub fn machine(header: &[u8]) -> Result<Machine, ElfError> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
    if header[4] != 2 || header[5] != 1 {
        return Err(ElfError::Unsupported);
    }
    Ok(match u16::from_le_bytes([header[18], header[19]]) {
        62 => Machine::X86_64,
        183 => Machine::Aarch64,
        other => Machine::Other(other),
    })
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

    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF".to_vec();
        h.extend([class, data, 1, 0]);
        h.extend([0; 10]);
        h.extend(machine.to_le_bytes());
        h
    }

    #[test]
    fn machines_are_read_from_the_header() {
        assert_eq!(machine(&header(2, 1, 183)), Ok(Machine::Aarch64));
        assert_eq!(machine(&header(2, 1, 62)), Ok(Machine::X86_64));
        assert_eq!(machine(&header(2, 1, 40)), Ok(Machine::Other(40)));
        assert_eq!(machine(&header(1, 1, 62)), Err(ElfError::Unsupported));
        assert_eq!(machine(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf));
        assert_eq!(machine(b"\x7fEL"), Err(ElfError::NotElf));
    }

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
    fn arch_names_round_trip() {
        for a in [Arch::Arm64, Arch::X86_64] {
            assert_eq!(Arch::parse(a.name()), Some(a));
        }
        assert_eq!(Arch::parse("aarch64"), None);
    }
}
