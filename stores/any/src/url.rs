//! Reading a store URL: which store, and its options. Pure: no I/O, no feature checks (those
//! are [`open`](crate::open)'s), so every form is tested with any set of features.

use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

/// What a URL names, with its options.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'u> {
    /// `memory:`
    Memory,
    /// `sqlite:PATH`, `sqlite://PATH` or `sqlite::memory:`.
    Sqlite {
        /// `None` for `sqlite::memory:`.
        path: Option<&'u str>,
        /// `durability=full` (the default) or `normal`.
        full: bool,
        /// `busy_timeout_ms`.
        busy_timeout: Option<Duration>,
    },
    /// `postgres://…` or `postgresql://…`: the URL as tokio-postgres reads it, without
    /// this crate's options.
    Postgres {
        params: String,
        pool: usize,
        timeout: Duration,
        prefix: Option<&'u str>,
    },
    /// `redis://…` or `rediss://…`, without this crate's options.
    Redis {
        url: String,
        timeout: Duration,
        prefix: Option<&'u str>,
    },
    /// `redis+cluster://host:port,host:port/`: each node as a `redis://` URL.
    RedisCluster {
        nodes: Vec<String>,
        timeout: Duration,
        prefix: Option<&'u str>,
    },
}

/// Why a URL names no store. Never holds the URL: it may hold a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Nothing before a `:`.
    #[error("the store URL has no scheme; use {FORMS}")]
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
    /// An option the store does not take (the name only: values can be secrets).
    #[error("store URL option `{name}` is not one a {scheme} store takes ({known})")]
    Option {
        scheme: &'static str,
        name: String,
        known: &'static str,
    },
    /// An option whose value is not what it takes.
    #[error("store URL option `{name}` must be {want}")]
    Value {
        name: &'static str,
        want: &'static str,
    },
    /// `sqlite:` with no path.
    #[error("the sqlite store URL names no file; use sqlite:PATH or sqlite::memory:")]
    NoPath,
    /// `redis+cluster://` with no node.
    #[error("the redis+cluster store URL names no node; use redis+cluster://host:port,host:port")]
    NoNodes,
}

/// Every form, for the errors that list them.
const FORMS: &str =
    "memory:, sqlite:PATH, postgres://…, redis://… or redis+cluster://host:port,host:port";

/// How long a connection, a pooled connection or a statement may take when the URL does not
/// say (`timeout_ms`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL connections pooled when the URL does not say (`pool`).
pub(crate) const DEFAULT_POOL: usize = 16;

/// Reads `url`.
pub(crate) fn parse(url: &str) -> Result<Target<'_>, UrlError> {
    let (scheme, rest) = url.split_once(':').ok_or(UrlError::NoScheme)?;
    if scheme.is_empty() {
        return Err(UrlError::NoScheme);
    }
    let (body, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut options = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => match options.next() {
            Some((name, _)) => Err(option("memory", name, "none")),
            None => Ok(Target::Memory),
        },
        "sqlite" => {
            let path = body.strip_prefix("//").unwrap_or(body);
            let path = match path {
                "" => return Err(UrlError::NoPath),
                ":memory:" => None,
                path => Some(path),
            };
            let (mut full, mut busy_timeout) = (true, None);
            for (name, value) in options {
                match name {
                    "durability" => {
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
                    _ => return Err(option("sqlite", name, "durability, busy_timeout_ms")),
                }
            }
            Ok(Target::Sqlite {
                path,
                full,
                busy_timeout,
            })
        }
        "postgres" | "postgresql" => {
            let (mut pool, mut timeout, mut prefix) = (DEFAULT_POOL, DEFAULT_TIMEOUT, None);
            let mut passed = Vec::new();
            for (name, value) in options {
                match name {
                    "pool" => pool = count("pool", value)?,
                    "timeout_ms" => timeout = millis("timeout_ms", value)?,
                    "prefix" => prefix = Some(value),
                    // The client's own (`sslmode`, `application_name`, …), passed on as given.
                    _ => passed.push((name, value)),
                }
            }
            let params = rejoin(scheme, body, &passed);
            Ok(Target::Postgres {
                params,
                pool,
                timeout,
                prefix,
            })
        }
        "redis" | "rediss" => {
            let (timeout, prefix) = redis_options(options)?;
            Ok(Target::Redis {
                url: rejoin(scheme, body, &[]),
                timeout,
                prefix,
            })
        }
        "redis+cluster" | "rediss+cluster" => {
            let (timeout, prefix) = redis_options(options)?;
            let node_scheme = scheme.trim_end_matches("+cluster");
            let hosts = body.strip_prefix("//").unwrap_or(body);
            let (auth, hosts) = hosts.rsplit_once('@').map_or(("", hosts), |(a, h)| (a, h));
            let hosts = hosts.trim_end_matches('/');
            let nodes: Vec<String> = hosts
                .split(',')
                .filter(|host| !host.is_empty())
                .map(|host| match auth {
                    "" => std::format!("{node_scheme}://{host}/"),
                    auth => std::format!("{node_scheme}://{auth}@{host}/"),
                })
                .collect();
            if nodes.is_empty() {
                return Err(UrlError::NoNodes);
            }
            Ok(Target::RedisCluster {
                nodes,
                timeout,
                prefix,
            })
        }
        other => Err(UrlError::Scheme(other.to_string())),
    }
}

/// The Redis forms' options: `timeout_ms` and `prefix`.
fn redis_options<'u>(
    options: impl Iterator<Item = (&'u str, &'u str)>,
) -> Result<(Duration, Option<&'u str>), UrlError> {
    let (mut timeout, mut prefix) = (DEFAULT_TIMEOUT, None);
    for (name, value) in options {
        match name {
            "timeout_ms" => timeout = millis("timeout_ms", value)?,
            "prefix" => prefix = Some(value),
            _ => return Err(option("redis", name, "timeout_ms, prefix")),
        }
    }
    Ok((timeout, prefix))
}

/// The URL again, with only the `passed` options.
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
    UrlError::Option {
        scheme,
        name: name.to_string(),
        known,
    }
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
