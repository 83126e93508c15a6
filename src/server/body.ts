// Reading the request body under a size limit, and decoding a compressed one for inspection
// (the original bytes are what travel upstream).
import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { GatewayError } from './errors.js';

/** The client went away (or its connection broke) before its request body was complete: a
 * client abort (499 in the ledger), not a gateway failure. */
export class ClientAbortError extends Error {
  constructor() {
    super('client closed the connection while sending the request body');
  }
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new GatewayError('TG_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new GatewayError('TG_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    // Node reports a client gone mid-body as 'aborted', an 'error' (ECONNRESET) or a 'close'
    // before 'end', depending on timing; all three are the client's doing.
    const gone = () => {
      if (!failed) {
        failed = true;
        reject(new ClientAbortError());
      }
    };
    req.on('error', gone);
    req.on('aborted', gone);
    req.on('close', () => {
      if (!req.complete) gone();
    });
  });
}

/** Decodes a Content-Encoding'd request body so the gateway can read it. */
export function decodeRequestBody(raw: Buffer, encoding: string | undefined, limit: number): Buffer {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  const opts = { maxOutputLength: limit };
  try {
    switch (enc) {
      case '':
      case 'identity':
        return raw;
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(raw, opts);
      case 'deflate':
        return inflateSync(raw, opts);
      case 'br':
        return brotliDecompressSync(raw, opts);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new GatewayError('TG_BODY_TOO_LARGE', `decompressed request body exceeds the limit of ${limit} bytes`);
    }
    throw new GatewayError('TG_BAD_JSON', `request body is not valid ${enc} data`);
  }
  throw new GatewayError('TG_UNSUPPORTED_ENCODING', `Content-Encoding "${enc}" is not supported (use gzip, deflate, br or none)`);
}
