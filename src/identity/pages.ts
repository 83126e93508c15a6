// The sign-in pages: plain HTML forms (no JavaScript needed, so scripts and tests can drive
// them), no external resources, and headers that keep them out of frames and caches.
import type { ServerResponse } from 'node:http';

export function page(res: ServerResponse, status: number, title: string, body: string, headers: Record<string, string> = {}): void {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tollgate: ${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
input{font:inherit;letter-spacing:.1em;text-transform:uppercase;padding:.3rem}button{font:inherit;padding:.3rem .8rem;margin-left:.5rem}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(html);
}
