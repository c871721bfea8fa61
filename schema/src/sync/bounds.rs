//! Bounds on what a sender's Automerge chunks declare, checked before Automerge parses them.
//!
//! Automerge 0.12 trusts two things a sender controls. A compressed change chunk, and each
//! compressed column of a document chunk, is inflated whole, and DEFLATE expands up to about a
//! thousand times: an 8 MiB request would ask for gigabytes, and a failed allocation aborts the
//! process (no panic to catch). And a run-length-encoded column may declare any number of
//! entries in a few bytes: a change of some sixty bytes declaring 2^40 operations keeps a core
//! busy for hours while it is verified, and a smaller count is built in memory when applied.
//! No library checks these before Automerge does, so this module reads the framing of the
//! chunks and of their columns (never the values) and refuses a chunk that inflates past
//! [`MAX_INFLATED`] or declares more than [`MAX_ROWS`] entries, in time linear in its bytes.
//! Anything else malformed is left for Automerge to refuse.
//!
//! The formats (Automerge's binary format, as `automerge::storage` reads it): a chunk is the
//! magic bytes, a checksum, a type and a LEB128 length, then its data. A change's data holds
//! its header (dependencies, actor, sequence number, first operation, time, message, other
//! actors), then its columns' specifications and lengths, then the columns. A document's holds
//! its actors and heads, the specifications and lengths of its change columns and of its
//! operation columns, then the columns, then the heads' indices. A column's specification
//! carries its type in its low three bits and whether it is deflated in the fourth.

use std::io::Read;

use super::Refusal;

/// The most bytes the compressed chunks and columns of one request may inflate to, in all: a
/// busy village-year saved whole is about 120 KB, a month of a phone's changes about 20 KB.
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;

/// The most entries the chunks of one request may declare, in all, counting each chunk by its
/// longest column (its operations, or a document's changes) and the entries its group columns
/// open: a busy village-year holds about 6,300 operations, a phone's month about 540. Automerge
/// decodes a million declared operations in about 0.15 s (a debug build) before applying them.
pub const MAX_ROWS: u64 = 200_000;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;

/// What the chunks of one request have used of the bounds so far.
#[derive(Debug, Default)]
pub struct Budget {
    inflated: usize,
    rows: u64,
}

impl Budget {
    /// Checks the chunks of one request against the bounds, counted together.
    pub fn check_all<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<(), Refusal> {
        let mut budget = Budget::default();
        chunks.into_iter().try_for_each(|chunk| budget.check(chunk))
    }

