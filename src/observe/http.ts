/**
 * The observability listener: GET /metrics (Prometheus text format) and
 * GET /healthz (200 "ok" when the SMTP listener is serving and a script
 * generation is live, 503 otherwise, e.g. while shutting down). Nothing else;
 * no request body is read.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.ts';
import type { HttpConfig } from '../config/http-config.ts';
import type { Registry } from 'prom-client';

export interface ObserveHttpOptions {
  readonly listen: HttpConfig;
  readonly registry: Registry;
  /** Why the server is not healthy, or undefined when it is. */
  readonly unhealthy: () => string | undefined;
  readonly logger: Logger;
}

export class ObserveHttp {
  private constructor(private readonly server: Server) {}

  static async start(opts: ObserveHttpOptions): Promise<ObserveHttp> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        opts.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
          (err: unknown) => {
            opts.logger.error({ err: (err as Error).message }, 'metrics could not be collected');
            res.writeHead(500).end();
          },
        );
        return;
      }
      if (path === '/healthz') {
        const why = opts.unhealthy();
        res.writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' }).end(why === undefined ? 'ok\n' : `${why}\n`);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.listen.host, port: opts.listen.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new ObserveHttp(server);
  }

  address(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return '';
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
