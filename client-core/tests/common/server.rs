//! A server core in-process: the real admission and sync functions of `zhibu_schema::sync`,
//! with the server's rules for what it keeps (the document per village-year, actor bindings,
//! each peer's sync state as `State::encode` keeps it), and none of HTTP or SQL.

use std::collections::HashMap;

use automerge::sync::State;
use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge};
use zhibu_client::zhibu_schema::mapping::{self, WriteError};
use zhibu_client::zhibu_schema::sync::{
    FAST_VERSION, FastOutcome, FastReply, FastRequest, FastResponse, Gate, Owner, Refusal, receive_fast, receive_sync,
};
use zhibu_client::zhibu_schema::{Catalog, Collection, VillageId, Year, sample};
use zhibu_client::{DocKey, ServerRefusal, TransportError};

#[derive(Debug)]
pub struct Server {
    pub docs: HashMap<DocKey, Automerge>,
    pub owners: HashMap<ActorId, String>,
    pub states: HashMap<(DocKey, String), Vec<u8>>,
    pub catalog: Catalog,
    /// Answer `Resync` to the fast path this often (0.0 to 1.0), as when the server cannot tell
    /// what the phone lacks.
    pub resync_rate: f64,
    /// Answer the fast path with this status and no JSON body, as a proxy in front of the
    /// server would (413 for a body over its limit, 404 where it does not route `/v1/sync`).
    pub fast_path_status: Option<u16>,
    /// Answer `GET .../doc` with this status and no JSON body, as a proxy that does not route
    /// it would.
    pub doc_path_status: Option<u16>,
    /// Answer this many of the next documents of the fast path `Refused` 409 `busy`, storing
    /// nothing, as the server does when a document stays taken.
    pub busy_next: usize,
    pub rng: fastrand::Rng,
}

fn refusal_of(r: Refusal) -> ServerRefusal {
    let (status, code) = match &r {
        Refusal::Undecodable(_) => (400, "undecodable"),
        Refusal::ForeignActor { .. } => (403, "foreign_actor"),
        Refusal::ForgedGenesis => (403, "forged_genesis"),
        Refusal::Invalid(_) => (422, "invalid_records"),
    };
    let violations = match &r {
        Refusal::Invalid(v) => v.clone(),
        _ => Vec::new(),
    };
    ServerRefusal { status, code: code.into(), message: r.to_string(), violations }
}

impl Server {
    /// A server holding village `v1`'s document for `year` with a roster of `members`, written
    /// by the server itself (as the real one imports rosters).
    pub fn new(year: Year, members: usize, seed: u64) -> Server {
        let village = VillageId::parse("v1").unwrap();
        let roster = sample::roster(&village, year, members, 2);
        let mut doc = mapping::genesis(&village, year).with_actor(ActorId::from(b"server".as_slice()));
        doc.transact_with::<_, _, WriteError, _>(
            |_| CommitOptions::default().with_message("导入党员名册").with_time(0),
            |tx| {
                for (id, m) in &roster.members {
                    mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
                }
                Ok(())
            },
        )
        .unwrap();
        let mut owners = HashMap::new();
        owners.insert(ActorId::from(b"server".as_slice()), "admin".to_owned());
        let mut docs = HashMap::new();
        docs.insert(DocKey::new(village, year), doc);
        Server {
            docs,
            owners,
            states: HashMap::new(),
            catalog: Catalog::default(),
            resync_rate: 0.0,
            fast_path_status: None,
            busy_next: 0,
            doc_path_status: None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn with_gate<R>(&mut self, key: &DocKey, account: &str, f: impl FnOnce(&Automerge, &Gate<'_>) -> R) -> R {
        let owners = self.owners.clone();
        let caller = account.to_owned();
        let owner = move |a: &ActorId| match owners.get(a) {
            None => Owner::Unbound,
            Some(o) if *o == caller => Owner::Caller,
            Some(_) => Owner::Other,
        };
        let base = self.docs.entry(key.clone()).or_default();
        let gate = Gate { village: &key.village, year: key.year, catalog: &self.catalog, account, owner: &owner };
        f(base, &gate)
    }

    fn store(&mut self, key: &DocKey, account: &str, doc: Automerge, bind: Vec<ActorId>) {
        for a in bind {
            self.owners.insert(a, account.to_owned());
        }
        self.docs.insert(key.clone(), doc);
    }

    /// `POST /v1/villages/V/years/Y/sync`.
    pub fn standard(
        &mut self,
        account: &str,
        peer: &str,
        key: &DocKey,
        message: &[u8],
    ) -> Result<Option<Vec<u8>>, TransportError> {
        let state =
            self.states.get(&(key.clone(), peer.to_owned())).and_then(|b| State::decode(b).ok()).unwrap_or_default();
        let step = self
            .with_gate(key, account, |base, gate| receive_sync(base, &state, message, gate))
            .map_err(|r| TransportError::Refused(refusal_of(r)))?;
        self.store(key, account, step.accepted.doc, step.accepted.bind);
        self.states.insert((key.clone(), peer.to_owned()), step.state.encode());
        Ok(step.reply)
    }

    /// `POST /v1/sync`.
    pub fn fast(&mut self, account: &str, request: &FastRequest) -> Result<FastResponse, TransportError> {
        let mut docs = Vec::new();
        for doc in &request.docs {
            let key = DocKey::new(doc.village.clone(), doc.year);
            let resync = self.rng.f64() < self.resync_rate;
            if self.busy_next > 0 {
                self.busy_next -= 1;
                let outcome = FastOutcome::Refused {
                    status: 409,
                    code: "busy".into(),
                    message: "服务器正忙，请稍后再同步".into(),
                    violations: Vec::new(),
                };
                docs.push(FastReply { village: doc.village.clone(), year: doc.year, outcome });
                continue;
            }
            let outcome = match self.with_gate(&key, account, |base, gate| receive_fast(base, doc, gate)) {
                Ok(_) if resync => FastOutcome::Resync,
                Ok(None) => FastOutcome::Resync,
                Ok(Some((accepted, outcome))) => {
                    self.store(&key, account, accepted.doc, accepted.bind);
                    outcome
                }
                Err(r) => {
                    let r = refusal_of(r);
                    FastOutcome::Refused {
                        status: r.status,
                        code: r.code,
                        message: r.message,
                        violations: r.violations,
                    }
                }
            };
            docs.push(FastReply { village: doc.village.clone(), year: doc.year, outcome });
        }
        Ok(FastResponse { v: FAST_VERSION, docs, catalog: None })
    }

    /// `GET /v1/villages/V/years/Y/doc`.
    pub fn doc_bytes(&self, key: &DocKey) -> Option<Vec<u8>> {
        self.docs.get(key).filter(|d| !d.get_heads().is_empty()).map(Automerge::save)
    }
}