    /// Checks every chunk in `bytes` (one or more, one after the other, as Automerge loads them)
    /// and counts it against the bounds.
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some((kind, data, after)) = chunk(rest) else { return Ok(()) };
            match kind {
                DOCUMENT => self.document(data)?,
                CHANGE => self.change(data)?,
                COMPRESSED => {
                    let inflated = self.inflate(data)?;
                    self.change(&inflated)?;
                }
                other => return Err(refused(format!("不支持的 Automerge 数据块类型 {other}"))),
            }
            rest = after;
        }
        Ok(())
    }

    /// A change's data: its header, then its columns.
    fn change(&mut self, data: &[u8]) -> Result<(), Refusal> {
        let mut i = data;
        let Some(()) = (|| {
            let deps = uleb(&mut i)?;
            skip(&mut i, usize::try_from(deps).ok()?.checked_mul(32)?)?;
            skip_prefixed(&mut i)?; // actor
            uleb(&mut i)?; // seq
            uleb(&mut i)?; // start op
            sleb(&mut i)?; // time
            skip_prefixed(&mut i)?; // message
            for _ in 0..uleb(&mut i)? {
                skip_prefixed(&mut i)?; // other actors
            }
            Some(())
        })() else {
            return Ok(());
        };
        let Some(columns) = specs(&mut i) else { return Ok(()) };
        self.columns(&columns, i)
    }

    /// A document's data: its actors and heads, then its change and operation columns.
    fn document(&mut self, data: &[u8]) -> Result<(), Refusal> {
        let mut i = data;
        let Some((changes, ops)) = (|| {
            for _ in 0..uleb(&mut i)? {
                skip_prefixed(&mut i)?; // actors
            }
            let heads = uleb(&mut i)?;
            skip(&mut i, usize::try_from(heads).ok()?.checked_mul(32)?)?;
            Some((specs(&mut i)?, specs(&mut i)?))
        })() else {
            return Ok(());
        };
        let change_len = changes.iter().try_fold(0usize, |n, (_, len)| n.checked_add(*len));
        let Some(change_data) = change_len.and_then(|n| i.get(..n)) else { return Ok(()) };
        self.columns(&changes, change_data)?;
        self.columns(&ops, &i[change_data.len()..])
    }

    /// Columns of the given specifications and lengths, laid out one after the other in
    /// `data`: each inflated when deflated, and counted.
    fn columns(&mut self, columns: &[(u32, usize)], data: &[u8]) -> Result<(), Refusal> {
        let mut rest = data;
        let mut longest = 0u64;
        for &(spec, len) in columns {
            let Some(column) = rest.get(..len) else { break };
            rest = &rest[len..];
            let inflated;
            let column = if spec & 0x08 != 0 {
                inflated = self.inflate(column)?;
                &inflated[..]
            } else {
                column
            };
            let (entries, opened) = count(spec & 0x07, column);
            longest = longest.max(entries).max(opened);
        }
        self.rows = self.rows.saturating_add(longest);
        if self.rows > MAX_ROWS {
            return Err(refused(format!("数据声明的条目过多（超过 {MAX_ROWS} 条），不予处理")));
        }
        Ok(())
    }

    /// Inflates raw DEFLATE data, refusing it as soon as the request's inflated bytes pass the
    /// bound.
    fn inflate(&mut self, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        let left = MAX_INFLATED - self.inflated;
        let mut out = Vec::new();
        let reader = flate2::bufread::DeflateDecoder::new(data);
        // One byte more than is left, to know whether it would pass the bound.
        match reader.take(left as u64 + 1).read_to_end(&mut out) {
            Ok(n) if n <= left => {
                self.inflated += n;
                Ok(out)
            }
            Ok(_) => Err(refused(format!("压缩数据解压后超过 {} MiB，不予处理", MAX_INFLATED >> 20))),
            // Not DEFLATE: Automerge refuses it on its own, without inflating anything.
            Err(_) => Ok(Vec::new()),
        }
    }
}

fn refused(message: String) -> Refusal {
    Refusal::Undecodable(message)
}

/// The first chunk of `bytes`: its type, its data and what follows it; None when `bytes` does
/// not start with a whole chunk (Automerge refuses it).
fn chunk(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (&kind, mut rest) = rest.get(4..)?.split_first()?;
    let len = usize::try_from(uleb(&mut rest)?).ok()?;
    (len <= rest.len()).then(|| (kind, &rest[..len], &rest[len..]))
}

/// Column specifications and lengths, as a chunk lists them.
fn specs(i: &mut &[u8]) -> Option<Vec<(u32, usize)>> {
    let n = uleb(i)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let spec = u32::try_from(uleb(i)?).ok()?;
        let len = usize::try_from(uleb(i)?).ok()?;
        out.push((spec, len));
    }
    Some(out)
}

