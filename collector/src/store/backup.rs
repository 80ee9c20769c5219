//! Backups of the SQLite store while the collector serves, and their restore. `VACUUM INTO` writes a
//! consistent copy of the database as of one read transaction (WAL readers do not block the ingest
//! writer, nor it them), compacted, into a new file created owner-only. A restore checks the copy
//! (`PRAGMA integrity_check`) and places it as a data dir's `wardwatch.db`, never over an existing
//! database. PostgreSQL is backed up with `pg_dump` (deploy/README.md): a copy made through the
//! collector's pool would be slower and less complete than the server's own tool.

use super::{Backend, SQLITE_FILE, Store, StoreError, sqlite_url};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use wardwatch_protocol::private_file;

/// A backup or restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store is PostgreSQL.
    #[error(
        "this collector stores in PostgreSQL: back it up with pg_dump, not `backup` (deploy/README.md, \
         \"Backups\": pg_dump --format=custom --file=wardwatch-$(date +%F).dump DBNAME, and pg_restore)"
    )]
    Postgres,
    /// The target exists.
    #[error("{0} already exists; a backup never overwrites a file: choose a new name")]
    Exists(PathBuf),
    /// The restore target holds a database already.
    #[error("{0} already holds a database; restore into a new data dir")]
    Occupied(PathBuf),
    /// The file could not be created owner-only.
    #[error(transparent)]
    Private(#[from] private_file::PrivateFileError),
    /// The copy is damaged or not a WardWatch database.
    #[error("{path} is not a sound WardWatch database: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What the check said.
        why: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Copying failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(StoreError::Query(e))
    }
}

/// Runs SQLite's integrity check and reads the migration level of the database in `path`.
async fn check(path: &Path) -> Result<i64, BackupError> {
    let damaged = |why: String| BackupError::Damaged {
        path: path.to_owned(),
        why,
    };
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .map_err(|e| damaged(e.to_string()))?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| damaged(e.to_string()))?;
    if verdict != "ok" {
        return Err(damaged(verdict));
    }
    let level: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| damaged(format!("no migration table: {e}")))?;
    conn.close().await?;
    Ok(level)
}

impl Store {
    /// Writes a consistent copy of this SQLite store to `to` (a new file, mode 0600), checks it and
    /// returns its size in bytes. Safe while the collector serves.
    pub async fn backup_to(&self, to: &Path) -> Result<u64, BackupError> {
        if self.backend() == Backend::Postgres {
            return Err(BackupError::Postgres);
        }
        if to.exists() {
            return Err(BackupError::Exists(to.to_owned()));
        }
        // An empty file made owner-only first: VACUUM INTO fills an empty file and keeps its mode.
        private_file::create_private(to)?;
        let written = sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(self.pool())
            .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(to);
            return Err(e.into());
        }
        check(to).await?;
        let bytes = std::fs::metadata(to)
            .map_err(|source| BackupError::Io {
                path: to.to_owned(),
                source,
            })?
            .len();
        Ok(bytes)
    }
}

/// Checks the backup `from` and copies it as `data_dir`'s database (the directory is created 0700 if
/// missing, the file 0600); refuses a data dir that holds one. Returns the database's path.
pub async fn restore(from: &Path, data_dir: &Path) -> Result<PathBuf, BackupError> {
    check(from).await?;
    private_file::create_private_dir(data_dir)?;
    let target = data_dir.join(SQLITE_FILE);
    for existing in [target.clone(), data_dir.join(format!("{SQLITE_FILE}-wal"))] {
        if existing.exists() {
            return Err(BackupError::Occupied(existing));
        }
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    let mut source = std::fs::File::open(from).map_err(io(from))?;
    let partial = data_dir.join(format!("{SQLITE_FILE}.restoring"));
    {
        let mut out = private_file::rewrite_private(&partial)?;
        std::io::copy(&mut source, &mut out).map_err(io(&partial))?;
        out.sync_all().map_err(io(&partial))?;
    }
    std::fs::rename(&partial, &target).map_err(io(&target))?;
    check(&target).await?;
    tracing::info!(from = %from.display(), to = %target.display(), url = %sqlite_url(&target), "restored");
    Ok(target)
}
