//! Shared state of the handlers. Nothing here is state another server instance would need:
//! every instance can answer every request from the database alone; the caches only save work
//! and are checked against the database before use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Row;
use zhibu_schema::Catalog;

use crate::cache::{Current, DocCache};
use crate::config::Config;
use crate::db::Db;
use crate::db::documents::DocKey;
use crate::error::{AppError, AppResult};
use crate::gates::Gates;
use crate::together::Queues;
use crate::writer::Writer;

/// Parsed township catalogs, by township, with the JSON each was parsed from.
type CatalogCache = Mutex<HashMap<String, (String, Arc<Catalog>)>>;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    /// The server's catalog: `--catalog` or the built-in default.
    pub default_catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    pub docs: Arc<DocCache>,
    /// Queues for the documents, the SQLite writer and the cores.
    pub gates: Arc<Gates>,
    /// Townships' own catalogs as parsed, with the JSON they were parsed from.
    catalogs: Arc<CatalogCache>,
    /// The SQLite writer's queue (pushes share its transactions).
    pub writer: Arc<Writer>,
    /// Fast pushes waiting for their documents (those that wait together are stored together).
    pub together: Arc<Queues>,
}

impl AppState {
    pub fn new(db: Db, default_catalog: Catalog, config: Config) -> AppState {
        AppState {
            gates: Arc::new(Gates::new(db.backend)),
            db,
            default_catalog: Arc::new(default_catalog),
            docs: Arc::new(DocCache::new(config.cached_documents)),
            config: Arc::new(config),
            catalogs: Arc::default(),
            writer: Arc::default(),
            together: Arc::default(),
        }
    }

    /// The catalog in force for a township: its own if it has one, else the server's.
    pub async fn catalog_for(&self, township: Option<&str>) -> AppResult<Arc<Catalog>> {
        let Some(t) = township else { return Ok(self.default_catalog.clone()) };
        let Some(json) = self.db.township_catalog(t).await? else { return Ok(self.default_catalog.clone()) };
        let mut cached = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((text, c)) = cached.get(t)
            && *text == json
        {
            return Ok(c.clone());
        }
        let c = stored_catalog(&json)
            .map(Arc::new)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored catalog of {t} is broken: {e}")))?;
        cached.insert(t.to_owned(), (json, c.clone()));
        Ok(c)
    }

    /// The document as stored now: from memory when the database still has the version that
    /// is cached, else loaded (and cached).
    pub async fn load_doc(&self, key: &DocKey) -> AppResult<Current> {
        let row = sqlx::query("SELECT version FROM documents WHERE township_id = $1 AND village_id = $2 AND year = $3")
            .bind(&key.township)
            .bind(key.village.as_str())
            .bind(i64::from(key.year))
            .fetch_optional(&self.db.pool)
            .await?;
        let version = row.map(|r| r.try_get::<i64, _>("version")).transpose()?.unwrap_or(0);
        if let Some(hit) = self.docs.get(key, version) {
            return Ok(hit);
        }
        let parts = self.db.load_parts(key).await?;
        let loaded = self.gates.cpu(move || parts.build()).await?;
        let current = Current::loaded(loaded);
        self.docs.put(key.clone(), current.clone());
        Ok(current)
    }
}

/// A catalog stored as JSON (a township's, or the server's default): checked when stored, read
/// as a phone reads a catalog, past fields a newer server sharing the database may have
/// stored, and checked again.
pub(crate) fn stored_catalog(json: &str) -> Result<Catalog, String> {
    let catalog = serde_json::from_str::<Catalog>(json).map_err(|e| e.to_string())?;
    match catalog.check().first() {
        None => Ok(catalog),
        Some(issue) => Err(issue.message.clone()),
    }
}
