// Runs WAL checkpoints on its own connection in a worker thread, so the fsyncs a checkpoint
// makes never stall the gateway's event loop (better-sqlite3 is synchronous). The gateway's
// connection turns auto-checkpointing off and relies on this.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
let db: Database.Database;
try {
  db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch {
  // The store was closed (and perhaps removed) before this thread started: nothing to do.
  process.exit(0);
}
const timer = setInterval(() => {
  try {
    // PASSIVE never blocks the writer or readers; it copies what it can.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A busy database now is fine: the next tick tries again.
  }
}, intervalMs);
parentPort?.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Best effort: the next start checkpoints what is left.
    } finally {
      db.close();
      parentPort?.close();
    }
  }
});
