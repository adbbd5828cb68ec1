//! Table prefixes: which are accepted, and the default. Pure: no I/O here.

/// The prefix of the default table names (`handover_records`, `handover_schema`,
/// `handover_audit`): the same tables as every SQL store of the workspace.
pub(crate) const DEFAULT_PREFIX: &str = "handover_";

/// The longest table prefix accepted: PostgreSQL truncates identifiers at 63 bytes, and the
/// longest name built from the prefix adds 14.
pub(crate) const MAX_PREFIX: usize = 40;

/// Whether `prefix` can start a table name unquoted: a lowercase ASCII letter or `_`, then
/// lowercase letters, digits and `_`, at most [`MAX_PREFIX`] bytes (empty is allowed).
pub(crate) fn prefix_ok(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    bytes.len() <= MAX_PREFIX
        && bytes
            .first()
            .is_none_or(|b| b.is_ascii_lowercase() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// The error for a prefix [`prefix_ok`] refuses.
pub(crate) const PREFIX_RULE: &str = "a table prefix is at most 40 lowercase ASCII letters, digits and '_', not starting with a digit";

#[cfg(test)]
mod tests {
    use super::prefix_ok;

    #[test]
    fn prefixes_are_plain_lowercase_identifiers() {
        for ok in ["", "tenant_a_", "_x", "t1_"] {
            assert!(prefix_ok(ok), "{ok}");
        }
        for bad in [
            "1t_",
            "Tenant_",
            "a-b",
            "a;drop table x;",
            "a b",
            "é_",
            &"a".repeat(41),
        ] {
            assert!(!prefix_ok(bad), "{bad}");
        }
    }
}
