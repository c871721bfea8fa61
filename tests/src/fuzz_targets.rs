//! What the fuzzers feed bytes to: every decoder of outside input, as the server calls it.
//! The AFL++ targets in `fuzz/` and the regression test (`tests/tests/fuzz_regressions.rs`,
//! every input that once crashed, plus a property test over arbitrary bytes) call these very
//! functions, so a fixed crash stays fixed.
//!
//! A target returns `Ok` when the input is accepted and `Err` with the refusal when it is not;
//! it must never panic.

use std::sync::OnceLock;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge};
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::sync::{FastRequest, Gate, Owner, Refusal, receive_fast, receive_sync};
use zhibu_schema::{Catalog, Collection, VillageId, Year, check_document, sample};

/// A decoder of outside input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A standard sync message, through admission (`receive_sync`).
    SyncMessage,
    /// A fast-path request (CBOR), decoded and each document admitted (`receive_fast`).
    FastRequest,
    /// Saved document bytes: `Automerge::load`, the mapping's `read`, `check_document`.
    DocumentLoad,
    /// A township catalog file, as TOML and as JSON.
    Catalog,
    /// A roster CSV file.
    RosterCsv,
}

impl Target {
    pub const ALL: [Target; 5] =
        [Target::SyncMessage, Target::FastRequest, Target::DocumentLoad, Target::Catalog, Target::RosterCsv];

    /// The name of the fuzz target and of its fixture folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::SyncMessage => "sync_message",
            Target::FastRequest => "fast_request",
            Target::DocumentLoad => "document_load",
            Target::Catalog => "catalog",
            Target::RosterCsv => "roster_csv",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Feeds the input to the decoder. Panics the guard refuses stay quiet, as in the programs
    /// (a backtrace captured for each would make AFL++ see slow inputs where there are none).
    pub fn run(self, data: &[u8]) -> Result<(), String> {
        zhibu_schema::guard::quiet_caught_panics();
        match self {
            Target::SyncMessage => sync_message(data),
            Target::FastRequest => fast_request(data),
            Target::DocumentLoad => document_load(data),
            Target::Catalog => catalog(data),
            Target::RosterCsv => roster_csv(data),
        }
    }
}

fn village() -> &'static VillageId {
    static V: OnceLock<VillageId> = OnceLock::new();
    V.get_or_init(|| VillageId::parse("v1").expect("id"))
}

fn year() -> Year {
    Year::new(2025).expect("year")
}

fn default_catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(Catalog::default)
}

/// The server's copy of a village's document: genesis and a roster of twelve, one change per
/// member, as a roster import leaves it.
pub fn base_document() -> &'static Automerge {
    static DOC: OnceLock<Automerge> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = mapping::genesis(village(), year()).with_actor(ActorId::from(b"server".as_slice()));
        let roster = sample::roster(village(), year(), 12, 2);
        for (id, m) in &roster.members {
            doc.transact_with::<_, _, WriteError, _>(
                |_| CommitOptions::default().with_message("导入党员名册".to_owned()),
                |tx| mapping::put_record(tx, Collection::Members, id.as_str(), m),
            )
            .map_err(|e| e.error)
            .expect("roster");
        }
        doc
    })
}

fn gate<'a>(owner: &'a (dyn Fn(&ActorId) -> Owner + Sync)) -> Gate<'a> {
    Gate { village: village(), year: year(), catalog: default_catalog(), account: "cadre1", owner }
}

fn sync_message(data: &[u8]) -> Result<(), String> {
    let owner = |_: &ActorId| Owner::Unbound;
    let state = automerge::sync::State::new();
    receive_sync(base_document(), &state, data, &gate(&owner)).map(|_| ()).map_err(|e| e.to_string())
}

fn fast_request(data: &[u8]) -> Result<(), String> {
    let request = FastRequest::decode(data).map_err(|e| e.to_string())?;
    let owner = |_: &ActorId| Owner::Unbound;
    // The server answers at most 64 documents per request; each is admitted on its own. A
    // resync stores nothing and sends the phone to the standard protocol: a refusal here.
    for doc in request.docs.iter().take(64) {
        if receive_fast(base_document(), doc, &gate(&owner)).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("{}: resync", doc.village));
        }
    }
    Ok(())
}

