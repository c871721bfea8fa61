//! Queries, offline: everything here reads the documents on the phone, with the same
//! `zhibu-schema` functions the server uses, so the phone shows the numbers the township will see.

pub mod conflicts;
pub mod gaps;
pub mod status;

use std::sync::Arc;

use zhibu_schema::{
    Catalog, Collection, ComplianceRow, Date, KindSummary, Meeting, MemberId, MemberScore, Period, RecordId,
    VillageYear, Year, all_scores, compliance, member_score, summarize,
};

use crate::error::ClientError;
use crate::phone::Inner;
use crate::{DocKey, Phone};

impl Inner {
    /// The records of a document (read once per state of the document; see
    /// [`crate::replica::records`]); an empty village-year when the phone has none yet.
    pub fn records(&mut self, key: &DocKey) -> Result<Arc<VillageYear>, ClientError> {
        self.undamaged(key)?;
        let dir = self.dir.clone();
        match self.docs.get_mut(key) {
            None => Ok(Arc::new(VillageYear::new(key.village.clone(), key.year))),
            Some(doc) => {
                doc.replica.records(&dir).map_err(|e| ClientError::damaged(dir.join(format!("{}.log", key.stem())), e))
            }
        }
    }
}

impl Phone {
    /// The records of the cadre's village for `year`, as the phone has them.
    pub fn records(&self, year: Year) -> Result<VillageYear, ClientError> {
        Ok((*self.shared_records(year)?).clone())
    }

    /// [`Phone::records`] as the phone keeps them, shared rather than copied.
    fn shared_records(&self, year: Year) -> Result<Arc<VillageYear>, ClientError> {
        self.with(|inner| inner.records(&DocKey::new(inner.village()?, year)))
    }

    fn records_and_catalog(&self, year: Year) -> Result<(Arc<VillageYear>, Catalog), ClientError> {
        self.with(|inner| {
            let key = DocKey::new(inner.village()?, year);
            Ok((inner.records(&key)?, inner.catalog.catalog.clone()))
        })
    }

    /// The meetings held in `period` of `year`, voided ones included (they carry `voided`), by
    /// date.
    pub fn meetings(&self, year: Year, period: Period) -> Result<Vec<(RecordId, Meeting)>, ClientError> {
        let records = self.shared_records(year)?;
        let mut out: Vec<(RecordId, Meeting)> = records
            .meetings
            .iter()
            .filter(|(_, m)| period.contains(m.held_on))
            .map(|(id, m)| (id.clone(), (**m).clone()))
            .collect();
        out.sort_by(|a, b| (a.1.held_on, &a.0).cmp(&(b.1.held_on, &b.0)));
        Ok(out)
    }

    /// A member's score for `year` with every entry and where it comes from (a meeting's
    /// attendance or a point entry).
    pub fn score(&self, year: Year, member: &MemberId) -> Result<MemberScore, ClientError> {
        let (records, catalog) = self.records_and_catalog(year)?;
        member_score(&records, &catalog, member)
            .ok_or_else(|| ClientError::NoSuchRecord { collection: Collection::Members, id: member.to_string() })
    }

    /// Every member's score for `year`, in roster order.
    pub fn scores(&self, year: Year) -> Result<Vec<MemberScore>, ClientError> {
        let (records, catalog) = self.records_and_catalog(year)?;
        Ok(all_scores(&records, &catalog))
    }

    /// Compliance with the meeting requirements, per kind (and party group), summed over
    /// `period`, as it stands on `as_of`.
    pub fn compliance(&self, year: Year, period: Period, as_of: Date) -> Result<Vec<KindSummary>, ClientError> {
        Ok(summarize(&self.compliance_rows(year, as_of)?, period))
    }

    /// Compliance per requirement, period of its cadence and party group, as it stands on
    /// `as_of`.
    pub fn compliance_rows(&self, year: Year, as_of: Date) -> Result<Vec<ComplianceRow>, ClientError> {
        let (records, catalog) = self.records_and_catalog(year)?;
        Ok(compliance(&records, &catalog, as_of))
    }

    /// The record of `collection` that `text` names: its full id, or a unique ending of it (at
    /// least 4 characters), as the `zhibu` program shows ids short. Searches every year.
    pub fn find_record(&self, collection: Collection, text: &str) -> Result<RecordId, ClientError> {
        let text = text.trim().to_ascii_lowercase();
        let not_found = || ClientError::NoSuchRecord { collection, id: text.clone() };
        if let Ok(id) = RecordId::parse(&text) {
            return self.with(|inner| inner.locate(collection, &id)).map(|_| id);
        }
        if text.len() < 4 {
            return Err(not_found());
        }
        let found: Vec<RecordId> = self.with(|inner| {
            let mut found = Vec::new();
            for key in inner.village_docs()? {
                let doc = &inner.docs[&key].replica.doc;
                if let Some(map) = crate::edit::map_at(doc, &[collection.key()]) {
                    use automerge::ReadDoc;
                    found
                        .extend(doc.keys(&map).filter(|k| k.ends_with(&text)).filter_map(|k| RecordId::parse(&k).ok()));
                }
            }
            Ok(found)
        })?;
        match found.as_slice() {
            [] => Err(not_found()),
            [one] => Ok(one.clone()),
            many => {
                let candidates: Vec<String> = many.iter().map(ToString::to_string).collect();
                Err(ClientError::Ambiguous { collection, id: text.clone(), described: candidates.clone(), candidates })
            }
        }
    }

    /// The member of the roster of `year` that `text` names: the member id, or a name that
    /// only one member has.
    pub fn find_member(&self, year: Year, text: &str) -> Result<MemberId, ClientError> {
        let text = text.trim();
        let records = self.shared_records(year)?;
        // Ids are lowercase: V1-M02 typed with caps lock, or in full-width, is v1-m02.
        let as_id = zhibu_schema::date::half_width(text).to_ascii_lowercase();
        if let Ok(id) = MemberId::parse(&as_id)
            && records.members.contains_key(&id)
        {
            return Ok(id);
        }
        let named: Vec<&MemberId> =
            records.members.iter().filter(|(_, m)| m.name.as_str() == text).map(|(id, _)| id).collect();
        match named.as_slice() {
            [one] => Ok((*one).clone()),
            // A new year whose roster nobody has started yet: say how to start it.
            // A year other than this one is most often a mistyped date: said first.
            [] if records.members.is_empty() => {
                let typo = if crate::clock::this_year().is_ok_and(|this| this == year) {
                    String::new()
                } else {
                    format!("日期若是写错了年份，请改正；确是 {year} 年的记录，")
                };
                Err(ClientError::RosterCarry(format!(
                    "{year} 年的名册还是空的，找不到党员「{text}」：{typo}请先同步（乡镇可能已导入名册），\
                     或用 zhibu roster carry-over 从上一年带入"
                )))
            }
            [] => Err(ClientError::NoSuchRecord { collection: Collection::Members, id: text.to_owned() }),
            // Each with their group, which is how a cadre tells two 王芳 apart.
            many => Err(ClientError::Ambiguous {
                collection: Collection::Members,
                id: text.to_owned(),
                candidates: many.iter().map(ToString::to_string).collect(),
                described: many
                    .iter()
                    .map(|id| match &records.members[*id].group {
                        Some(group) => format!("{id}（{group}）"),
                        None => id.to_string(),
                    })
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
