//! A bare peer of the phones' fast path (`POST /v1/sync`, CBOR, one round trip), as the
//! docs/API-EXTENSIONS.md describes it: it remembers the server's heads after its last sync (`known`) and
//! sends every change that is not an ancestor of them. A reply that never arrives changes
//! nothing on the phone, so the next sync simply sends the same changes again.

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{ActorId, Automerge, Change, ChangeHash};
use serde_json::Value;
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::sync::{
    FAST_VERSION, FastDoc, FastOutcome, FastRequest, FastResponse, hashes_from_wire, hashes_to_wire,
};
use zhibu_schema::{AccountId, Code, Collection, MemberId, PointDelta, PointEntry, RecordId, VillageId, Year};

use crate::Server;
use crate::raw_phone::Refused;

#[derive(Debug)]
pub struct FastPhone {
    pub doc: Automerge,
    /// The server's heads as of the last sync that got its reply.
    pub known: Vec<ChangeHash>,
    pub token: String,
    pub peer: String,
    pub village: VillageId,
    pub year: Year,
}

impl FastPhone {
    /// A phone with this actor, starting from the shared genesis of the village's year.
    pub fn new(app: &impl Server, token: &str, actor: &str, village: &str) -> FastPhone {
        let village = VillageId::parse(village).expect("village id");
        let doc = mapping::genesis(&village, app.year()).with_actor(ActorId::from(actor.as_bytes()));
        FastPhone {
            doc,
            known: Vec::new(),
            token: token.to_owned(),
            peer: format!("peer-{actor}"),
            village,
            year: app.year(),
        }
    }

    /// One user action as one change.
    pub fn edit(&mut self, message: &str, f: impl FnOnce(&mut Transaction<'_>) -> Result<(), WriteError>) {
        self.doc
            .transact_with::<_, _, WriteError, _>(|_| CommitOptions::default().with_message(message.to_owned()), f)
            .map_err(|e| e.error)
            .expect("edit applies");
    }

    /// Records `delta` points for volunteering (the rule allows 1 to 5) to `member`, by the
    /// cadre `by`, as one change; returns the entry's id. The phone checks nothing: a delta the
    /// rule does not allow is the server's to refuse.
    pub fn award(&mut self, member: &str, by: &str, delta: i64) -> RecordId {
        let entry = PointEntry {
            member_id: MemberId::parse(member).expect("member id"),
            rule: Code::parse("volunteer").expect("code"),
            delta: PointDelta::new(delta).expect("delta"),
            on: self.year.first_day(),
            note: None,
            by: AccountId::parse(by).expect("account id"),
            voided: None,
        };
        let id = RecordId::new_v7();
        self.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &entry));
        id
    }

    /// The request for this phone's one document.
    pub fn request(&self) -> FastRequest {
        let changes = self.doc.get_changes(&self.known).into_iter().map(|c| c.raw_bytes().to_vec().into()).collect();
        let doc = FastDoc {
            village: self.village.clone(),
            year: self.year,
            known: hashes_to_wire(&self.known),
            heads: hashes_to_wire(&self.doc.get_heads()),
            changes,
        };
        FastRequest { v: FAST_VERSION, docs: vec![doc], catalog: None }
    }

    /// One fast sync. A transport error is `Refused { status: 0 }`; `resync` is
    /// `Refused { status: 0, body: "resync" }` (this peer has no fallback).
    pub async fn sync(&mut self, app: &impl Server) -> Result<(), Refused> {
        let transport = |e: reqwest::Error| Refused { status: 0, body: Value::String(e.to_string()) };
        let r = app
            .http()
            .post(format!("{}/v1/sync", app.url()))
            .bearer_auth(&self.token)
            .header("X-Peer-Id", &self.peer)
            .header("Content-Type", "application/cbor")
            .body(self.request().encode())
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        let body = r.bytes().await.map_err(transport)?;
        if status != 200 {
            return Err(Refused { status, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
        }
        let response = FastResponse::decode(&body).expect("the server's reply decodes");
        match response.docs.into_iter().next().map(|d| d.outcome) {
            Some(FastOutcome::Synced { heads, changes }) => {
                let changes: Vec<Change> = changes
                    .into_iter()
                    .map(|c| Change::from_bytes(c.into_vec()).expect("the server's changes decode"))
                    .collect();
                self.doc.apply_changes(changes).expect("the server's changes apply");
                self.known = hashes_from_wire(&heads).expect("the server's heads decode");
                Ok(())
            }
            Some(FastOutcome::Resync) => Err(Refused { status: 0, body: Value::String("resync".into()) }),
            Some(FastOutcome::Refused { status, code, message, .. }) => {
                Err(Refused { status, body: serde_json::json!({"error": {"code": code, "message": message}}) })
            }
            None => panic!("the reply has no document"),
        }
    }
}
