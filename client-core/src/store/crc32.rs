//! CRC-32 (IEEE 802.3, the one in zip, gzip and PNG), used to tell a complete record from a torn
//! or damaged one.
//!
//! Why this checksum: the failures it must catch are a write cut short by a crash, a tail of
//! zeroes or stale blocks after a power loss, and a few flipped bits. CRC-32 detects every error
//! burst up to 32 bits and lets any other damage through with probability 2^-32, which is plenty
//! for records we also frame by length. It is not a defence against deliberate tampering, and
//! need not be: the phone is the only writer. It is thirty lines with a table built at compile
//! time, so it costs no dependency; a simple sum (Adler, Fletcher) would be as short but is weak
//! on the short records and zero runs we care about.

const POLY: u32 = 0xEDB8_8320; // 0x04C11DB7, bit-reversed.

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 of the concatenation of `parts`, so a record's length and payload can be covered
/// without first copying them into one buffer.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[]), 0);
    }

    #[test]
    fn split_input_gives_the_same_crc() {
        assert_eq!(crc32(&[b"1234", b"", b"56789"]), crc32(&[b"123456789"]));
    }

    #[test]
    fn zeroes_do_not_checksum_to_zero() {
        // A zero-filled tail after a power loss must not read as a valid empty record.
        assert_ne!(crc32(&[&[0u8; 4]]), 0);
    }
}
