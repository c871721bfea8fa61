//! How one chunk is framed on disk, and how a run of frames is read back. No IO.
//!
//! A record is `len: u32 LE | crc: u32 LE | payload (len bytes)`, where `crc` is the CRC-32 of
//! the four length bytes followed by the payload. Covering the length means a damaged length
//! cannot frame a wrong payload that happens to check out, and a run of zeroes (what some file
//! systems show past the last durable write after a power loss) never reads as a record.
//!
//! Invariant of [`scan`]: it returns the whole, checksum-valid records in order and the byte
//! length up to the end of the last of them. Records are only ever appended, so a bad record is
//! normally a torn tail, and whatever follows it is garbage from the same failed write: reading
//! stops there. A bad record that whole, valid records follow, each where the one before it
//! says it ends, is damage to the disk instead (a flipped bit on cheap flash): it is skipped,
//! counted, and the records after it are read, since they are edits the phone may not have
//! synced yet. A damaged length cannot be stepped over; reading stops there ([`find_all`] still
//! finds the records after it, by trying each offset, for the caller to tell damage from a torn
//! tail and to salvage them).

use super::StoreError;
use super::crc32::crc32;

pub(crate) const FRAME_LEN: usize = 8;
pub(crate) const MAX_PAYLOAD: usize = u32::MAX as usize;

/// The framed record for `payload`, ready to be written in one go.
pub(crate) fn encode(payload: &[u8]) -> Result<Vec<u8>, StoreError> {
    let len =
        u32::try_from(payload.len()).map_err(|_| StoreError::ChunkTooLarge { len: payload.len(), max: MAX_PAYLOAD })?;
    let len = len.to_le_bytes();
    let mut out = Vec::with_capacity(FRAME_LEN + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32(&[&len, payload]).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan<'a> {
    pub records: Vec<&'a [u8]>,
    /// Bytes of `input` up to the end of the last of `records`; anything after is a torn or
    /// damaged tail.
    pub valid_len: usize,
    /// Damaged records skipped before the last of `records`.
    pub skipped: usize,
}

impl Scan<'_> {
    pub fn has_bad_tail(&self, input_len: usize) -> bool {
        input_len > self.valid_len
    }
}

pub(crate) fn scan(input: &[u8]) -> Scan<'_> {
    let mut records = Vec::new();
    let mut rest = input;
    let mut skipped = 0;
    loop {
        while let Some((payload, after)) = next_record(rest) {
            records.push(payload);
            rest = after;
        }
        // A whole record that does not check out, followed right where it says it ends by one
        // that does: damage, stepped over.
        match past_damaged(rest) {
            Some(after) if next_record(after).is_some() => {
                skipped += 1;
                rest = after;
            }
            _ => break,
        }
    }
    Scan { records, valid_len: input.len() - rest.len(), skipped }
}

/// Every whole, checksum-valid record in `input`, wherever it starts: those [`scan`] reads, and
/// past where it stops (a damaged length, which cannot be stepped over) each later offset is
/// tried until a record checks out, and reading goes on from there. For salvaging damaged files,
/// and for telling such damage from a torn tail, which holds no whole record after it. A false
/// find needs a length that fits and a CRC-32 that matches by chance.
pub(crate) fn find_all(input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let read = scan(&input[at..]);
        out.extend(read.records);
        at += read.valid_len;
        // The record at `at` does not check out (or `scan` would have read it).
        match (at + 1..input.len()).find(|&i| next_record(&input[i..]).is_some()) {
            Some(next) => at = next,
            None => break,
        }
    }
    out
}

/// What follows the (bad) record at the start of `input`, by the length its frame declares.
fn past_damaged(input: &[u8]) -> Option<&[u8]> {
    let (frame, rest) = input.split_first_chunk::<FRAME_LEN>()?;
    let n = usize::try_from(u32::from_le_bytes(frame[..4].try_into().ok()?)).ok()?;
    rest.get(n..)
}

