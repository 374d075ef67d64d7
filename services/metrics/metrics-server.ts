/**
 * The node's Prometheus endpoint: `GET /metrics` (and HEAD) on
 * `metricsHost:metricsPort`, Prometheus text format 0.0.4. Role: whoever
 * holds the HTTP API's read token (or its admin token); on loopback with no
 * `httpTokenFile` it is open, like the HTTP API. A host off loopback needs
 * `httpTokenFile`, checked before the port is opened. A wrong method gets
 * 405 (with `Allow`), any other path 404, a missing or wrong token 401;
 * errors are the API's coded error bodies.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, InputError, toHeadroomError } from '../../lib/index.ts';
import type { HeadroomError } from '../../lib/index.ts';
import { HttpAuth, isLoopbackHost } from '../api/index.ts';
import type { NodeMetrics } from './node-metrics.ts';

export interface MetricsServerOptions {
  metricsHost: string;
  metricsPort: number;
  httpTokenFile: string | null;
  httpAdminTokenFile: string | null;
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Refuses a host off loopback without `httpTokenFile`; the node calls it
 * before anything starts.
 * @throws InputError code InvalidOptions naming `options.httpTokenFile`.
 */
export function checkMetricsHost(opts: Pick<MetricsServerOptions, 'metricsHost' | 'httpTokenFile'>): void {
  if (!isLoopbackHost(opts.metricsHost) && opts.httpTokenFile === null) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      'options.httpTokenFile (--http-token-file) is required when options.metricsHost is not loopback ' +
        `(127.0.0.0/8, ::1, localhost), got metricsHost ${JSON.stringify(opts.metricsHost)}`,
      { field: 'options.httpTokenFile', value: opts.metricsHost },
    );
  }
}

/**
 * Reads the token files (off loopback `httpTokenFile` is required) and
 * listens.
 * @throws InputError code InvalidOptions naming the option missing or bad.
 */
export async function startMetricsServer(
  metrics: NodeMetrics,
  opts: MetricsServerOptions,
  log: { warn(message: string): void },
): Promise<MetricsServer> {
  checkMetricsHost(opts);
  // The host check is done above: HttpAuth only reads and compares the tokens here.
  const auth = await HttpAuth.load({
    httpHost: '127.0.0.1',
    httpTokenFile: opts.httpTokenFile,
    httpAdminTokenFile: opts.httpAdminTokenFile,
  });
  const server = createServer((req, res) => {
    serve(metrics, auth, req, res).catch((err: unknown) => {
      log.warn(`metrics scrape failed: ${(err as Error).message}`);
      answerError(res, toHeadroomError(err), 500);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.metricsPort, opts.metricsHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return { url: `http://${host}:${port}/metrics`, close: () => closeServer(server) };
}

async function serve(
  metrics: NodeMetrics,
  auth: HttpAuth,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // Nothing is read from a body: drain it so the connection can be reused.
  req.resume();
  const denied = auth.check(req.headers.authorization, false, 'GET /metrics');
  if (denied !== undefined) {
    answerError(res, denied, 401);
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    answerError(res, new InputError(ErrorCode.NotFound, `path must be /metrics, got ${show(path)}`), 404);
    return;
  }
  const method = req.method ?? '';
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    const err = new InputError(
      ErrorCode.InvalidField,
      `method must be GET or HEAD on /metrics, got ${show(method)}`,
      {
        field: 'method',
      },
    );
    answerError(res, err, 405);
    return;
  }
  const text = await metrics.metrics();
  res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(method === 'HEAD' ? undefined : text);
}

/** At most 64 characters of what the client sent, JSON-quoted. */
const show = (s: string | undefined): string => JSON.stringify((s ?? '').slice(0, 64));

function answerError(res: ServerResponse, err: HeadroomError, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: err.toBody() });
  const head: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (status === 401) head['www-authenticate'] = 'Bearer realm="headroom"';
  res.writeHead(status, head);
  res.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Scrapers keep connections alive; a stopping node does not wait for them.
    server.closeAllConnections();
  });
}
