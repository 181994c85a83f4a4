//! WAL checkpoints off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the WAL past its
//! threshold: that commit waits while pages are copied into the database and the file is
//! synced, and with group commit so does every chat step whose write is in the batch.
//! The writer connection turns the automatic checkpoint off, and this thread checkpoints
//! instead, PASSIVE (it never waits for the writer or for readers, nor makes them wait).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// How often the WAL is checkpointed (about 8 MB of WAL at the chat path's peak rate).
const EVERY: Duration = Duration::from_millis(500);

/// The checkpointing thread; it checkpoints once more and ends when the last store
/// handle holding this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// What one checkpoint did, in WAL frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpointed {
    /// Frames in the WAL.
    pub(super) log: i64,
    /// Frames copied into the database so far.
    pub(super) copied: i64,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path`.
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.busy_timeout(Duration::from_secs(5))?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = matches!(
                        stopped.recv_timeout(EVERY),
                        Err(RecvTimeoutError::Disconnected)
                    );
                    if let Err(e) = checkpoint(&db) {
                        tracing::warn!(error = %e, "sqlite: checkpoint failed");
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::WriteFailed(format!("cannot start checkpoints: {e}")))?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone.
pub(super) fn checkpoint(db: &Connection) -> Result<Checkpointed, StoreError> {
    Ok(db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Checkpointed {
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions};

    #[tokio::test]
    async fn the_writer_leaves_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.db");
        let store = Store::connect(
            &format!("sqlite://{}", file.display()),
            &StoreOptions::default(),
        )
        .await
        .expect("store");
        store.migrate().await.expect("migrations");
        let Store::Sqlite(s) = &store else {
            panic!("a SQLite store")
        };
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&s.write)
            .await
            .expect("pragma");
        assert_eq!(auto, 0, "the writer does not checkpoint in its commits");
        // The migrations left frames in the WAL; with no reader holding an older
        // snapshot, a checkpoint copies every one of them.
        let done = checkpoint(&Connection::open(&file).expect("open")).expect("checkpoint");
        assert!(done.log > 0, "the migrations were written to the WAL");
        assert_eq!(done.copied, done.log);
    }
}
