//! Storage: one code path over SQLite (embedded default, a file in the data dir) and PostgreSQL, through
//! `sqlx::any` with run-time queries (the build needs no database). Each backend has its own migrations
//! folder; times are stored as epoch milliseconds (UTC) so both backends hold the same values.
//!
//! | module | tables |
//! |---|---|
//! | [`backup`] | the whole SQLite file: `VACUUM INTO` a backup while serving, and its restore |
//! | [`devices`] | `devices`: registered ward boxes and their public keys |
//! | [`evidence`] | `events` of kind `evidence`: the crops the API lists and serves |
//! | [`ingest`] | `events`, `presence_intervals`, `device_state`, `gaps`, `quarantine`: one ingest batch per transaction |
//! | [`lifecycle`] | `devices` revocation and key periods, `device_retired_keys`: what a device's events are checked against |
//! | [`log_chain`] | `log_chain_heads` and the chain columns of `flag_events` and `access_log`: appending, verifying, heads |
//! | [`partitions`] | PostgreSQL only: the month partitions of `events`, `presence_intervals`, `fee_lines` (migration 0022) |
//! | [`stats`] | read-only counts for `wardwatch-collector stats` |

pub mod backup;
pub mod coverage;
pub mod devices;
pub mod evidence;
pub mod ingest;
pub mod lifecycle;
pub mod log_chain;
pub mod partitions;
pub mod stats;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wardwatch_protocol::private_file;

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
    /// The SQLite file (or its `-wal`/`-shm`) could not be created or set to mode 0600.
    #[error("database file: {0}")]
    Private(#[from] wardwatch_protocol::private_file::PrivateFileError),
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
                private_file::create_private_dir(dir).map_err(|e| match e {
                    private_file::PrivateFileError::Io { path, source } => {
                        StoreError::DataDir { path, source }
                    }
                    other => StoreError::Private(other),
                })?;
                sqlite_url(&dir.join(SQLITE_FILE))
            }
            StoreLocation::Url(url) => url.clone(),
        };
        if let Some(file) = sqlite_file(&url) {
            make_sqlite_private(&file)?;
        }
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
        let store = Store { pool, backend };
        // PostgreSQL: this month's partitions and the next ones exist before any row arrives.
        store.ensure_months_around_now().await?;
        // Once after migration 0013: chain the log rows written before the chains existed.
        for log in log_chain::ChainedLog::ALL {
            log_chain::chain_existing_rows(&store, log).await?;
        }
        Ok(store)
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

/// The file a `sqlite:` URL names (`None` for an in-memory database).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the SQLite file with mode 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the database file's mode), and tightens an existing database, `-wal` or `-shm` that other users
/// may read, with a warning: it holds patients' settlements, presence and the audit log.
fn make_sqlite_private(file: &Path) -> Result<(), StoreError> {
    let mut tightened = vec![private_file::create_private(file)?];
    for suffix in ["-wal", "-shm"] {
        let mut side = file.as_os_str().to_owned();
        side.push(suffix);
        tightened.push(private_file::tighten(Path::new(&side))?);
    }
    for t in tightened.into_iter().flatten() {
        tracing::warn!(
            path = %t.path.display(),
            was = format!("{:03o}", t.was),
            "the database file was readable by other users; set to mode 600"
        );
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    wardwatch_protocol::Timestamp::now().millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sqlite_files_are_owner_only_and_loose_ones_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let db = data.join(SQLITE_FILE);
        let side = |suffix: &str| PathBuf::from(format!("{}{suffix}", db.display()));
        let store = Store::open(&StoreLocation::DataDir(data.clone()))
            .await
            .expect("open");
        // The migrations wrote through the WAL: the database, -wal and -shm all exist now.
        for file in [db.clone(), side("-wal"), side("-shm")] {
            assert_eq!(
                private_file::mode(&file).expect("exists"),
                0o600,
                "{}",
                file.display()
            );
        }
        assert_eq!(private_file::mode(&data).expect("dir"), 0o700);
        store.close().await;

        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let url = StoreLocation::Url(sqlite_url(&db));
        let store = Store::open(&url).await.expect("reopen");
        assert_eq!(private_file::mode(&db).expect("db"), 0o600, "tightened");
        store.close().await;
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:///srv/w/wardwatch.db?mode=rwc"),
            Some(PathBuf::from("/srv/w/wardwatch.db"))
        );
        assert_eq!(sqlite_file("sqlite:w.db"), Some(PathBuf::from("w.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }

    #[test]
    fn passwords_are_elided() {
        assert_eq!(
            elide_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(elide_password("postgres://h/db"), "postgres://h/db");
    }
}
