//! Reading a store URL: which store, and its options. Pure: no I/O, no feature checks (those
//! are [`open`](crate::open)'s), so every form is tested with any set of features.
//!
//! A URL can hold a password, and one written without percent-encoding can put any of its
//! characters where a scheme, a path or an option name should be: no error repeats any part
//! of the URL but a scheme made of scheme characters and the name of an option some store
//! takes.

use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

/// What a URL names, with its options.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `memory:`
    Memory,
    /// `sqlite:PATH`, `sqlite://PATH` or `sqlite::memory:`; `sqlite+sqlx:` the same on
    /// handover-code-sqlx.
    Sqlite {
        /// On handover-code-sqlx's store (`sqlite+sqlx:`).
        sqlx: bool,
        /// `None` for `sqlite::memory:`; percent-decoded.
        path: Option<String>,
        /// `durability=full` (the default) or `normal`.
        full: bool,
        /// `busy_timeout_ms`.
        busy_timeout: Option<Duration>,
    },
    /// `postgres://…` or `postgresql://…`: the URL as tokio-postgres reads it, without
    /// this crate's options; `postgres+sqlx://…` the same, as sqlx reads it.
    Postgres {
        /// On handover-code-sqlx's store (`postgres+sqlx://`).
        sqlx: bool,
        params: String,
        pool: usize,
        timeout: Duration,
        prefix: Option<String>,
        /// `create_schema=true` (the default) or `false`, for a role that may not run DDL.
        create_schema: bool,
    },
    /// `redis://…` or `rediss://…`, without this crate's options.
    Redis {
        url: String,
        timeout: Duration,
        prefix: Option<String>,
    },
    /// `redis+cluster://host:port,host:port`: each node as a `redis://` URL.
    RedisCluster {
        nodes: Vec<String>,
        timeout: Duration,
        prefix: Option<String>,
    },
}

/// Why a URL names no store. Never holds the URL or a part of it that could be a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Nothing before a `:` that could be a scheme.
    #[error(
        "the store URL does not start with a scheme (a letter, then letters, digits or + - ., then `:`); use {FORMS}"
    )]
    NoScheme,
    /// A scheme no store has.
    #[error("unknown store URL scheme `{0}`; use {FORMS}")]
    Scheme(String),
    /// A scheme whose store is not compiled in.
    #[error(
        "{scheme} store URLs need handover-code-any's feature `{feature}` \
         (`cargo add handover-code-any --features {feature}`), which adds {krate}"
    )]
    NotCompiled {
        scheme: &'static str,
        feature: &'static str,
        krate: &'static str,
    },
    /// An option the store does not take. Named only when some store takes it: an unknown
    /// name may be part of a password written without percent-encoding.
    #[error("the {scheme} store takes no option {}; it takes {known}", named(.name))]
    Option {
        scheme: &'static str,
        name: Option<&'static str>,
        known: &'static str,
    },
    /// An option whose value is not what it takes.
    #[error("store URL option `{name}` must be {want}")]
    Value {
        name: &'static str,
        want: &'static str,
    },
    /// A form that is not this store's.
    #[error("{0}")]
    Form(&'static str),
}

/// An option's name as an error says it.
fn named(name: &Option<&'static str>) -> String {
    name.map_or_else(|| "by that name".to_string(), |n| std::format!("`{n}`"))
}

/// Every form, for the errors that list them.
const FORMS: &str = "memory:, sqlite:PATH, postgres://…, sqlite+sqlx:PATH, postgres+sqlx://…, \
     redis://… or redis+cluster://host:port,host:port";

/// Every option some store takes: the names an error may repeat.
const KNOWN: [&str; 7] = [
    "durability",
    "busy_timeout_ms",
    "pool",
    "timeout_ms",
    "prefix",
    "create_schema",
    "connect_timeout",
];

/// How long a connection, a pooled connection or a statement may take when the URL does not
/// say (`timeout_ms`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL connections pooled when the URL does not say (`pool`).
pub(crate) const DEFAULT_POOL: usize = 16;

