//! Shared state of the handlers. Nothing here is a cache another server instance would need:
//! every instance can answer every request from the database alone.

use std::sync::Arc;

use zhibu_schema::Catalog;

use crate::config::Config;
use crate::db::Db;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    /// The server's catalog: `--catalog` or the built-in default.
    pub default_catalog: Arc<Catalog>,
    pub config: Arc<Config>,
}

impl AppState {
    /// The catalog in force for a township: its own if it has one, else the server's.
    pub async fn catalog_for(&self, township: Option<&str>) -> AppResult<Arc<Catalog>> {
        let Some(t) = township else { return Ok(self.default_catalog.clone()) };
        match self.db.township_catalog(t).await? {
            None => Ok(self.default_catalog.clone()),
            Some(json) => Catalog::from_json_str(&json)
                .map(Arc::new)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored catalog of {t} is broken: {e}"))),
        }
    }
}
