//! The URL forms, their options and their errors, with whatever features are on; and the
//! error for a store not compiled in, with the features that leave it out.

use std::time::Duration;

use crate::url::{DEFAULT_POOL, DEFAULT_TIMEOUT, Target, parse};

#[test]
fn every_form_is_read_with_its_options() {
    assert_eq!(parse("memory:"), Ok(Target::Memory));
    assert_eq!(
        parse("sqlite:centre.db"),
        Ok(Target::Sqlite {
            sqlx: false,
            path: Some("centre.db".into()),
            full: true,
            busy_timeout: None
        })
    );
    assert_eq!(
        parse("sqlite:///var/lib/my%20centre.db?durability=normal&busy_timeout_ms=250"),
        Ok(Target::Sqlite {
            sqlx: false,
            path: Some("/var/lib/my centre.db".into()),
            full: false,
            busy_timeout: Some(Duration::from_millis(250)),
        })
    );
    assert_eq!(
        parse("sqlite::memory:"),
        Ok(Target::Sqlite {
            sqlx: false,
            path: None,
            full: true,
            busy_timeout: None
        })
    );
    assert_eq!(
        parse("postgres://app:s3cret@db:5432/app?pool=4&sslmode=require&prefix=t1_&timeout_ms=900"),
        Ok(Target::Postgres {
            sqlx: false,
            params: "postgres://app:s3cret@db:5432/app?sslmode=require".into(),
            pool: 4,
            timeout: Duration::from_millis(900),
            prefix: Some("t1_".into()),
            create_schema: true,
        })
    );
    assert_eq!(
        parse("POSTGRESQL://db/app?create_schema=false"),
        Ok(Target::Postgres {
            sqlx: false,
            params: "postgresql://db/app".into(),
            pool: DEFAULT_POOL,
            timeout: DEFAULT_TIMEOUT,
            prefix: None,
            create_schema: false,
        })
    );
    // The sqlx stores: the same forms and options, the client's URL without `+sqlx`.
    assert_eq!(
        parse("sqlite+sqlx:centre.db?durability=normal"),
        Ok(Target::Sqlite {
            sqlx: true,
            path: Some("centre.db".into()),
            full: false,
            busy_timeout: None
        })
    );
    assert_eq!(
        parse("postgres+sqlx://app@db/app?pool=2&sslmode=require"),
        Ok(Target::Postgres {
            sqlx: true,
            params: "postgres://app@db/app?sslmode=require".into(),
            pool: 2,
            timeout: DEFAULT_TIMEOUT,
            prefix: None,
            create_schema: true,
        })
    );
    assert_eq!(
        parse("redis://127.0.0.1:6379/0?prefix=h%20c"),
        Ok(Target::Redis {
            url: "redis://127.0.0.1:6379/0".into(),
            timeout: DEFAULT_TIMEOUT,
            prefix: Some("h c".into()),
        })
    );
    assert_eq!(
        parse("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7000/?timeout_ms=500"),
        Ok(Target::RedisCluster {
            nodes: vec![
                "redis://u:p@10.0.0.1:7000/".into(),
                "redis://u:p@10.0.0.2:7000/".into()
            ],
            timeout: Duration::from_millis(500),
            prefix: None,
        })
    );
}

#[test]
fn a_url_that_names_no_store_says_what_to_write_and_never_repeats_the_url() {
    let cases = [
        ("centre.db", "does not start with a scheme"),
        (":x", "does not start with a scheme"),
        (
            "host=db user=app password=hun:ter2",
            "does not start with a scheme",
        ),
        (
            "mysql://app:hunter2@db/app",
            "unknown store URL scheme `mysql`",
        ),
        ("sqlite:", "names no file"),
        ("redis+cluster://", "names no node"),
        ("redis+cluster://a:1,b:2/0", "one database"),
        (
            "memory:?shards=4",
            "the memory store takes no option by that name",
        ),
        ("memory:hunter2", "takes nothing after the colon"),
        (
            "sqlite:a.db?durability=fast",
            "option `durability` must be full or normal",
        ),
        (
            "sqlite::memory:?durability=full",
            "takes no option `durability`",
        ),
        (
            "sqlite:a.db?synchronous=off",
            "the sqlite store takes no option by that name",
        ),
        (
            "sqlite:a%zz.db",
            "option `path` must be UTF-8 with well-formed %XX escapes",
        ),
        (
            "postgres://app:hunter2@db/app?pool=0",
            "option `pool` must be a whole number above 0",
        ),
        ("postgres:host=db password=hunter2", "use postgres://"),
        (
            "postgres://app:hunter2@db/app?connect_timeout=5",
            "use `timeout_ms`",
        ),
        (
            "redis://:hunter2@r?timeout_ms=x",
            "option `timeout_ms` must be a whole number",
        ),
        (
            "redis://:hunter2@r?password=hunter2",
            "the redis store takes no option by that name",
        ),
        (
            "redis://:hun?ter2@r:6379",
            "the redis store takes no option by that name",
        ),
        ("rediss://r/?prefix=hc#hunter2", "no fragment"),
    ];
    for (url, want) in cases {
        let said = parse(url).map(|_| ()).unwrap_err().to_string();
        assert!(said.contains(want), "{url}: {said}");
        assert!(
            !said.contains("hunter2"),
            "{url}: the error repeats a secret: {said}"
        );
    }
}

#[test]
fn a_store_not_compiled_in_names_the_feature_and_crate_to_add() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        (
            cfg!(feature = "sqlite"),
            "sqlite::memory:",
            "feature `sqlite`",
            "handover-code-sqlite",
        ),
        (
            cfg!(feature = "postgres"),
            "postgres://127.0.0.1:1/app",
            "feature `postgres`",
            "handover-code-postgres",
        ),
        (
            cfg!(feature = "sqlx-sqlite"),
            "sqlite+sqlx::memory:",
            "feature `sqlx-sqlite`",
            "handover-code-sqlx",
        ),
        (
            cfg!(feature = "sqlx-postgres"),
            "postgres+sqlx://127.0.0.1:1/app",
            "feature `sqlx-postgres`",
            "handover-code-sqlx",
        ),
        (
            cfg!(feature = "redis"),
            "redis://127.0.0.1:1/",
            "feature `redis`",
            "handover-code-redis",
        ),
    ];
    for (compiled, url, feature, krate) in cases {
        if compiled {
            continue;
        }
        let said = runtime.block_on(crate::AnyStore::connect(url)).unwrap_err();
        assert!(matches!(said, handover_code::Error::Setup(_)), "{said:?}");
        let said = std::format!("{said}: {}", std::error::Error::source(&said).unwrap());
        assert!(
            said.contains(feature) && said.contains(krate),
            "{url}: {said}"
        );
        assert!(
            said.contains("cargo add handover-code-any --features"),
            "{said}"
        );
    }
}

#[test]
fn memory_urls_open_a_memory_store() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(crate::AnyStore::connect("memory:"))
        .unwrap();
    assert_eq!(store.kind(), "memory");
}