/// Reads `url`.
pub(crate) fn parse(url: &str) -> Result<Target, UrlError> {
    let (scheme, rest) = url.split_once(':').ok_or(UrlError::NoScheme)?;
    let mut chars = scheme.chars();
    let is_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Err(UrlError::NoScheme);
    }
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains('#') {
        return Err(UrlError::Form(
            "a store URL has no fragment (`#`): percent-encode a `#` in a password as %23",
        ));
    }
    let (body, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut options = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    match scheme.as_str() {
        "memory" => match (body, options.next()) {
            ("", None) => Ok(Target::Memory),
            ("", Some((name, _))) => Err(option("memory", name, "none")),
            _ => Err(UrlError::Form("memory: takes nothing after the colon")),
        },
        "sqlite" | "sqlite+sqlx" => {
            let sqlx = scheme.ends_with("+sqlx");
            let path = body.strip_prefix("//").unwrap_or(body);
            let path = match path {
                "" => {
                    return Err(UrlError::Form(
                        "the sqlite store URL names no file; use sqlite:PATH or sqlite::memory:",
                    ));
                }
                ":memory:" => None,
                path => Some(decoded("path", path)?),
            };
            let (mut full, mut busy_timeout) = (true, None);
            for (name, value) in options {
                match name {
                    "durability" if path.is_some() => {
                        full = match value {
                            "full" => true,
                            "normal" => false,
                            _ => {
                                return Err(UrlError::Value {
                                    name: "durability",
                                    want: "full or normal",
                                });
                            }
                        }
                    }
                    "busy_timeout_ms" => busy_timeout = Some(millis("busy_timeout_ms", value)?),
                    _ => {
                        return Err(option(
                            "sqlite",
                            name,
                            "durability (not with :memory:), busy_timeout_ms",
                        ));
                    }
                }
            }
            Ok(Target::Sqlite {
                sqlx,
                path,
                full,
                busy_timeout,
            })
        }
        "postgres" | "postgresql" | "postgres+sqlx" | "postgresql+sqlx" => {
            let sqlx = scheme.ends_with("+sqlx");
            if !body.starts_with("//") {
                return Err(UrlError::Form(
                    "use postgres://user@host:port/database; the key=value form is \
                     PostgresStore::connect's, not a URL",
                ));
            }
            let (mut pool, mut timeout, mut prefix, mut create_schema) =
                (DEFAULT_POOL, DEFAULT_TIMEOUT, None, true);
            let mut passed = Vec::new();
            for (name, value) in options {
                match name {
                    "pool" => pool = count("pool", value)?,
                    "timeout_ms" => timeout = millis("timeout_ms", value)?,
                    "prefix" => prefix = Some(decoded("prefix", value)?),
                    "create_schema" => {
                        create_schema = match value {
                            "true" => true,
                            "false" => false,
                            _ => {
                                return Err(UrlError::Value {
                                    name: "create_schema",
                                    want: "true or false",
                                });
                            }
                        }
                    }
                    // `timeout_ms` bounds connecting too; a second bound would be overwritten.
                    "connect_timeout" => {
                        return Err(UrlError::Form(
                            "store URL option `connect_timeout`: use `timeout_ms`, which bounds \
                         connecting, waiting for a pooled connection and every statement",
                        ));
                    }
                    // The client's own (`sslmode`, `application_name`, …), passed on as given.
                    _ => passed.push((name, value)),
                }
            }
            let params = rejoin(scheme.trim_end_matches("+sqlx"), body, &passed);
            Ok(Target::Postgres {
                sqlx,
                params,
                pool,
                timeout,
                prefix,
                create_schema,
            })
        }
        "redis" | "rediss" => {
            let (timeout, prefix) = redis_options(options)?;
            Ok(Target::Redis {
                url: rejoin(&scheme, body, &[]),
                timeout,
                prefix,
            })
        }
        "redis+cluster" | "rediss+cluster" => {
            let (timeout, prefix) = redis_options(options)?;
            let node_scheme = scheme.trim_end_matches("+cluster");
            let authority = body.strip_prefix("//").unwrap_or(body);
            let (authority, path) = authority.split_once('/').unwrap_or((authority, ""));
            if !path.is_empty() {
                return Err(UrlError::Form(
                    "a Redis Cluster has one database: end the redis+cluster URL at its nodes",
                ));
            }
            let (auth, hosts) = authority
                .rsplit_once('@')
                .map_or(("", authority), |(a, h)| (a, h));
            let nodes: Vec<String> = hosts
                .split(',')
                .filter(|host| !host.is_empty())
                .map(|host| match auth {
                    "" => std::format!("{node_scheme}://{host}/"),
                    auth => std::format!("{node_scheme}://{auth}@{host}/"),
                })
                .collect();
            if nodes.is_empty() {
                return Err(UrlError::Form(
                    "the redis+cluster store URL names no node; use redis+cluster://host:port,host:port",
                ));
            }
            Ok(Target::RedisCluster {
                nodes,
                timeout,
                prefix,
            })
        }
        _ => Err(UrlError::Scheme(scheme)),
    }
}

/// The Redis forms' options: `timeout_ms` and `prefix`.
fn redis_options<'u>(
    options: impl Iterator<Item = (&'u str, &'u str)>,
) -> Result<(Duration, Option<String>), UrlError> {
    let (mut timeout, mut prefix) = (DEFAULT_TIMEOUT, None);
    for (name, value) in options {
        match name {
            "timeout_ms" => timeout = millis("timeout_ms", value)?,
            "prefix" => prefix = Some(decoded("prefix", value)?),
            _ => return Err(option("redis", name, "timeout_ms, prefix")),
        }
    }
    Ok((timeout, prefix))
}

/// The URL again, its scheme as read, with only the `passed` options.
fn rejoin(scheme: &str, body: &str, passed: &[(&str, &str)]) -> String {
    let mut url = std::format!("{scheme}:{body}");
    for (i, (name, value)) in passed.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(name);
        url.push('=');
        url.push_str(value);
    }
    url
}

fn option(scheme: &'static str, name: &str, known: &'static str) -> UrlError {
    let name = KNOWN.iter().copied().find(|k| *k == name);
    UrlError::Option {
        scheme,
        name,
        known,
    }
}

/// `value` with its `%XX` escapes decoded.
fn decoded(name: &'static str, value: &str) -> Result<String, UrlError> {
    let bad = || UrlError::Value {
        name,
        want: "UTF-8 with well-formed %XX escapes",
    };
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2).ok_or_else(bad)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad());
            }
            let hex = core::str::from_utf8(hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = tail.get(2..).unwrap_or_default();
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

fn millis(name: &'static str, value: &str) -> Result<Duration, UrlError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .ok_or(UrlError::Value {
            name,
            want: "a whole number of milliseconds above 0",
        })
}

fn count(name: &'static str, value: &str) -> Result<usize, UrlError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or(UrlError::Value {
            name,
            want: "a whole number above 0",
        })
}
