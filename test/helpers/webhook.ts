// A local webhook receiver (Slack-compatible or generic JSON) that records what it got; it can
// fail the first deliveries to exercise retries.
import { createServer, type Server } from 'node:http';
import { closeServer, listenLoopback } from './loopback.js';

export class WebhookReceiver {
  readonly received: { path: string; body: Record<string, unknown> }[] = [];
  failNext = 0;
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(503);
          res.end();
          return;
        }
        this.received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        res.writeHead(200);
        res.end('ok');
      });
    });
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
