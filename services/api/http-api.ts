/**
 * The same API over HTTP on loopback, for the embedded mode (no NATS):
 *   POST /v1/check, POST /v1/check/batch,
 *   POST /v1/rules (put), GET /v1/rules, GET /v1/rules/:id, DELETE /v1/rules/:id,
 *   GET /v1/status, POST /v1/events (publish), GET /v1/events?from=&to=&topic= (list).
 * Bodies and replies are the NATS API's; errors also set the HTTP status.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, payloadTooLarge } from '../../lib/index.ts';
import type { ErrorBody } from '../../lib/index.ts';
import { extractContext } from '../telemetry.ts';
import type { Api } from './handlers.ts';

const STATUS_OF: Partial<Record<string, number>> = {
  [ErrorCode.NotFound]: 404,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.NoOwner]: 503,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Timeout]: 504,
  [ErrorCode.Internal]: 500,
};

interface Route {
  op: string;
  /** Builds the operation's body from the URL when the body is not the request's own. */
  body?: (id: string) => string;
}

function route(method: string, path: string, query: URLSearchParams): Route | undefined {
  if (method === 'GET' && path === '/v1/events') {
    // The query string is the list request; an unknown parameter is reported like an unknown field.
    return { op: 'events.list', body: () => JSON.stringify(Object.fromEntries(query)) };
  }
  const rule = /^\/v1\/rules\/([^/]+)$/.exec(path);
  if (rule !== null) {
    const id = decodeURIComponent(rule[1]!);
    if (method === 'GET') return { op: 'rules.get', body: () => JSON.stringify({ id }) };
    if (method === 'DELETE') return { op: 'rules.delete', body: () => JSON.stringify({ id }) };
    return undefined;
  }
  const table: Record<string, string> = {
    'POST /v1/check': 'check',
    'POST /v1/check/batch': 'check.batch',
    'POST /v1/rules': 'rules.put',
    'PUT /v1/rules': 'rules.put',
    'GET /v1/rules': 'rules.list',
    'GET /v1/status': 'status',
    'POST /v1/events': 'events.publish',
  };
  const op = table[`${method} ${path}`];
  return op === undefined ? undefined : { op };
}

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

export async function startHttpApi(
  api: Api,
  host: string,
  port: number,
  maxPayloadBytes: number,
): Promise<HttpApi> {
  const server: Server = createServer((req, res) => void serve(api, req, res, maxPayloadBytes));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function serve(
  api: Api,
  req: IncomingMessage,
  res: ServerResponse,
  maxPayloadBytes: number,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const r = route(req.method ?? 'GET', path, url.searchParams);
  let reply: unknown;
  if (r === undefined) {
    reply = {
      error: {
        code: ErrorCode.NotFound,
        message: `no API route for ${req.method} ${path}`,
        field: 'path',
        retryable: false,
      },
    };
  } else {
    // Read at most one byte past the limit: enough to know the body is too large.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      if (size <= maxPayloadBytes) chunks.push(chunk);
      size += chunk.length;
    }
    if (size > maxPayloadBytes) {
      reply = { error: payloadTooLarge(size, maxPayloadBytes).toBody() };
    } else {
      const carrier: Record<string, string> = {};
      if (typeof req.headers.traceparent === 'string') carrier['traceparent'] = req.headers.traceparent;
      reply = await api.handle(r.op, r.body ? r.body('') : Buffer.concat(chunks), extractContext(carrier));
    }
  }
  const err = (reply as { error?: ErrorBody }).error;
  const status = err === undefined ? 200 : (STATUS_OF[err.code] ?? 400);
  const text = JSON.stringify(reply);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
