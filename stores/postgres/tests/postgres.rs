//! The tokio-postgres store against a real server that each test starts for itself: every
//! proof of the workspace's PostgreSQL suite (`tests/support/pg_suite.rs`), and this
//! store's TLS settings. Without PostgreSQL installed every test is reported ignored, with the reason (and
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

#[path = "support/store.rs"]
mod store;

use std::time::Duration;

use fixtures::runtime;
use handover_code::conformance;
use handover_code_postgres::PostgresStore;
use pg_cluster::Cluster;
use pg_store::Pg;

/// The store, its table emptied, driven from plain threads.
fn emptied(
    rt: &tokio::runtime::Runtime,
    store: &PostgresStore,
) -> conformance::Blocking<PostgresStore> {
    rt.block_on(store.execute("TRUNCATE handover_records, handover_audit"));
    conformance::Blocking {
        store: store.clone(),
        handle: rt.handle().clone(),
    }
}

/// A server that takes TLS only: the store connects with the server's CA and every proof
/// holds over TLS; plain text, and TLS trusting only the system's roots, are refused with
/// an error (never a hang, never a silent fall-back to plain text).
fn tls_to_a_server_that_requires_it() {
    use handover_code_postgres::Tls;
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let ca = cluster.require_tls();
    let rt = runtime();
    let timeout = Duration::from_secs(3);
    let params = cluster.params();
    let tls = Tls::CaFile(ca);
    let store = PostgresStore::connect_with(&params, 70, timeout, &tls).unwrap();
    rt.block_on(store.create_schema()).unwrap();
    let encrypted: bool = rt.block_on(async {
        let client = store.pool().get().await.unwrap();
        let q = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        client.query_one(q, &[]).await.unwrap().get(0)
    });
    assert!(encrypted, "the connection is not encrypted");
    let report = conformance::check_all(|| emptied(&rt, &store)).unwrap();
    assert!(report.conflicts > 0);
    // Refused: plain text (the server takes hostssl only), and a certificate whose issuer
    // the system's roots do not know (`connect` with `sslmode=require` trusts those).
    let plain = PostgresStore::connect_with(&params, 1, timeout, &Tls::Off)
        .and_then(|store| rt.block_on(store.create_schema()));
    assert!(plain.is_err(), "plain text was let in");
    let require = format!("{params} sslmode=require");
    let unknown = PostgresStore::connect(&require, 1, timeout)
        .and_then(|store| rt.block_on(store.create_schema()));
    let why = format!("{unknown:?}");
    assert!(
        why.contains("InvalidCertificate") || why.contains("UnknownIssuer"),
        "refused for the wrong reason, or let in: {why}"
    );
    // Asking for plain text with TLS configured, or TLS with Tls::Off, is an error.
    let disable = format!("{params} sslmode=disable");
    assert!(PostgresStore::connect_with(&disable, 1, timeout, &tls).is_err());
    assert!(PostgresStore::connect_with(&require, 1, timeout, &Tls::Off).is_err());
}

/// A store told to use TLS never takes plain text from a server that declines it, even when
/// the parameters say `sslmode=prefer`: that is how a machine in the middle would downgrade.
fn tls_is_never_downgraded_to_plain_text() {
    use handover_code_postgres::Tls;
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
    for mode in ["", " sslmode=prefer", " sslmode=require"] {
        let params = format!("{}{mode}", cluster.params());
        let store = PostgresStore::connect_with(&params, 1, timeout, &Tls::CaFile(ca.clone()));
        let reached = store.and_then(|store| rt.block_on(store.create_schema()));
        assert!(reached.is_err(), "{mode:?}: plain text was taken");
    }
    // The plain store still reaches it, as `connect` always did.
    let plain = PostgresStore::connect(&cluster.params(), 1, timeout).unwrap();
    rt.block_on(plain.create_schema()).unwrap();
}

/// Every test, each ignored (with the reason printed) where the server is missing.
fn main() {
    let mut trials = pg_suite::trials::<PostgresStore>();
    trials.extend(
        trials!(server: tls_to_a_server_that_requires_it, tls_is_never_downgraded_to_plain_text),
    );
    harness::run(pg_cluster::missing(), trials);
}
