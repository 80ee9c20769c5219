//! Storage: one code path over SQLite (embedded default, a file in the data dir) and PostgreSQL, through
//! `sqlx::any` with run-time queries (the build needs no database). Each backend has its own migrations
//! folder; times are stored as epoch milliseconds (UTC) so both backends hold the same values.
//!
//! | module | tables |
//! |---|---|
//! | [`devices`] | `devices`: registered ward boxes and their public keys |
//! | [`evidence`] | `events` of kind `evidence`: the crops the API lists and serves |
//! | [`ingest`] | `events`, `presence_intervals`, `device_state`, `gaps`, `quarantine`: one ingest batch per transaction |
//! | [`lifecycle`] | `devices` revocation and key periods, `device_retired_keys`: what a device's events are checked against |
//! | [`stats`] | read-only counts for `wardwatch-collector stats` |

pub mod coverage;
pub mod devices;
pub mod evidence;
pub mod ingest;
pub mod lifecycle;
pub mod stats;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the SQLite file inside the data dir.
pub const SQLITE_FILE: &str = "wardwatch.db";

/// Where the collector keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite in `DIR/wardwatch.db` (created when missing).
    DataDir(PathBuf),
    /// A `postgres://` (or `sqlite://`) URL.
    Url(String),
}

/// The database flavour in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store could not be opened or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir could not be created.
    #[error("data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The URL is neither `postgres://` nor `sqlite://`.
    #[error("database URL {0:?} must start with postgres://, postgresql:// or sqlite://")]
    BadUrl(String),
    /// Connecting failed.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL (passwords elided).
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value is not in the expected form.
    #[error("stored {what} is invalid: {why}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        why: String,
    },
}

/// An open, migrated database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn elide_password(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens the store and applies pending migrations.
    pub async fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = match location {
            StoreLocation::DataDir(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                sqlite_url(&dir.join(SQLITE_FILE))
            }
            StoreLocation::Url(url) => url.clone(),
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::BadUrl(url));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let options = match backend {
            Backend::Postgres => options.max_connections(8),
            Backend::Sqlite => options.max_connections(4).after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    // WAL: readers never block the ingest writer; NORMAL is durable across process
                    // crashes (kill -9), which is what the ack protocol relies on.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: elide_password(&url),
                source,
            })?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The sqlx URL for a SQLite file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    wardwatch_protocol::Timestamp::now().millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_elided() {
        assert_eq!(
            elide_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(elide_password("postgres://h/db"), "postgres://h/db");
    }
}
