// Reading record files for the importers: directories walked, gzip recognised by its magic
// bytes, lines streamed (bounded memory whatever the file size), progress on stderr.
import { createReadStream, existsSync, openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export function expandPaths(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (!existsSync(p)) throw new Error(`no such file or directory: ${p}`);
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else if (st.isFile()) out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

function isGzip(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

export interface Progress {
  bytes: number;
  total: number;
  started: number;
}

/** A readable of the file's decoded bytes, counting raw bytes read into `progress`. */
export function openRecords(file: string, progress: Progress): Readable {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  raw.on('data', (c: Buffer | string) => {
    progress.bytes += c.length;
  });
  return isGzip(file) ? raw.pipe(createGunzip()) : raw;
}

export function lines(stream: Readable): AsyncIterable<string> {
  return createInterface({ input: stream, crlfDelay: Infinity });
}

/** Prints progress to stderr at most once a second (and only on a terminal unless forced). */
export function progressReporter(p: Progress, label: string, enabled: boolean): () => void {
  let last = 0;
  return () => {
    if (!enabled) return;
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    const mb = p.bytes / 1048576;
    const rate = mb / Math.max(0.001, (now - p.started) / 1000);
    process.stderr.write(`\r${label}: ${mb.toFixed(0)} of ${(p.total / 1048576).toFixed(0)} MB (${rate.toFixed(0)} MB/s)   `);
  };
}
