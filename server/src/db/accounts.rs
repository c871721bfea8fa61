//! Townships, villages, accounts, login tokens and actor bindings.
//!
//! Passwords are stored as argon2id PHC strings. Tokens are 32 random bytes shown once to the
//! client; only their SHA-256 is stored, so a copy of the database does not log anyone in.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::sink::Arg::{Int, Text};
use super::sink::Sink;
use super::{Db, now_ms};

pub use zhibu_schema::Role;

/// An account as API.md's login returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub township_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub village_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What creating an account needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub password: String,
    pub role: Role,
    pub township_id: Option<String>,
    pub village_id: Option<String>,
    pub member_id: Option<String>,
    pub display_name: Option<String>,
}

fn account_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<Account> {
    let role: String = row.try_get("role")?;
    Ok(Account {
        id: row.try_get("id")?,
        role: Role::from_code(&role).with_context(|| format!("unknown role {role}"))?,
        township_id: row.try_get("township_id")?,
        village_id: row.try_get("village_id")?,
        member_id: row.try_get("member_id")?,
        display_name: row.try_get("display_name")?,
    })
}

/// Runs an argon2 job off the async threads, at most one a core at a time: each takes tens of
/// milliseconds and 19 MiB by design, and a flood of logins (with names that do not exist,
/// each checked against the decoy all the same) would otherwise start hundreds at once, up to
/// tokio's 512 blocking threads, and take the memory and the cores the syncs need. The others
/// wait their turn.
async fn argon2_job<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> anyhow::Result<R> {
    static TURNS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let turns = TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        std::sync::Arc::new(tokio::sync::Semaphore::new(cores))
    });
    // Held by the job itself: a request dropped meanwhile (its client gone, its timeout passed)
    // gives the turn back only when the run it started ends.
    let turn = turns.clone().acquire_owned().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _turn = turn;
        job()
    })
    .await?)
}

