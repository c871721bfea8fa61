//! The header that starts every snapshot and log file. No IO.
//!
//! Layout (24 bytes): `magic: [u8; 8] | version: u32 LE | generation: u64 LE | crc: u32 LE`,
//! the CRC-32 covering the 20 bytes before it. Magic and version stay at these offsets in every
//! future format, so an old build can always tell "newer format" from "damaged".
//!
//! The generation ties a log to the snapshot it extends; see [`DocFile`](super::DocFile).
//! Headers are only written as part of a whole file by `write_atomic`, never patched in place,
//! so a header that does not check out is damage, not a torn write.

use std::path::Path;

use super::StoreError;
use super::crc32::crc32;

pub(crate) const HEADER_LEN: usize = 24;
const VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Snapshot,
    Log,
}

impl FileKind {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            FileKind::Snapshot => b"zhibuSNP",
            FileKind::Log => b"zhibuLOG",
        }
    }
}

/// Counts compactions. A log extends the snapshot of the same generation; generation 0 is the
/// state before the first snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Generation(u64);

impl Generation {
    pub const BEFORE_FIRST_SNAPSHOT: Generation = Generation(0);

    pub fn next(self) -> Generation {
        Generation(self.0 + 1)
    }
}

pub(crate) fn encode(kind: FileKind, generation: Generation) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(kind.magic());
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..20].copy_from_slice(&generation.0.to_le_bytes());
    let crc = crc32(&[&out[..20]]);
    out[20..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the header at the start of `bytes` (the content of `path`) and returns the
/// generation and the bytes after the header.
pub(crate) fn decode<'a>(kind: FileKind, bytes: &'a [u8], path: &Path) -> Result<(Generation, &'a [u8]), StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt { path: path.to_path_buf(), detail: detail.to_owned() };
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(corrupt("文件头不完整"));
    };
    if &header[..8] != kind.magic() {
        return Err(corrupt("不是 zhibu 数据文件"));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version > VERSION {
        return Err(StoreError::UnsupportedVersion { path: path.to_path_buf(), found: version });
    }
    let crc = u32::from_le_bytes(header[20..].try_into().expect("4 bytes"));
    if version != VERSION || crc32(&[&header[..20]]) != crc {
        return Err(corrupt("文件头校验失败"));
    }
    let generation = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    Ok((Generation(generation), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("x.log")
    }

    #[test]
    fn header_round_trips_and_returns_the_rest() {
        let mut bytes = encode(FileKind::Log, Generation(7)).to_vec();
        bytes.extend_from_slice(b"records");

        let (generation, rest) = decode(FileKind::Log, &bytes, path()).unwrap();

        assert_eq!(generation, Generation(7));
        assert_eq!(rest, b"records");
    }

    #[test]
    fn a_snapshot_is_not_accepted_as_a_log() {
        let bytes = encode(FileKind::Snapshot, Generation(1));

        let err = decode(FileKind::Log, &bytes, path()).unwrap_err();

        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_flipped_bit_in_the_generation_is_caught() {
        let mut bytes = encode(FileKind::Log, Generation(1));
        bytes[12] ^= 0x02;

        let err = decode(FileKind::Log, &bytes, path()).unwrap_err();

        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_short_file_is_corrupt() {
        let bytes = encode(FileKind::Log, Generation(1));

        let err = decode(FileKind::Log, &bytes[..HEADER_LEN - 1], path()).unwrap_err();

        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_newer_format_asks_for_an_upgrade() {
        let mut bytes = encode(FileKind::Log, Generation(1));
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());

        let err = decode(FileKind::Log, &bytes, path()).unwrap_err();

        assert!(matches!(err, StoreError::UnsupportedVersion { found: 2, .. }));
        assert!(err.to_string().contains("请升级"), "{err}");
    }
}
