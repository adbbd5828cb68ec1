//! The vaccination centre's HTTP service (the library's [`run`] on a listener), its store,
//! tokens and secret from the command line and the environment; see the crate docs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use handover_code::{KeyId, Keyring, Secret};
use handover_code_host::{App, Backend, Sms, centre_service, run};
use handover_code_postgres::PostgresStore;
use handover_code_sqlite::{Durability, SqliteStore};
use tokio::net::TcpListener;

/// The secret from `HANDOVER_SECRET` (hex), or the demo secret.
fn secret() -> Result<Secret, Box<dyn std::error::Error>> {
    let Ok(hex) = std::env::var("HANDOVER_SECRET") else {
        eprintln!("HANDOVER_SECRET is not set: using the fixed demo secret; never in production");
        return Ok(Secret::from_bytes(&[0x42; 32])?);
    };
    Ok(Secret::from_hex(&hex)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut store = String::from("sqlite:centre.db");
    let mut listen: SocketAddr = "127.0.0.1:8080".parse()?;
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
    let backend = match store.split_once(':') {
        Some(("sqlite", path)) => {
            Backend::Sqlite(Arc::new(SqliteStore::open(path, Durability::Full)?))
        }
        Some(("postgres", params)) => {
            let store = PostgresStore::connect(params, 16, Duration::from_secs(3))?;
            store.create_schema().await?;
            Backend::Postgres(Arc::new(store))
        }
        _ => return Err("--store sqlite:PATH or --store postgres:PARAMS".into()),
    };
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
    let app = App {
        service: centre_service(keys, 20)?,
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
