//! Which database errors are transient: the classes a SQL store gives its errors
//! ([`StoreError::transient`](crate::StoreError::transient) or
//! [`StoreError::permanent`](crate::StoreError::permanent)), one rule for every SQL adapter.

/// Whether a PostgreSQL error with this SQLSTATE may go away by waiting: a connection lost
/// (class `08`), a serialization failure or deadlock (`40`), resources short (`53`: disk,
/// memory, connections), a lock not available or an object in use (`55P03`, `55006`), a
/// statement cancelled by its timeout or a server shutting down or starting (`57`, but not
/// `57P04`, a database dropped), an I/O error (`58000`, `58030`), and a read-only
/// transaction (`25006`: a standby reached during a failover). Every other SQLSTATE — a
/// missing table or column (`42P01`, `42703`), a permission refused (`42501`), a constraint
/// or trigger that refuses the write (`23…`, `P0001`), a database or schema that is not
/// there — fails the same way until someone fixes the database.
///
/// ```
/// use handover_code::store::sql::is_transient_sqlstate;
///
/// assert!(is_transient_sqlstate("40001")); // serialization failure
/// assert!(is_transient_sqlstate("57014")); // statement timeout
/// assert!(is_transient_sqlstate("08006")); // connection failure
/// assert!(!is_transient_sqlstate("42P01")); // undefined table
/// assert!(!is_transient_sqlstate("42501")); // insufficient privilege
/// assert!(!is_transient_sqlstate("P0001")); // raised by a trigger
/// ```
#[must_use]
pub fn is_transient_sqlstate(sqlstate: &str) -> bool {
    match sqlstate.get(..2) {
        Some("08" | "40" | "53") => true,
        Some("57") => sqlstate != "57P04",
        _ => matches!(sqlstate, "55P03" | "55006" | "58000" | "58030" | "25006"),
    }
}

/// Whether a SQLite error with this result code (primary or extended) may go away by
/// waiting: the database busy or locked by another connection (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`), memory or disk short (`SQLITE_NOMEM`, `SQLITE_FULL`), an I/O error
/// (`SQLITE_IOERR`), an interrupted call, a lock protocol error, or a schema change that a
/// new statement preparation absorbs (`SQLITE_SCHEMA`). Every other code — a missing table
/// (`SQLITE_ERROR`), a permission or a read-only database, a constraint or trigger that
/// refuses the write (`SQLITE_CONSTRAINT`), a file that is no database or is corrupt —
/// fails the same way until someone fixes the database.
///
/// ```
/// use handover_code::store::sql::is_transient_sqlite_code;
///
/// assert!(is_transient_sqlite_code(5)); // SQLITE_BUSY
/// assert!(is_transient_sqlite_code(261)); // SQLITE_BUSY_RECOVERY, an extended code
/// assert!(!is_transient_sqlite_code(1)); // SQLITE_ERROR: no such table
/// assert!(!is_transient_sqlite_code(1811)); // SQLITE_CONSTRAINT_TRIGGER
/// ```
#[must_use]
pub const fn is_transient_sqlite_code(code: i32) -> bool {
    // BUSY, LOCKED, NOMEM, INTERRUPT, IOERR, FULL, PROTOCOL, SCHEMA.
    matches!(code & 0xff, 5 | 6 | 7 | 9 | 10 | 13 | 15 | 17)
}
