// Runs WAL checkpoints on its own connection in a worker thread, so the fsyncs a checkpoint
// makes never stall the gateway's event loop (better-sqlite3 is synchronous). The gateway's
// connection turns auto-checkpointing off and relies on this.
//
// PASSIVE checkpoints never block anyone, but under a steady stream of commits they never
// catch up with the writer either, and SQLite only starts the WAL over once a checkpoint has
// copied every frame: the WAL then grows without end (1.75 GB in 140 s at 650 req/s was seen).
// So once the WAL is past its limit, a RESTART checkpoint waits for the current write
// transaction, copies everything and lets the next commit start the WAL from the beginning
// (journal_size_limit on the writer's connection then truncates the file).
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs, walLimitBytes } = workerData as { file: string; intervalMs: number; walLimitBytes: number };
let db: Database.Database;
try {
  db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch {
  // The store was closed (and perhaps removed) before this thread started: nothing to do.
  process.exit(0);
}

function walSize(): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

const timer = setInterval(() => {
  try {
    // PASSIVE first, so the RESTART that holds the writer back has only the last few frames
    // left to copy.
    db.pragma('wal_checkpoint(PASSIVE)');
    if (walSize() > walLimitBytes) db.pragma('wal_checkpoint(RESTART)');
  } catch {
    // A busy database now is fine: the next tick tries again.
  }
}, intervalMs);
// On stop, only close: the owner checkpoints on its own connection before it says stop. A
// statement run here while the process exits (or after the files were removed) could fail
// during the thread's teardown, which is fatal to the whole process.
parentPort?.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    try {
      db.close();
    } catch {
      // Closing a connection that is already gone is nothing to report.
    }
    parentPort?.close();
  }
});
