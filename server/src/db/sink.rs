//! Where a push's writes go: a transaction of sqlx's pool (PostgreSQL; SQLite outside the
//! writer) or the SQLite writer's own connection ([`crate::writer`]). The push's statements are
//! written once, against [`Sink`], and run on either.
//!
//! Why the writer has a connection of its own outside sqlx: sqlx runs each SQLite connection on
//! a thread of its own and hands every statement to it and its answer back (two thread wake-ups
//! and a channel each way, some thirteen statements a push). Profiled over the benchmark's
//! throughput case, those hand-offs and the waits on both threads took about a sixth of the
//! server's CPU (docs/PERFORMANCE.md). The writer's thread now runs SQLite itself.
//!
//! Statements take their parameters as `$N` (both backends read them by number) or as
//! anonymous `?` in order (SQLite only: numbered parameters are looked up by name there, in
//! time proportional to their count, see [`super::projections`]).

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::Backend;

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Blob(&'a [u8]),
}

/// A transaction that takes the writes of a push. The SQL text is made from this crate's
/// constants only; every value is bound.
#[allow(async_fn_in_trait, reason = "used only with concrete types, whose futures are Send where they must be")]
pub trait Sink {
    fn backend(&self) -> Backend;

    /// Runs a statement; the number of rows it changed. (Not `execute`: rusqlite's connection has
    /// one of its own, which binds otherwise.)
    async fn exec<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<u64>;

    /// The first column of the first row a query returns, as text (None: no row).
    async fn text<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<Option<String>>;
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match *a {
            Arg::Text(s) => q.bind(s),
            Arg::OptText(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
            Arg::OptInt(i) => q.bind(i),
            Arg::Blob(b) => q.bind(b),
        };
    }
    q
}

impl Sink for Transaction<'_, Any> {
    fn backend(&self) -> Backend {
        if self.backend_name().eq_ignore_ascii_case("postgresql") { Backend::Postgres } else { Backend::Sqlite }
    }

    async fn exec<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<u64> {
        let q = bind(sqlx::query(AssertSqlSafe(sql)), args);
        Ok(q.execute(&mut **self).await?.rows_affected())
    }

    async fn text<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<Option<String>> {
        let q = bind(sqlx::query(AssertSqlSafe(sql)), args);
        Ok(match q.fetch_optional(&mut **self).await? {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        })
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Text(s) | Arg::OptText(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::Int(i) | Arg::OptInt(Some(i)) => ValueRef::Integer(i),
            Arg::OptText(None) | Arg::OptInt(None) => ValueRef::Null,
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A statement of the writer's connection with its parameters bound: `$N` (or `?N`) takes the
/// N-th argument, an anonymous `?` the next one, as sqlx binds them.
fn prepared<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> anyhow::Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            None => i,
            Some(name) => {
                name[1..].parse::<usize>().map_err(|_| anyhow::anyhow!("parameter {name} is not numbered"))?
            }
        };
        let arg = n
            .checked_sub(1)
            .and_then(|i| args.get(i))
            .ok_or_else(|| anyhow::anyhow!("no argument for parameter {n} of {}", args.len()))?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(stmt)
}

impl Sink for rusqlite::Connection {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn exec<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<u64> {
        Ok(prepared(self, sql, args)?.raw_execute()? as u64)
    }

    async fn text<'a>(&mut self, sql: &str, args: &[Arg<'a>]) -> anyhow::Result<Option<String>> {
        let mut stmt = prepared(self, sql, args)?;
        let mut rows = stmt.raw_query();
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbered parameters take their argument by number, in whatever order they appear, and
    /// anonymous ones in order; a query's first column comes back as text.
    #[tokio::test]
    async fn the_writers_connection_binds_as_sqlx_does() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c TEXT, d BLOB)").unwrap();
        let n = conn
            .exec(
                "INSERT INTO t (c, a, b, d) VALUES ($3, $1, $2, $4)",
                &[Arg::Text("一"), Arg::Int(2), Arg::OptText(None), Arg::Blob(&[1, 2])],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        conn.exec("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", &[Arg::Text("二"), Arg::OptInt(None), Arg::Text("c")])
            .await
            .unwrap();
        let found = conn.text("SELECT a FROM t WHERE b = $1 AND c IS NULL", &[Arg::Int(2)]).await.unwrap();
        assert_eq!(found.as_deref(), Some("一"));
        let found = conn.text("SELECT c FROM t WHERE a = $1", &[Arg::Text("二")]).await.unwrap();
        assert_eq!(found.as_deref(), Some("c"));
        assert_eq!(conn.text("SELECT a FROM t WHERE b = $1", &[Arg::Int(9)]).await.unwrap(), None);
        for sql in ["INSERT INTO t (a) VALUES ($2)", "INSERT INTO t (a) VALUES ($0)"] {
            let err = conn.exec(sql, &[Arg::Text("x")]).await.unwrap_err();
            assert!(err.to_string().contains("no argument"), "{sql}: {err}");
        }
    }
}
