//! Lambda's instruction set architectures (a function's `Architectures`, the template's
//! `Architecture` parameter: `arm64`, `x86_64`) and the machine an ELF header names, so the
//! packaging tools and the template host tell a binary's architecture the same way. Pure:
//! bytes in, no file is read here.

/// An architecture Lambda runs functions on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// Graviton (AArch64); the stack's default.
    Arm64,
    /// Intel and AMD (x86-64).
    X86_64,
}

impl Architecture {
    /// Every architecture Lambda runs, the stack's default first.
    pub const ALL: [Architecture; 2] = [Architecture::Arm64, Architecture::X86_64];

    /// Lambda's name for it (`Architectures`, the template's `Architecture` parameter).
    pub const fn name(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }

    /// The architecture Lambda names `name` (`arm64`, `x86_64`), if any.
    pub fn parse(name: &str) -> Option<Architecture> {
        Architecture::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The ELF machine of its binaries.
    pub const fn machine(self) -> Machine {
        match self {
            Architecture::Arm64 => Machine::Aarch64,
            Architecture::X86_64 => Machine::X86_64,
        }
    }

    /// The architecture this program was built for, when Lambda runs it.
    pub fn host() -> Option<Architecture> {
        match std::env::consts::ARCH {
            "aarch64" => Some(Architecture::Arm64),
            "x86_64" => Some(Architecture::X86_64),
            _ => None,
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ELF file's machine (`e_machine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
    /// Anything else (the raw `e_machine`).
    Other(u16),
}

impl Machine {
    /// The Lambda architecture that runs it, if one does.
    pub const fn architecture(self) -> Option<Architecture> {
        match self {
            Machine::X86_64 => Some(Architecture::X86_64),
            Machine::Aarch64 => Some(Architecture::Arm64),
            Machine::Other(_) => None,
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Machine::X86_64 => f.write_str(Architecture::X86_64.name()),
            Machine::Aarch64 => f.write_str(Architecture::Arm64.name()),
            Machine::Other(m) => write!(f, "ELF machine {m}"),
        }
    }
}

/// Why a header is not one of a Linux executable Lambda could run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic (or fewer than [`ELF_HEADER_BYTES`]).
    NotElf,
    /// Not 64-bit little-endian.
    Unsupported,
}

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElfError::NotElf => "not an ELF file",
            ElfError::Unsupported => "not a 64-bit little-endian ELF file",
        })
    }
}

impl std::error::Error for ElfError {}

/// How much of a file [`machine`] reads: the ELF identification and `e_type`, `e_machine`.
pub const ELF_HEADER_BYTES: usize = 20;

/// The machine of a 64-bit little-endian ELF file, from its first [`ELF_HEADER_BYTES`] bytes
/// (more are ignored).
pub fn machine(header: &[u8]) -> Result<Machine, ElfError> {
    if header.len() < ELF_HEADER_BYTES || &header[..4] != b"\x7fELF" {
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
        assert_eq!(machine(b"#!/bin/sh\necho hi\n  "), Err(ElfError::NotElf));
        assert_eq!(machine(b"\x7fEL"), Err(ElfError::NotElf));
    }

    #[test]
    fn machines_name_their_architecture() {
        assert_eq!(Machine::Aarch64.architecture(), Some(Architecture::Arm64));
        assert_eq!(Machine::X86_64.architecture(), Some(Architecture::X86_64));
        assert_eq!(Machine::Other(40).architecture(), None);
        assert_eq!(Machine::Aarch64.to_string(), "arm64");
        assert_eq!(Machine::X86_64.to_string(), "x86_64");
        assert_eq!(Machine::Other(40).to_string(), "ELF machine 40");
        for a in Architecture::ALL {
            assert_eq!(a.machine().architecture(), Some(a));
        }
    }

    #[test]
    fn arch_names_round_trip() {
        for a in Architecture::ALL {
            assert_eq!(Architecture::parse(a.name()), Some(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert_eq!(Architecture::parse("aarch64"), None);
    }
}
