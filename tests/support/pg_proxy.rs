//! A loopback TCP proxy in front of PostgreSQL servers that sends each new connection to the
//! one taking writes, found by asking each `SELECT pg_is_in_recovery()` every 50 ms: what a
//! load balancer with a health check, or a managed database's endpoint, does after a
//! failover for a client that reaches one host (sqlx has no multi-host connection string).
//! Connections already open stay where they are, as they would behind such a balancer, and
//! die with their server. The proxy is a thread of the test process, stopped when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The proxy: its port on 127.0.0.1, and the thread serving it.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy in front of the servers on `ports` (127.0.0.1), sending new connections to
    /// the first until another is found taking writes.
    pub fn start(ports: &[u16]) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (ports, stopped) = (ports.to_vec(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, ports, stopped));
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts until `stop`, each connection copied both ways to the current writable server.
async fn serve(listener: std::net::TcpListener, ports: Vec<u16>, stop: Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let target = Arc::new(AtomicU16::new(ports[0]));
    tokio::spawn(watch(ports, Arc::clone(&target)));
    while !stop.load(Ordering::Relaxed) {
        let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        let Ok(Ok((mut client, _))) = accepted else {
            continue;
        };
        let port = target.load(Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

/// Points `target` at whichever server answers that it is not in recovery, every 50 ms,
/// each asked on a connection kept open (and opened again once it fails).
async fn watch(ports: Vec<u16>, target: Arc<AtomicU16>) {
    let mut clients: Vec<Option<tokio_postgres::Client>> = ports.iter().map(|_| None).collect();
    loop {
        for (port, client) in ports.iter().zip(clients.iter_mut()) {
            if client.is_none() {
                let params = format!(
                    "host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=1"
                );
                let connecting = tokio_postgres::connect(&params, tokio_postgres::NoTls);
                if let Ok(Ok((c, connection))) =
                    tokio::time::timeout(Duration::from_millis(500), connecting).await
                {
                    tokio::spawn(connection);
                    *client = Some(c);
                }
            }
            let Some(c) = client.as_ref() else { continue };
            let asked = c.query_one("SELECT pg_is_in_recovery()", &[]);
            match tokio::time::timeout(Duration::from_millis(500), asked).await {
                Ok(Ok(row)) => {
                    if !row.get::<_, bool>(0) {
                        target.store(*port, Ordering::Relaxed);
                    }
                }
                _ => *client = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
