//! The sqlx PostgreSQL store (`PgStore`) against a real server that each test starts for itself: every
//! proof of the workspace's PostgreSQL suite (`tests/support/pg_suite.rs`), and this
//! store's TLS settings, given in its URL. Without PostgreSQL installed every test is reported ignored, with the reason (and
//! the run fails under `CI=true`): `tests/support/harness.rs`.
#![allow(unreachable_pub)]

#[path = "../../../tests/support/harness.rs"]
#[macro_use]
mod harness;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

#[path = "../../../tests/support/pg_cluster.rs"]
#[allow(dead_code)]
mod pg_cluster;

#[path = "../../../tests/support/storm.rs"]
mod storm;

#[path = "../../../tests/support/corrupt.rs"]
mod corrupt;
#[path = "../../../tests/support/fixtures.rs"]
mod fixtures;

#[path = "../../../tests/support/cancel.rs"]
mod cancel;

#[path = "../../../tests/support/ops.rs"]
mod ops;

#[path = "../../../tests/support/roles.rs"]
mod roles;

#[path = "../../../tests/support/written.rs"]
#[allow(dead_code)]
mod written;

#[path = "../../../tests/support/audited.rs"]
#[allow(dead_code)]
mod audited;

#[path = "../../../tests/support/pg_store.rs"]
#[allow(dead_code)]
mod pg_store;

#[path = "../../../tests/support/pg_suite.rs"]
mod pg_suite;

#[path = "../../../tests/support/pg_proxy.rs"]
#[allow(dead_code)]
mod pg_proxy;

#[path = "support/store.rs"]
mod store;

use handover_code_sqlx::PgStore;

/// This store's TLS, given in its URL: a TLS feature of sqlx must be in the build.
#[cfg(feature = "rustls")]
mod tls {
    use std::time::Duration;

    use crate::fixtures::runtime;
    use crate::pg_cluster::Cluster;
    use crate::pg_store::{Pg, Target};
    use crate::scratch;
    use crate::store::url;
    use handover_code::conformance;
    use handover_code_sqlx::PgStore;

    /// The store, its table emptied, driven from plain threads.
    fn emptied(rt: &tokio::runtime::Runtime, store: &PgStore) -> conformance::Blocking<PgStore> {
        rt.block_on(store.execute("TRUNCATE handover_records, handover_audit"));
        conformance::Blocking {
            store: store.clone(),
            handle: rt.handle().clone(),
        }
    }

    /// A server that takes TLS only (needs feature `rustls`): the store connects with the server's CA given in the URL
    /// (`sslmode=require&sslrootcert=…`), checking the certificate and the host name, and every
    /// proof holds over TLS; plain text, and TLS trusting only the system's roots, are refused
    /// with an error (never a hang, never a silent fall-back to plain text).
    pub fn tls_to_a_server_that_requires_it() {
        let Some(cluster) = Cluster::start() else {
            return;
        };
        let ca = cluster.require_tls();
        let rt = runtime();
        let timeout = Duration::from_secs(3);
        let target = Target::on(&cluster);
        let with_ca = url(
            &target,
            &format!("sslmode=require&sslrootcert={}", ca.display()),
        );
        let store = rt
            .block_on(PgStore::connect(&with_ca, 70, timeout))
            .unwrap();
        rt.block_on(store.create_schema()).unwrap();
        let q = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        assert_eq!(
            rt.block_on(store.text(q)),
            "true",
            "the connection is not encrypted"
        );
        let report = conformance::check_all(|| emptied(&rt, &store)).unwrap();
        assert!(report.conflicts > 0);
        let reach = |extra: &str| {
            rt.block_on(async {
                let store = PgStore::connect(&url(&target, extra), 1, timeout).await?;
                store.create_schema().await
            })
        };
        // Plain text: the server takes hostssl only.
        for plain in ["", "sslmode=disable", "sslmode=prefer"] {
            assert!(reach(plain).is_err(), "{plain:?}: plain text was let in");
        }
        // TLS with the system's roots, which do not know the test CA, whatever mode says TLS:
        // `require` and `verify-ca` verify as `verify-full` does.
        // The host name is checked too, whatever the mode: the certificate names 127.0.0.1 only,
        // so the same server and CA reached as `localhost` are refused.
        for mode in ["require", "verify-ca", "verify-full"] {
            let localhost = with_ca
                .replace("@127.0.0.1:", "@localhost:")
                .replace("sslmode=require", &format!("sslmode={mode}"));
            let refused = rt.block_on(async {
                let store = PgStore::connect(&localhost, 1, timeout).await?;
                store.create_schema().await
            });
            let why = format!("{refused:?}");
            assert!(
                matches!(refused, Err(handover_code::Error::Setup(_)))
                    && why.contains("NotValidForName"),
                "{mode} as localhost: refused for the wrong reason, or let in: {why}"
            );
        }
        for mode in ["require", "verify-ca", "verify-full"] {
            let refused = reach(&format!("sslmode={mode}"));
            let why = format!("{refused:?}");
            assert!(
                refused.is_err() && (why.contains("UnknownIssuer") || why.contains("certificate")),
                "{mode}: refused for the wrong reason, or let in: {why}"
            );
        }
    }

    /// A URL that asks for TLS (needs feature `rustls`) never takes plain text from a server that declines it: that is
    /// how a machine in the middle would downgrade. (`prefer`, or no `sslmode`, is plain text
    /// by this store's rule, never TLS-if-offered.)
    pub fn tls_is_never_downgraded_to_plain_text() {
        let Some(cluster) = Cluster::start() else {
            return;
        };
        let rt = runtime();
        let timeout = Duration::from_secs(3);
        let scratch = scratch::ScratchDir::new("ca");
        let ca = scratch.join("ca.pem");
        // Any CA will do: this server offers no TLS at all.
        let other = Cluster::start().unwrap();
        std::fs::copy(other.require_tls(), &ca).unwrap();
        let target = Target::on(&cluster);
        for mode in ["require", "verify-ca", "verify-full"] {
            let extra = format!("sslmode={mode}&sslrootcert={}", ca.display());
            let reached = rt.block_on(async {
                let store = PgStore::connect(&url(&target, &extra), 1, timeout).await?;
                store.create_schema().await
            });
            assert!(reached.is_err(), "{mode:?}: plain text was taken");
        }
        // A CA file with a mode that would connect in plain text is a mistake, refused.
        for mode in ["prefer", "allow", "disable"] {
            let extra = format!("sslmode={mode}&sslrootcert={}", ca.display());
            let refused = rt.block_on(PgStore::connect(&url(&target, &extra), 1, timeout));
            assert!(
                matches!(refused, Err(handover_code::Error::Setup(_))),
                "{mode}: {refused:?}"
            );
        }
        for plain in ["", "sslmode=prefer"] {
            let store = rt
                .block_on(PgStore::connect(&url(&target, plain), 1, timeout))
                .unwrap();
            rt.block_on(store.create_schema()).unwrap();
            let q = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
            assert_eq!(rt.block_on(store.text(q)), "false", "{plain:?}");
        }
    }
}

/// Every test, each ignored (with the reason printed) where the server is missing.
fn main() {
    #[cfg_attr(not(feature = "rustls"), allow(unused_mut))]
    let mut trials = pg_suite::trials::<PgStore>();
    #[cfg(feature = "rustls")]
    {
        use tls::{tls_is_never_downgraded_to_plain_text, tls_to_a_server_that_requires_it};
        trials.extend(trials!(server: tls_to_a_server_that_requires_it, tls_is_never_downgraded_to_plain_text));
    }
    harness::run(pg_cluster::missing(), trials);
}
