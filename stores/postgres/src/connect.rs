//! Reaching the server: a pool built from a connection string, with TLS as asked, and the
//! schema made ready before the store is handed back.

use std::format;
use std::string::ToString;

use core::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;

use super::{PostgresError, PostgresStore, Tls};
use handover_code::Error;

impl PostgresStore {
    /// A store with its own pool of at most `max_connections` connections, given
    /// `tokio_postgres` connection parameters (`host=127.0.0.1 port=5432 user=app
    /// dbname=app`). Options in them are kept, with `-c statement_timeout` appended: a
    /// tenant's `options='-c search_path=tenant_a'` puts the tables in schema `tenant_a`.
    /// TLS follows the parameters' `sslmode`: `sslmode=require` connects over TLS, trusting
    /// the system's root certificates and checking the certificate and host name (what libpq
    /// calls `verify-full`); `disable`, `prefer` or none connect in plain text, as this store
    /// always did. For a private CA, or to be sure TLS is never skipped, use
    /// [`PostgresStore::connect_with`]. (`verify-ca` and `verify-full` are refused by the
    /// parameter parser: say `require`, which verifies.)
    /// `timeout` bounds connecting, waiting for a pooled connection, and
    /// every statement. Needs a tokio runtime when used.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for parameters `tokio_postgres` cannot parse or a pool it
    /// cannot build.
    pub fn connect(params: &str, max_connections: usize, timeout: Duration) -> Result<Self, Error> {
        Ok(Self::open(
            params,
            max_connections,
            timeout,
            &Tls::SystemRoots,
            false,
        )?)
    }

    /// [`PostgresStore::connect`] with TLS as given. With [`Tls::Off`] the connection is
    /// plain (`sslmode=require` with it is refused); with TLS on, every connection is TLS
    /// (`prefer` means `require` here, and `sslmode=disable` is refused): the store never
    /// falls back to plain text once told to use TLS.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code_postgres::{PostgresStore, Tls};
    ///
    /// // A managed database whose certificate chains to the provider's CA bundle.
    /// let params = "host=db.example.net user=app dbname=app sslmode=require";
    /// let ca = Tls::CaFile("/etc/ssl/provider-ca.pem".into());
    /// let store = PostgresStore::connect_with(params, 16, Duration::from_secs(3), &ca)?;
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for parameters `tokio_postgres` cannot parse, a CA file
    /// that cannot be read or holds no certificate, no system roots, `sslmode=disable` with
    /// TLS on, or a pool it cannot build.
    pub fn connect_with(
        params: &str,
        max_connections: usize,
        timeout: Duration,
        tls: &Tls,
    ) -> Result<Self, Error> {
        Ok(Self::open(params, max_connections, timeout, tls, true)?)
    }

    /// Builds the pool. `strict` (`connect_with`): TLS as given, never plain text once TLS
    /// is configured (`prefer`, given or not, means `require`). Not strict (`connect`): the
    /// parameters' `sslmode` decides, `require` taking TLS with the system's roots and
    /// anything else plain text, as before TLS was offered.
    pub(super) fn open(
        params: &str,
        max_connections: usize,
        timeout: Duration,
        tls: &Tls,
        strict: bool,
    ) -> Result<Self, PostgresError> {
        let mut config: tokio_postgres::Config = params
            .parse()
            .map_err(|e: tokio_postgres::Error| PostgresError::Config(e.to_string()))?;
        let tls = match (strict, config.get_ssl_mode()) {
            (false, SslMode::Require) => tls,
            (false, _) => &Tls::Off,
            (true, _) => tls,
        };
        let (connector, on) = tls.connector()?;
        match (on, config.get_ssl_mode()) {
            (false, SslMode::Require) => {
                return Err(PostgresError::Config(
                    "sslmode=require with Tls::Off; configure TLS or drop the sslmode".into(),
                ));
            }
            (false, _) => {
                config.ssl_mode(SslMode::Disable);
            }
            (true, SslMode::Disable) => {
                return Err(PostgresError::Config(
                    "sslmode=disable with TLS configured; use Tls::Off for plain text".into(),
                ));
            }
            (true, _) => {
                // `prefer` would take plain text from a server (or a machine in the middle)
                // that declines TLS: once TLS is configured, it is required.
                config.ssl_mode(SslMode::Require);
            }
        }
        config.connect_timeout(timeout);
        // The caller's options stay (a search path, a pinned synchronous_commit); ours come
        // last, so a statement timeout of the caller's own is replaced by `timeout`.
        let ours = format!("-c statement_timeout={}", timeout.as_millis());
        let options = match config.get_options() {
            Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
            _ => ours,
        };
        config.options(options);
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| PostgresError::Config(e.to_string()))?;
        Ok(Self::new(pool))
    }
}