/// Hashes a password (see [`argon2_job`]).
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    argon2_job(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

async fn verify_password(password: String, hash: String) -> bool {
    argon2_job(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        .await
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so a wrong name costs as much
/// time as a wrong password and does not reveal which accounts exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| Argon2::default().hash_password(b"zhibu-decoy").map(|h| h.to_string()).unwrap_or_default())
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Db {
    pub async fn create_township(&self, id: &str, name: &str) -> anyhow::Result<bool> {
        let r = sqlx::query("INSERT INTO townships (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn township_exists(&self, id: &str) -> anyhow::Result<bool> {
        Ok(sqlx::query("SELECT id FROM townships WHERE id = $1").bind(id).fetch_optional(&self.pool).await?.is_some())
    }

    /// The township's own catalog (JSON), if it has one.
    pub async fn township_catalog(&self, id: &str) -> anyhow::Result<Option<String>> {
        let row =
            sqlx::query("SELECT catalog FROM townships WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>("catalog").ok().flatten()))
    }

    pub async fn set_township_catalog(&self, id: &str, catalog_json: Option<&str>) -> anyhow::Result<()> {
        sqlx::query("UPDATE townships SET catalog = $1 WHERE id = $2")
            .bind(catalog_json)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The point rules and micro-power items the township's stored records name, with how many
    /// records name each (voided ones too: they are shown as well).
    pub async fn codes_in_use(&self, township: &str) -> anyhow::Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
        let count = |sql: &'static str| async move {
            let rows = sqlx::query(sql).bind(township).fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("code")?, r.try_get::<i64, _>("n")?)))
                .collect::<anyhow::Result<Vec<(String, i64)>>>()
        };
        let rules =
            count("SELECT rule AS code, COUNT(*) AS n FROM p_points WHERE township_id = $1 GROUP BY rule").await?;
        let items =
            count("SELECT item AS code, COUNT(*) AS n FROM p_cases WHERE township_id = $1 GROUP BY item").await?;
        Ok((rules, items))
    }

    pub async fn create_village(&self, township: &str, id: &str, name: &str) -> anyhow::Result<bool> {
        let r = sqlx::query(
            "INSERT INTO villages (township_id, id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(township)
        .bind(id)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The township of a village, None when there is no such village. Asked at every sync; a
    /// village never moves, so a township once read is kept in memory.
    pub async fn village_township(&self, village: &str) -> anyhow::Result<Option<String>> {
        if let Some(t) = self.known.townships.lock().unwrap_or_else(|p| p.into_inner()).get(village) {
            return Ok(Some(t.clone()));
        }
        let row = sqlx::query("SELECT township_id FROM villages WHERE id = $1")
            .bind(village)
            .fetch_optional(&self.pool)
            .await?;
        let township: Option<String> = row.map(|r| r.try_get("township_id")).transpose()?;
        if let Some(t) = &township {
            super::remember(&self.known.townships, village, t.clone());
        }
        Ok(township)
    }

    /// Villages of a township, by id: (id, name).
    pub async fn villages_of(&self, township: &str) -> anyhow::Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, name FROM villages WHERE township_id = $1 ORDER BY id")
            .bind(township)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).collect()
    }

    pub async fn create_account(&self, new: NewAccount) -> anyhow::Result<bool> {
        let hash = hash_password(new.password).await?;
        let r = sqlx::query(
            "INSERT INTO accounts (id, password_hash, role, township_id, village_id, member_id, display_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&new.id)
        .bind(hash)
        .bind(new.role.code())
        .bind(new.township_id)
        .bind(new.village_id)
        .bind(new.member_id)
        .bind(new.display_name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn account(&self, id: &str) -> anyhow::Result<Option<Account>> {
        let sql = "SELECT id, role, township_id, village_id, member_id, display_name FROM accounts WHERE id = $1";
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The member accounts of a village.
    pub async fn member_accounts(&self, village: &str) -> anyhow::Result<Vec<Account>> {
        let sql = "SELECT id, role, township_id, village_id, member_id, display_name FROM accounts \
                   WHERE village_id = $1 AND role = 'member' ORDER BY id";
        let rows = sqlx::query(sql).bind(village).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    /// Account names that begin with `prefix` and are no member account: a member numbered so
    /// could have no account of their own.
    pub async fn other_accounts_named(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        // `prefix` is a village id (letters, digits, hyphens): nothing LIKE reads specially.
        let sql = "SELECT id FROM accounts WHERE id LIKE $1 AND role <> 'member' ORDER BY id";
        let rows = sqlx::query(sql).bind(format!("{prefix}%")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("id")?)).collect()
    }

    /// The account, when the name and password match and the account is not disabled.
    pub async fn verify_login(&self, username: &str, password: &str) -> anyhow::Result<Option<Account>> {
        let sql = "SELECT id, role, township_id, village_id, member_id, display_name, password_hash, disabled \
                   FROM accounts WHERE id = $1";
        // A name that is not a valid account id cannot exist (and PostgreSQL refuses some of
        // them, such as a NUL byte): treat it like an unknown name.
        let row = match zhibu_schema::AccountId::parse(username) {
            Ok(_) => sqlx::query(sql).bind(username).fetch_optional(&self.pool).await?,
            Err(_) => None,
        };
        let Some(row) = row else {
            verify_password(password.to_owned(), decoy_hash().to_owned()).await;
            return Ok(None);
        };
        let hash: String = row.try_get("password_hash")?;
        let disabled: i64 = row.try_get("disabled")?;
        if verify_password(password.to_owned(), hash).await && disabled == 0 {
            Ok(Some(account_from_row(&row)?))
        } else {
            Ok(None)
        }
    }

    /// A new login token for the account, valid for `days`.
    pub async fn issue_token(&self, account: &str, days: u32) -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = hex::encode(bytes);
        let now = now_ms();
        sqlx::query("INSERT INTO tokens (hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(account)
            .bind(now)
            .bind(now + i64::from(days) * 86_400_000)
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    /// The account a live token belongs to.
    pub async fn account_for_token(&self, token: &str) -> Result<Option<Account>, sqlx::Error> {
        let sql = "SELECT a.id AS id, a.role AS role, a.township_id AS township_id, a.village_id AS village_id, \
                   a.member_id AS member_id, a.display_name AS display_name \
                   FROM tokens t JOIN accounts a ON a.id = t.account_id \
                   WHERE t.hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND a.disabled = 0";
        let row = sqlx::query(sql).bind(token_hash(token)).bind(now_ms()).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose().map_err(|e| sqlx::Error::Decode(e.into()))
    }

    pub async fn revoke_token(&self, token: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Turns an account off (its tokens end with it, and its password no longer logs in) or on
    /// again; false when there is no such account.
    pub async fn set_disabled(&self, account: &str, disabled: bool) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE accounts SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(account)
            .execute(&mut *tx)
            .await?;
        if disabled {
            revoke_all(&mut tx, account).await?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives an account a new password and ends its tokens (whoever knew the old one is logged
    /// out); false when there is no such account.
    pub async fn set_password(&self, account: &str, password: String) -> anyhow::Result<bool> {
        let hash = hash_password(password).await?;
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        revoke_all(&mut tx, account).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes every live token of an account; returns how many.
    pub async fn revoke_tokens(&self, account: &str) -> anyhow::Result<u64> {
        let mut conn = self.pool.acquire().await?;
        revoke_all(&mut conn, account).await
    }

    /// The actors (hex) bound to an account, as far as this server knows: read once, then kept and
    /// added to as pushes bind new ones ([`Db::learn_actors`]). A binding is never undone, so
    /// what is kept stays true; one another server process made since is missing here, which
    /// only means the push that brings it asks to bind it again and the transaction finds it
    /// is the account's already ([`bind_actor`]).
    pub async fn actors_of(&self, account: &str) -> anyhow::Result<std::collections::HashSet<String>> {
        if let Some(known) = self.known.actors.lock().unwrap_or_else(|p| p.into_inner()).get(account) {
            return Ok(known.clone());
        }
        let rows =
            sqlx::query("SELECT actor FROM actors WHERE account_id = $1").bind(account).fetch_all(&self.pool).await?;
        let actors =
            rows.iter().map(|r| r.try_get("actor")).collect::<Result<std::collections::HashSet<String>, _>>()?;
        super::remember(&self.known.actors, account, actors.clone());
        Ok(actors)
    }

    /// Actors a committed push bound to `account`.
    pub fn learn_actors(&self, account: &str, actors: &[String]) {
        if actors.is_empty() {
            return;
        }
        let mut known = self.known.actors.lock().unwrap_or_else(|p| p.into_inner());
        // Only added to what was read whole: a set started here would hide the older ones.
        if let Some(set) = known.get_mut(account) {
            set.extend(actors.iter().cloned());
        }
    }
}

/// Binds an actor to an account unless it is bound already; true when it belongs to `account`.
pub async fn bind_actor(tx: &mut impl Sink, actor: &str, account: &str) -> anyhow::Result<bool> {
    tx.exec(
        "INSERT INTO actors (actor, account_id, bound_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[Text(actor), Text(account), Int(now_ms())],
    )
    .await?;
    let holder = tx.text("SELECT account_id FROM actors WHERE actor = $1", &[Text(actor)]).await?;
    Ok(holder.context("the actor's binding, just written")? == account)
}

/// Revokes every live token of `account` on `conn` (a connection, or a transaction's); how many.
async fn revoke_all(conn: &mut sqlx::AnyConnection, account: &str) -> anyhow::Result<u64> {
    let r = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(account)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}
