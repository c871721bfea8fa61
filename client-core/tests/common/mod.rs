//! Shared by the integration tests: an in-process server core, a lossy network to it, and
//! phones in temporary directories logged in as cadres of village `v1`.

#![allow(dead_code, unused_imports)]

pub mod http;
pub mod net;
pub mod server;

use std::time::Duration;

use tempfile::TempDir;
use tokio::task::JoinSet;
use zhibu_client::zhibu_schema::{AccountId, Date, VillageId, Year};
use zhibu_client::{Account, ClientError, DocKey, Phone, RetryPolicy, Role, Session, SyncOptions, SyncReport, clock};

pub use net::{Fault, Faults, Net, Port};
pub use server::Server;

/// The year of every test document: the phone always syncs this year's document too.
pub fn year() -> Year {
    clock::this_year().expect("the clock")
}

pub fn day(month: u8, day: u8) -> Date {
    Date::from_ymd(year(), month, day).unwrap()
}

pub fn key() -> DocKey {
    DocKey::new(VillageId::parse("v1").unwrap(), year())
}

pub fn cadre_session(account: &str) -> Session {
    Session {
        server: "http://in-process".into(),
        token: format!("token-{account}"),
        account: Account {
            id: AccountId::parse(account).unwrap(),
            role: Role::Cadre,
            township_id: Some("t1".into()),
            village_id: Some(VillageId::parse("v1").unwrap()),
            member_id: None,
            display_name: None,
        },
    }
}

/// A phone on the network.
pub struct SimPhone {
    pub phone: Phone,
    pub port: Port,
    pub account: String,
    pub dir: TempDir,
}

impl SimPhone {
    pub fn new(net: &Net, account: &str) -> SimPhone {
        let dir = tempfile::tempdir().unwrap();
        let phone = Phone::open(dir.path()).unwrap();
        phone.set_session(cadre_session(account)).unwrap();
        let port = net.port(account, phone.device().peer_id());
        SimPhone { phone, port, account: account.to_owned(), dir }
    }

    /// Closes the store and opens it again from disk, as after the app was killed.
    pub fn restart(self) -> SimPhone {
        let SimPhone { phone, port, account, dir } = self;
        drop(phone);
        let phone = Phone::open(dir.path()).unwrap_or_else(|e| {
            // Another handle is still alive somewhere: a bug in the test.
            panic!("reopening {}: {e}", dir.path().display())
        });
        SimPhone { phone, port, account, dir }
    }

    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        self.phone.document(&key()).map(|d| d.get_heads()).unwrap_or_default()
    }
}

/// Quick retries, for tests.
pub fn quick() -> SyncOptions {
    SyncOptions {
        retry: RetryPolicy { retries: 3, first_wait: Duration::from_millis(1), max_wait: Duration::from_millis(4) },
        max_rounds: 32,
        refresh_catalog: false,
    }
}

/// Syncs the phones at once over the network, requests delivered in random order.
pub async fn sync_all(net: &Net, phones: &[&Phone], options: &SyncOptions) -> Vec<Result<SyncReport, ClientError>> {
    let mut tasks = JoinSet::new();
    for phone in phones {
        let phone = (*phone).clone();
        let port = net.port_of(&phone);
        let options = options.clone();
        tasks.spawn(async move { phone.sync(&port, &options, &mut |_| {}).await });
    }
    net.run(tasks).await
}

/// Syncs one phone.
pub async fn sync(net: &Net, phone: &Phone, options: &SyncOptions) -> Result<SyncReport, ClientError> {
    sync_all(net, &[phone], options).await.pop().unwrap()
}
