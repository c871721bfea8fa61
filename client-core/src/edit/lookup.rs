//! Finding the records an edit names, across the documents of the cadre's village.

use automerge::{ObjId, ObjType, ReadDoc, Value};
use zhibu_schema::{Collection, RecordId};

use crate::error::ClientError;
use crate::phone::Inner;
use crate::{DocKey, Phone};

/// The map at `path` (keys from the root), if there is one.
pub(crate) fn map_at(doc: &impl ReadDoc, path: &[&str]) -> Option<ObjId> {
    let mut obj = automerge::ROOT;
    for key in path {
        match doc.get(&obj, *key).ok()?? {
            (Value::Object(ObjType::Map), id) => obj = id,
            _ => return None,
        }
    }
    Some(obj)
}

/// The text at `path`, written as a string scalar or as Automerge text.
pub(crate) fn text_at(doc: &impl ReadDoc, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    zhibu_schema::mapping::string_at(doc, &map_at(doc, parents)?, last)
}

impl Inner {
    /// The document of the cadre's village that holds record `id` of `collection`.
    pub fn locate(&self, collection: Collection, id: &RecordId) -> Result<DocKey, ClientError> {
        for key in self.village_docs()?.into_iter().rev() {
            let doc = &self.docs[&key].replica.doc;
            if map_at(doc, &[collection.key(), id.as_str()]).is_some() {
                return Ok(key);
            }
        }
        // It may be in a year whose files are damaged: that says what to do.
        let village = self.village()?;
        if let Some(key) = self.damaged.keys().rev().find(|k| k.village == village) {
            self.undamaged(key)?;
        }
        Err(ClientError::NoSuchRecord { collection, id: id.to_string() })
    }

    /// Like [`Inner::locate`], refusing a record that was voided.
    pub fn locate_live(&self, collection: Collection, id: &RecordId) -> Result<DocKey, ClientError> {
        let key = self.locate(collection, id)?;
        if map_at(&self.docs[&key].replica.doc, &[collection.key(), id.as_str(), "voided"]).is_some() {
            return Err(ClientError::Voided { collection, id: id.to_string() });
        }
        Ok(key)
    }

    /// Text at `path` in a loaded document.
    pub fn text(&self, key: &DocKey, path: &[&str]) -> Option<String> {
        self.docs.get(key).and_then(|d| text_at(&d.replica.doc, path))
    }
}

impl Phone {
    /// The document (village and year) that holds record `id` of `collection`.
    pub fn locate(&self, collection: Collection, id: &RecordId) -> Result<DocKey, ClientError> {
        self.with(|inner| inner.locate(collection, id))
    }

    pub(crate) fn locate_live(&self, collection: Collection, id: &RecordId) -> Result<DocKey, ClientError> {
        self.with(|inner| inner.locate_live(collection, id))
    }

    /// Text at `path` in a document (a member's name, a case's title) for commit messages.
    pub(crate) fn text(&self, key: &DocKey, path: &[&str]) -> Option<String> {
        self.lock().text(key, path)
    }
}