/// How many entries a column of this type declares, and for a group column how many entries
/// of the columns it groups its values open. Counting stops where the framing breaks.
fn count(kind: u32, mut data: &[u8]) -> (u64, u64) {
    const GROUP: u32 = 0;
    const DELTA: u32 = 3;
    const BOOLEAN: u32 = 4;
    const STRING: u32 = 5;
    const RAW: u32 = 7;
    let i = &mut data;
    let (mut entries, mut opened) = (0u64, 0u64);
    match kind {
        RAW => {}
        // Alternating runs of false and true, each a LEB128 count.
        BOOLEAN => {
            while let Some(n) = uleb(i) {
                entries = entries.saturating_add(n);
            }
        }
        // Runs: a signed count, then one value repeated that many times (count > 0), that many
        // literal values (count < 0), or an unsigned count of nulls (count 0).
        _ => {
            let value = |i: &mut &[u8]| -> Option<u64> {
                match kind {
                    STRING => skip_prefixed(i).map(|()| 0),
                    DELTA => sleb(i).map(|_| 0),
                    _ => uleb(i),
                }
            };
            while let Some(n) = sleb(i) {
                if n > 0 {
                    let Some(v) = value(i) else { break };
                    entries = entries.saturating_add(n.unsigned_abs());
                    if kind == GROUP {
                        opened = opened.saturating_add(v.saturating_mul(n.unsigned_abs()));
                    }
                } else if n < 0 {
                    for _ in 0..n.unsigned_abs() {
                        let Some(v) = value(i) else { break };
                        entries = entries.saturating_add(1);
                        if kind == GROUP {
                            opened = opened.saturating_add(v);
                        }
                    }
                } else {
                    let Some(nulls) = uleb(i) else { break };
                    entries = entries.saturating_add(nulls);
                }
            }
        }
    }
    (entries, opened)
}

/// An unsigned LEB128 number, or None when the bytes end first or it passes 64 bits.
pub(crate) fn uleb(i: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = i.split_first()?;
        *i = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A signed LEB128 number, or None when the bytes end first or it passes 64 bits.
fn sleb(i: &mut &[u8]) -> Option<i64> {
    let mut value = 0i64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = i.split_first()?;
        *i = rest;
        value |= i64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let sign = shift + 7 < 64 && byte & 0x40 != 0;
            return Some(if sign { value | (-1i64 << (shift + 7)) } else { value });
        }
    }
    None
}

fn skip(i: &mut &[u8], n: usize) -> Option<()> {
    *i = i.get(n..)?;
    Some(())
}

