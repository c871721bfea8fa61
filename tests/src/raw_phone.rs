//! A bare Automerge peer speaking API.md's standard sync endpoint, for testing the server's
//! protocol handling and its refusals at the byte level (the real phone library is tested
//! against the server in the scenario tests).

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transaction};
use automerge::{ActorId, Automerge};
use serde_json::Value;
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::{AccountId, Code, Collection, MemberId, PointDelta, PointEntry, RecordId, VillageId, Year};

use crate::Server;

/// A refusal from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

#[derive(Debug)]
pub struct RawPhone {
    pub doc: Automerge,
    pub state: sync::State,
    pub token: String,
    pub peer: String,
    pub village: String,
    /// The year whose document it syncs.
    pub year: Year,
}

impl RawPhone {
    /// A phone with this actor, starting from the shared genesis of the village's year.
    pub fn new(app: &impl Server, token: &str, actor: &str, village: &str) -> RawPhone {
        let v = VillageId::parse(village).expect("village id");
        let doc = mapping::genesis(&v, app.year()).with_actor(ActorId::from(actor.as_bytes()));
        RawPhone {
            doc,
            state: sync::State::new(),
            token: token.to_owned(),
            peer: format!("peer-{actor}"),
            village: village.to_owned(),
            year: app.year(),
        }
    }

    /// A peer of `year` that starts from an empty document, as a JavaScript client's
    /// `Automerge.init()` does, knowing nothing of the genesis change.
    pub fn from_nothing(app: &impl Server, token: &str, actor: &str, village: &str, year: Year) -> RawPhone {
        RawPhone {
            doc: Automerge::new().with_actor(ActorId::from(actor.as_bytes())),
            year,
            ..RawPhone::new(app, token, actor, village)
        }
    }

    pub fn year(&self) -> Year {
        self.year
    }

    /// Awards points to one of the village's first eight members as `cadre`, the `n`th award
    /// (the deltas vary with `n`), in one change; the record's id.
    pub fn award(&mut self, cadre: &str, n: usize) -> RecordId {
        let id = RecordId::new_v7();
        let p = PointEntry {
            member_id: MemberId::parse(&format!("{}-m{:02}", self.village, n % 8 + 1)).expect("id"),
            rule: Code::parse("volunteer").expect("code"),
            delta: PointDelta::new(1 + (n % 5) as i64).expect("delta"),
            on: self.year().first_day(),
            note: None,
            by: AccountId::parse(cadre).expect("id"),
            voided: None,
        };
        self.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
        id
    }

    /// One user action as one change.
    pub fn edit(&mut self, message: &str, f: impl FnOnce(&mut Transaction<'_>) -> Result<(), WriteError>) {
        self.doc
            .transact_with::<_, _, WriteError, _>(|_| CommitOptions::default().with_message(message.to_owned()), f)
            .map_err(|e| e.error)
            .expect("edit applies");
    }

    /// Sends one message body as is; returns status and body.
    pub async fn post_raw(&self, app: &impl Server, body: Vec<u8>, content_type: &str) -> (u16, Vec<u8>) {
        self.try_post(app, body, content_type).await.expect("request")
    }

    /// Like `post_raw`, with transport errors (server gone) as `Err`.
    pub async fn try_post(
        &self,
        app: &impl Server,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Vec<u8>), reqwest::Error> {
        let url = format!("{}/v1/villages/{}/years/{}/sync", app.url(), self.village, self.year);
        let r = app
            .http()
            .post(url)
            .bearer_auth(&self.token)
            .header("X-Peer-Id", &self.peer)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.bytes().await?.to_vec()))
    }

    /// The standard protocol until both sides are quiet. A transport error (the server went
    /// away) is `Refused { status: 0 }`; the phone then starts its next sync afresh.
    pub async fn sync(&mut self, app: &impl Server) -> Result<(), Refused> {
        // A new session: keep only what persists (the shared heads), so the phone always asks
        // the server at least once instead of assuming nothing happened since last time.
        self.state = sync::State::decode(&self.state.encode()).unwrap_or_default();
        for _ in 0..32 {
            let Some(msg) = self.doc.generate_sync_message(&mut self.state) else { return Ok(()) };
            let (status, body) = match self.try_post(app, msg.encode(), "application/octet-stream").await {
                Ok(r) => r,
                Err(e) => {
                    self.state = sync::State::new();
                    return Err(Refused { status: 0, body: Value::String(e.to_string()) });
                }
            };
            match status {
                200 => {
                    let reply = sync::Message::decode(&body).expect("server reply decodes");
                    self.doc.receive_sync_message(&mut self.state, reply).expect("server reply applies");
                }
                204 => {}
                _ => {
                    // The server stored nothing; forget what we believed it received.
                    self.state = sync::State::new();
                    return Err(Refused { status, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
                }
            }
        }
        panic!("sync did not settle in 32 round trips");
    }
}