fn document_load(data: &[u8]) -> Result<(), String> {
    let doc = zhibu_schema::guard::load_document(data)?;
    zhibu_schema::guard::refuse_panics(|| {
        mapping::read(&doc).map_err(|e| Refusal::Undecodable(e.to_string()))?;
        check_document(&doc, village(), year(), default_catalog()).map_err(Refusal::Invalid)
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn catalog(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let toml = Catalog::from_toml_str(text).map(|_| ()).map_err(|e| e.to_string());
    let json = Catalog::from_json_str(text).map(|_| ()).map_err(|e| e.to_string());
    toml.or(json)
}

fn roster_csv(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    zhibu_server::roster::parse(text).map(|_| ()).map_err(|e| e.to_string())
}

/// Valid inputs to start fuzzing from, per target: (file name, bytes).
pub fn seeds(target: Target) -> Vec<(String, Vec<u8>)> {
    use automerge::sync::SyncDoc;
    use zhibu_schema::sync::{FAST_VERSION, FastDoc, hashes_to_wire};
    use zhibu_schema::{AccountId, Code, PointDelta, PointEntry, RecordId};

    let mut phone = base_document().fork().with_actor(ActorId::from(b"phone".as_slice()));
    let p = PointEntry {
        member_id: zhibu_schema::MemberId::parse("v1-m01").expect("id"),
        rule: Code::parse("volunteer").expect("code"),
        delta: PointDelta::new(2).expect("delta"),
        on: year().first_day(),
        note: None,
        by: AccountId::parse("cadre1").expect("id"),
        voided: None,
    };
    phone
        .transact::<_, _, WriteError>(|tx| {
            mapping::put_record_id(
                tx,
                Collection::Points,
                &RecordId::parse("0190a6b2-0000-7000-8000-000000000001").expect("id"),
                &p,
            )
        })
        .expect("edit");
    match target {
        Target::SyncMessage => {
            let mut state = automerge::sync::State::new();
            let first = phone.generate_sync_message(&mut state).expect("message").encode();
            // The message with changes: as if the server had said what it has.
            let mut server_state = automerge::sync::State::new();
            let mut server = base_document().clone();
            let mut phone_state = automerge::sync::State::new();
            let mut with_changes = Vec::new();
            for _ in 0..4 {
                if let Some(m) = phone.generate_sync_message(&mut phone_state) {
                    if !m.changes.is_empty() {
                        with_changes = m.encode();
                        break;
                    }
                    server.receive_sync_message(&mut server_state, m).expect("server receives");
                }
                if let Some(m) = server.generate_sync_message(&mut server_state) {
                    phone.receive_sync_message(&mut phone_state, m).expect("phone receives");
                }
            }
            vec![("first".to_owned(), first), ("changes".to_owned(), with_changes)]
        }
        Target::FastRequest => {
            let known = base_document().get_heads();
            let doc = FastDoc {
                village: village().clone(),
                year: year(),
                known: hashes_to_wire(&known),
                heads: hashes_to_wire(&phone.get_heads()),
                changes: phone.get_changes(&known).into_iter().map(|c| c.raw_bytes().to_vec().into()).collect(),
            };
            let empty = FastDoc { village: village().clone(), year: year(), known: vec![], heads: vec![], changes: vec![] };
            vec![
                ("push".to_owned(), FastRequest { v: FAST_VERSION, docs: vec![doc], catalog: None }.encode()),
                ("new".to_owned(), FastRequest { v: FAST_VERSION, docs: vec![empty], catalog: None }.encode()),
            ]
        }
        Target::DocumentLoad => vec![("document".to_owned(), phone.save())],
        Target::Catalog => {
            let toml = include_str!("../../schema/catalog/default.toml");
            let json = serde_json::to_string(default_catalog()).expect("json");
            vec![("default.toml".to_owned(), toml.as_bytes().to_vec()), ("default.json".to_owned(), json.into_bytes())]
        }
        Target::RosterCsv => vec![(
            "roster.csv".to_owned(),
            "\u{feff}编号,姓名,党小组,正式/预备,支委,入党日期\nv1-m01,张三,第一党小组,正式,是,1990-07-01\n,李四,第二党小组,预备,否,2024/7/1\n"
                .as_bytes()
                .to_vec(),
        )],
    }
}
