//! The schema and the statements: the tables created on open (their migration checked), and
//! the SQL each call runs, with the busy-timeout loop around schema work.

use core::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use handover_code::store::sql::SCHEMA_VERSION;

use super::SqliteError;

pub(super) use handover_code::store::sql::SQLITE_SCHEMA as SCHEMA;
pub(super) const AUDIT_INSERT: &str =
    "INSERT INTO handover_audit (at, kind, namespace, id, context, booking,
    verifier, request, actor, action, detail, note, prior, version)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
pub(super) const VERSION: &str =
    "SELECT version FROM handover_records WHERE kind = ?1 AND namespace = ?2 AND id = ?3";
pub(super) const LOAD: &str =
    "SELECT record, version FROM handover_records WHERE kind = ?1 AND namespace = ?2 AND id = ?3";
pub(super) const INSERT: &str =
    "INSERT INTO handover_records (kind, namespace, id, version, record, prune_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, namespace, id) DO NOTHING";
pub(super) const UPDATE: &str =
    "UPDATE handover_records SET version = ?4, record = ?5, prune_at = ?6
    WHERE kind = ?1 AND namespace = ?2 AND id = ?3 AND version = ?7";

/// Creates the schema and checks its version, in one `BEGIN IMMEDIATE` transaction: it takes
/// the write lock before it reads, so processes creating a fresh file at once wait their turn
/// (a deferred transaction that reads first cannot wait for the lock when it comes to
/// write: SQLite answers it busy at once).
pub(super) fn create_schema(conn: &Connection, patience: Duration) -> Result<(), SqliteError> {
    let found = patiently(patience, || {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let made = conn.execute_batch(SCHEMA).and_then(|()| {
            let found: Option<i64> = conn
                .query_row("SELECT version FROM handover_schema", [], |r| r.get(0))
                .optional()?;
            if found.is_none() {
                conn.execute(
                    "INSERT INTO handover_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Ok(found)
        });
        match made.and_then(|found| conn.execute_batch("COMMIT").map(|()| found)) {
            Ok(found) => Ok(found),
            Err(e) => {
                let _rolled_back = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })?;
    match found {
        None | Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(SqliteError::Schema { found }),
    }
}

/// Runs `step` again while SQLite answers it busy or locked (another connection holds the
/// lock and the busy handler does not apply: a journal-mode switch, a transaction's
/// upgrade), for at most `patience`, backing off from 1 ms to 50 ms between tries.
pub(super) fn patiently<T>(
    patience: Duration,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> Result<T, SqliteError> {
    let deadline = std::time::Instant::now().checked_add(patience);
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && deadline.is_some_and(|d| std::time::Instant::now() < d) =>
            {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2).min(Duration::from_millis(50));
            }
            done => return done.map_err(SqliteError::from),
        }
    }
}
