//! The vaccination centre's HTTP service (the library's [`run`] on a listener), its store,
//! tokens and secret from the command line and the environment; see the crate docs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use handover_code::{KeyId, Keyring, Secret};
use handover_code_any::AnyStore;
use handover_code_host::{App, Backend, Sms, centre_service, metrics_router, run};
use tokio::net::TcpListener;

/// The secret from `HANDOVER_SECRET` (hex), or the demo secret.
fn secret() -> Result<Secret, Box<dyn std::error::Error>> {
    let Ok(hex) = std::env::var("HANDOVER_SECRET") else {
        eprintln!("HANDOVER_SECRET is not set: using the fixed demo secret; never in production");
        return Ok(Secret::from_bytes(&[0x42; 32])?);
    };
    Ok(Secret::from_hex(&hex)?)
}

/// Serves until Ctrl-C; a failure to start is printed with its causes (never a secret: the
/// crate's errors and `AnyStore`'s never hold one) and exits 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut said = format!("error: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                said.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{said}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut store = String::from("sqlite:centre.db");
    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut metrics_listen: SocketAddr = "127.0.0.1:9100".parse()?;
    let mut verifiers = HashMap::new();
    let mut issuer = String::from("demo-issuer");
    let mut print_codes = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--print-codes" {
            print_codes = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--store" => store = value,
            "--listen" => listen = value.parse()?,
            "--metrics-listen" => metrics_listen = value.parse()?,
            "--issuer-token" => issuer = value,
            "--token" => {
                let (token, verifier) = value.split_once('=').ok_or("--token TOKEN=VERIFIER")?;
                verifiers.insert(token.to_owned(), verifier.to_owned());
            }
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if issuer == "demo-issuer" {
        eprintln!("no --issuer-token given: issuing and resending take bearer token demo-issuer");
    }
    if verifiers.is_empty() {
        eprintln!("no --token given: accepting bearer token demo-token as vaccinator-1");
        verifiers.insert("demo-token".to_owned(), "vaccinator-1".to_owned());
    }
    // The store from configuration: sqlite:PATH, postgres://…, sqlite+sqlx:PATH,
    // postgres+sqlx://…, redis://…, memory:.
    let store_url = store;
    let store = Arc::new(AnyStore::connect(&store_url).await?);
    tokio::spawn(
        Arc::clone(&store).prune_task(Duration::from_secs(600), |pruned| {
            if let Err(e) = pruned {
                eprintln!("prune failed, tried again in 10 minutes: {e}");
            }
        }),
    );
    let backend = Backend::Any(store);
    let keys = Arc::new(Keyring::new(KeyId(1), secret()?));
    let sms: Sms = Arc::new(move |booking, code| {
        // Debug formatting escapes what a client put in the path: no forged log lines.
        if print_codes {
            println!(
                "SMS gateway: booking {booking:?}: your security code is {}",
                code.expose()
            );
        } else {
            println!("SMS gateway: sent the security code for booking {booking:?}");
        }
    });
    // Counts and store-call latencies, served at GET /metrics as Prometheus text on a
    // listener of its own. Upkeep drains the latency samples every 5 s, scraped or not, so
    // memory stays bounded.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let metrics_listener = TcpListener::bind(&metrics_listen).await?;
    eprintln!(
        "metrics on http://{}/metrics",
        metrics_listener.local_addr()?
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_listener, metrics_router(metrics)).await {
            eprintln!("the metrics listener failed: {e}");
        }
    });
    let app = App {
        service: centre_service(keys, 20)?.with_events(handover_code::audit::MetricsEvents::new(
            store_label(&store_url),
        )),
        backend,
        verifiers: Arc::new(verifiers),
        issuer: issuer.into(),
        sms,
    };
    let listener = TcpListener::bind(listen).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    run(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down: answering requests in flight");
    })
    .await?;
    Ok(())
}

/// The `store` label of the metrics: the store URL's scheme, never the rest (a URL may hold
/// a password).
fn store_label(url: &str) -> &'static str {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    match scheme {
        "memory" => "memory",
        "sqlite" => "sqlite",
        "sqlite+sqlx" => "sqlite+sqlx",
        "postgres" | "postgresql" => "postgres",
        "postgres+sqlx" | "postgresql+sqlx" => "postgres+sqlx",
        "redis" | "rediss" => "redis",
        _ => "other",
    }
}