/// Skips a LEB128 length and that many bytes.
fn skip_prefixed(i: &mut &[u8]) -> Option<()> {
    let n = usize::try_from(uleb(i)?).ok()?;
    skip(i, n)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use super::*;
    use crate::testutil::{automerge_of, village};

    fn uleb_bytes(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn sleb_bytes(mut n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0) {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// A run of `n` copies of `value` (already encoded) in a run-length-encoded column.
    fn run(n: u64, value: &[u8]) -> Vec<u8> {
        let mut out = sleb_bytes(i64::try_from(n).expect("count"));
        out.extend(value);
        out
    }

    fn chunk_of(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        out.extend(uleb_bytes(data.len() as u64));
        out.extend(data);
        out
    }

    fn deflated(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).expect("deflates");
        e.finish().expect("deflates")
    }

    /// A change whose five columns each declare `n` entries in a few bytes (the columns of key
    /// strings, insert flags, actions, value metadata and predecessor groups).
    fn declaring(n: u64) -> Vec<u8> {
        let mut header = vec![0]; // no dependencies
        header.extend([1, 7]); // actor: one byte
        header.extend([1, 1, 0, 0, 0]); // seq, start op, time, message, other actors
        let columns: Vec<(u32, Vec<u8>)> = vec![
            (0x15, run(n, b"\x01x")),
            (0x34, uleb_bytes(n)),
            (0x42, run(n, &[1])),
            (0x56, run(n, &[0])),
            (0x70, run(n, &[0])),
        ];
        header.extend(uleb_bytes(columns.len() as u64));
        for (spec, data) in &columns {
            header.extend(uleb_bytes(u64::from(*spec)));
            header.extend(uleb_bytes(data.len() as u64));
        }
        for (_, data) in &columns {
            header.extend(data);
        }
        chunk_of(CHANGE, &header)
    }

    #[test]
    fn what_automerge_writes_passes() {
        let doc = automerge_of(&village());
        let mut budget = Budget::default();
        for mut change in doc.get_changes(&[]) {
            budget.check(change.raw_bytes()).expect("a change");
            budget.check(&change.bytes()).expect("a change as Automerge compresses it");
        }
        budget.check(&doc.save()).expect("a document, its columns deflated");
        budget.check(&doc.save_nocompress()).expect("a document");
        // Whole and compressed changes were among them.
        let compressed = doc.get_changes(&[]).into_iter().any(|mut c| c.bytes()[8] == COMPRESSED);
        assert!(compressed, "the sample has a change large enough to be compressed");
        assert!(budget.rows > 0 && budget.inflated > 0, "{budget:?}");
    }

    #[test]
    fn a_change_declaring_huge_columns_is_refused_at_once() {
        // Small counts pass this check (Automerge then refuses the nonsense on its own).
        Budget::default().check(&declaring(1_000)).expect("a thousand entries");
        for n in [MAX_ROWS + 1, 1 << 40, (1 << 62) - 1] {
            let bomb = declaring(n);
            assert!(bomb.len() < 100, "{} bytes", bomb.len());
            let started = Instant::now();
            let err = Budget::default().check(&bomb).expect_err("refused");
            assert!(err.to_string().contains("条目过多"), "{err}");
            assert!(started.elapsed().as_secs() < 5, "checked in time linear in the bytes");
        }
        // Counted over the request, not chunk by chunk.
        let mut budget = Budget::default();
        let half = declaring(MAX_ROWS / 2 + 1);
        budget.check(&half).expect("half");
        assert!(budget.check(&half).is_err(), "the second half passes the bound");
    }

    #[test]
    fn compressed_data_that_inflates_past_the_bound_is_refused() {
        let zeros = vec![0u8; MAX_INFLATED + 1024];
        let change_bomb = chunk_of(COMPRESSED, &deflated(&zeros));
        assert!(change_bomb.len() < 64 * 1024, "{} bytes", change_bomb.len());
        let err = Budget::default().check(&change_bomb).expect_err("refused");
        assert!(err.to_string().contains("解压后超过 16 MiB"), "{err}");

        // A document whose one operation column is deflated.
        let column = deflated(&zeros);
        let mut data = vec![0, 0, 0]; // no actors, no heads, no change columns
        data.extend([1]);
        data.extend(uleb_bytes(0x42 | 0x08));
        data.extend(uleb_bytes(column.len() as u64));
        data.extend(&column);
        let doc_bomb = chunk_of(DOCUMENT, &data);
        assert!(Budget::default().check(&doc_bomb).is_err(), "a deflated column");
        assert!(crate::guard::load_document(&doc_bomb).is_err(), "nor is it loaded");
    }

    #[test]
    fn bundles_and_unknown_chunks_are_refused() {
        for kind in [3, 9] {
            let err = Budget::default().check(&chunk_of(kind, &[])).expect_err("refused");
            assert!(err.to_string().contains(&format!("数据块类型 {kind}")), "{err}");
        }
        // Bytes that are not a chunk at all are left for Automerge to refuse.
        Budget::default().check(b"not a chunk").expect("left to Automerge");
    }

    #[test]
    fn a_fast_push_carrying_a_bomb_is_refused_before_automerge_sees_it() {
        let base = automerge_of(&village());
        let doc = crate::sync::FastDoc {
            village: crate::VillageId::parse("v1").expect("id"),
            year: crate::Year::new(2026).expect("year"),
            known: crate::sync::hashes_to_wire(&base.get_heads()),
            heads: crate::sync::hashes_to_wire(&base.get_heads()),
            changes: vec![serde_bytes::ByteBuf::from(declaring(1 << 40))],
        };
        let started = Instant::now();
        let catalog = crate::Catalog::default();
        let owner = |_: &automerge::ActorId| crate::sync::Owner::Caller;
        let gate = crate::sync::Gate {
            village: &doc.village,
            year: doc.year,
            catalog: &catalog,
            account: "cadre1",
            owner: &owner,
        };
        let err = crate::sync::receive_fast(&base, &doc, &gate).expect_err("refused");
        assert!(matches!(err, Refusal::Undecodable(_)), "{err:?}");
        assert!(started.elapsed().as_secs() < 5);
    }
}