fn next_record(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (frame, rest) = input.split_first_chunk::<FRAME_LEN>()?;
    let (len, crc) = frame.split_at(4);
    let n = usize::try_from(u32::from_le_bytes(len.try_into().ok()?)).ok()?;
    if rest.len() < n {
        return None;
    }
    let (payload, after) = rest.split_at(n);
    let expected = u32::from_le_bytes(crc.try_into().ok()?);
    (crc32(&[len, payload]) == expected).then_some((payload, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(chunks: &[&[u8]]) -> Vec<u8> {
        chunks.iter().flat_map(|c| encode(c).unwrap()).collect()
    }

    #[test]
    fn records_past_a_damaged_length_are_found_by_their_checksum() {
        let mut bytes = log_of(&[b"first", b"second", b"third", b"fourth"]);
        let second = (8 + 5) as usize;
        bytes[second] ^= 0x40;

        assert_eq!(scan(&bytes).records, vec![&b"first"[..]], "scan stops at the damaged length");
        assert_eq!(find_all(&bytes), vec![&b"first"[..], b"third", b"fourth"]);
        // A torn tail holds no whole record after it.
        let whole = log_of(&[b"first", b"second"]);
        assert_eq!(find_all(&whole[..whole.len() - 3]), vec![&b"first"[..]]);
        assert_eq!(find_all(&[0u8; 64]), Vec::<&[u8]>::new(), "zeroes are no record");
    }

    #[test]
    fn records_read_back_in_order() {
        let bytes = log_of(&[b"first", b"", b"third"]);

        let scan = scan(&bytes);

        assert_eq!(scan.records, vec![&b"first"[..], b"", b"third"]);
        assert_eq!(scan.valid_len, bytes.len());
    }

    #[test]
    fn a_record_cut_anywhere_is_dropped_and_its_predecessors_kept() {
        let whole = log_of(&[b"kept", b"torn record"]);
        let first_len = FRAME_LEN + 4;
        for cut in first_len..whole.len() {
            let scan = scan(&whole[..cut]);
            assert_eq!(scan.records, vec![&b"kept"[..]], "cut at {cut}");
            assert_eq!(scan.valid_len, first_len, "cut at {cut}");
        }
    }

    #[test]
    fn a_bad_checksum_in_the_last_record_drops_it() {
        let mut bytes = log_of(&[b"good", b"flipped"]);
        *bytes.last_mut().unwrap() ^= 0x01;

        let scan = scan(&bytes);

        assert_eq!(scan.records, vec![&b"good"[..]]);
        assert!(scan.has_bad_tail(bytes.len()));
    }

    #[test]
    fn a_damaged_record_that_good_ones_follow_is_skipped_and_they_are_read() {
        let mut bytes = log_of(&[b"one", b"two", b"three"]);
        let second_payload = 2 * FRAME_LEN + 3;
        bytes[second_payload] ^= 0x80;

        let scan = scan(&bytes);

        assert_eq!(scan.records, vec![&b"one"[..], b"three"]);
        assert_eq!((scan.valid_len, scan.skipped), (bytes.len(), 1));
    }

    #[test]
    fn reading_stops_at_a_damaged_length_and_at_a_bad_last_record() {
        let mut bytes = log_of(&[b"one", b"two", b"three"]);
        bytes[FRAME_LEN + 3] ^= 0x40; // the second record's length
        let read = scan(&bytes);
        assert_eq!((read.records, read.valid_len, read.skipped), (vec![&b"one"[..]], FRAME_LEN + 3, 0));

        let mut bytes = log_of(&[b"one", b"two"]);
        *bytes.last_mut().unwrap() ^= 0x01;
        let read = scan(&bytes);
        assert_eq!((read.records, read.skipped), (vec![&b"one"[..]], 0));
    }

    #[test]
    fn a_zero_filled_tail_is_not_a_record() {
        let mut bytes = log_of(&[b"real"]);
        bytes.extend_from_slice(&[0u8; 64]);

        assert_eq!(scan(&bytes).records, vec![&b"real"[..]]);
    }

    #[test]
    fn random_bytes_never_panic_and_never_overrun() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2_000 {
            let mut bytes = log_of(&[b"a", b"bb"]);
            let noise: Vec<u8> = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
            bytes.extend_from_slice(&noise);
            let at = rng.usize(..bytes.len());
            bytes[at] = rng.u8(..);

            let scan = scan(&bytes);

            assert!(scan.valid_len <= bytes.len());
            assert!(scan.records.len() <= 2 + noise.len() / FRAME_LEN);
        }
    }
}
