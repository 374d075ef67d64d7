/**
 * The same API over HTTP, on loopback unless told otherwise (then bearer
 * tokens are required: see http-auth.ts):
 *   POST /v1/check, POST /v1/check/batch                      read token
 *   GET /v1/rules, GET /v1/rules/:id, GET /v1/rules/:id/history read token
 *   GET /v1/status, GET /v1/events?from=&to=&topic= (list)     read token
 *   POST|PUT /v1/rules, DELETE /v1/rules/:id, POST /v1/events   admin token (they change state)
 * The admin token works on every route. Bodies and replies are the NATS
 * API's; errors also set the HTTP status. HEAD works wherever GET does
 * (same status and headers, no body); a method a path does not take gets
 * 405 with `Allow`. No request, however malformed, can throw out of the
 * handler: it is answered with a coded error.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, InputError, payloadTooLarge, show, toHeadroomError } from '../../lib/index.ts';
import type { ErrorBody } from '../../lib/index.ts';
import { extractContext } from '../runtime/index.ts';
import type { Api, Operation } from './handlers.ts';
import type { HttpAuth } from './http-auth.ts';

const STATUS_OF: Partial<Record<string, number>> = {
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.NoOwner]: 503,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Timeout]: 504,
  [ErrorCode.Internal]: 500,
};

interface Route {
  /** Undefined: no such route (answered 404 once the token passed). */
  op: Operation | undefined;
  /** Changes state: needs the admin token when one is configured. */
  mutates: boolean;
  /** The rule id as the path carries it, still percent-encoded. */
  rawId?: string;
}

const TABLE: Record<string, Operation> = {
  'POST /v1/check': 'check',
  'POST /v1/check/batch': 'check.batch',
  'POST /v1/rules': 'rules.put',
  'PUT /v1/rules': 'rules.put',
  'GET /v1/rules': 'rules.list',
  'GET /v1/status': 'status',
  'POST /v1/events': 'events.publish',
  'GET /v1/events': 'events.list',
};

/** Operations that change state: the admin token's. */
const MUTATES: ReadonlySet<Operation> = new Set<Operation>(['rules.put', 'rules.delete', 'events.publish']);

/** The methods `path` takes, HEAD wherever GET is; empty when no route has this path. */
function methodsOf(path: string): string[] {
  const rule = /^\/v1\/rules\/([^/]+)(\/history)?$/.exec(path);
  const methods =
    rule !== null
      ? rule[2] !== undefined
        ? ['GET']
        : ['GET', 'DELETE']
      : Object.keys(TABLE)
          .filter((k) => k.slice(k.indexOf(' ') + 1) === path)
          .map((k) => k.slice(0, k.indexOf(' ')));
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}

function route(method: string, path: string): Route {
  // HEAD is GET without the body (RFC 9110 section 9.3.2).
  if (method === 'HEAD') method = 'GET';
  const rule = /^\/v1\/rules\/([^/]+)(\/history)?$/.exec(path);
  if (rule !== null) {
    const op: Operation | undefined =
      rule[2] !== undefined
        ? method === 'GET'
          ? 'rules.history'
          : undefined
        : method === 'GET'
          ? 'rules.get'
          : method === 'DELETE'
            ? 'rules.delete'
            : undefined;
    return { op, mutates: op === undefined ? method !== 'GET' : MUTATES.has(op), rawId: rule[1]! };
  }
  const op = TABLE[`${method} ${path}`];
  return { op, mutates: op === undefined ? method !== 'GET' : MUTATES.has(op) };
}

/** Decodes the id segment of a rule path; malformed percent-encoding is the caller's error, not a crash. */
function decodeId(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    throw new InputError(
      ErrorCode.InvalidField,
      `id in the path must be percent-encoded UTF-8, got ${show(raw)}`,
      { field: 'id', value: raw, cause: err },
    );
  }
}

export interface HttpApiLog {
  error(...args: unknown[]): void;
}

export interface HttpApiOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  maxPayloadBytes: number;
  /** Bearer tokens; {@link HttpAuth.load} them (it checks the host) before calling. */
  auth: HttpAuth;
  /** Where a request that failed unexpectedly is reported (never with its headers). */
  log: HttpApiLog;
}

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

export async function startHttpApi(api: Api, options: HttpApiOptions): Promise<HttpApi> {
  const { host, port, maxPayloadBytes, auth, log } = options;
  const server: Server = createServer((req, res) => {
    serve(api, auth, req, res, maxPayloadBytes).catch((err: unknown) => {
      // A bug or a client gone mid-request: answer if still possible, never rethrow.
      log.error(`HTTP ${req.method} request failed:`, err);
      try {
        if (res.headersSent) res.destroy();
        else send(res, { error: toHeadroomError(err).toBody() });
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function serve(
  api: Api,
  auth: HttpAuth,
  req: IncomingMessage,
  res: ServerResponse,
  maxPayloadBytes: number,
): Promise<void> {
  const method = req.method ?? 'GET';
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch (err) {
    send(res, {
      error: new InputError(ErrorCode.InvalidField, `path must be a URL path, got ${show(req.url)}`, {
        field: 'path',
        cause: err,
      }).toBody(),
    });
    return;
  }
  const path = url.pathname;
  const r = route(method, path);
  // Before anything else: without a valid token, not even whether the route exists is told.
  const denied = auth.check(req.headers.authorization, r.mutates, `${method} ${path}`);
  if (denied !== undefined) {
    send(res, { error: denied.toBody() });
    return;
  }
  if (r.op === undefined) {
    const allow = methodsOf(path);
    if (allow.length > 0) {
      const err = new InputError(
        ErrorCode.InvalidField,
        `method must be one of ${allow.join(', ')} for ${show(path)}, got ${show(method)}`,
        { field: 'method', value: method },
      );
      send(res, { error: err.toBody() }, { status: 405, headers: { allow: allow.join(', ') } });
      return;
    }
    send(res, {
      error: new InputError(ErrorCode.NotFound, `no API route for ${method} ${show(path)}`, {
        field: 'path',
      }).toBody(),
    });
    return;
  }
  let body: string | Buffer;
  try {
    if (r.rawId !== undefined) {
      body = JSON.stringify({ id: decodeId(r.rawId) });
    } else if (r.op === 'events.list') {
      // The query string is the list request; an unknown parameter is reported like an unknown field.
      body = JSON.stringify(Object.fromEntries(url.searchParams));
    } else {
      body = await readBody(req, maxPayloadBytes);
    }
  } catch (err) {
    send(res, { error: toHeadroomError(err).toBody() });
    return;
  }
  const carrier: Record<string, string> = {};
  if (typeof req.headers.traceparent === 'string') carrier['traceparent'] = req.headers.traceparent;
  send(res, await api.handle(r.op, body, extractContext(carrier)), { bodyless: method === 'HEAD' });
}

/** Reads at most one byte past the limit: enough to know the body is too large. */
async function readBody(req: IncomingMessage, maxPayloadBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size <= maxPayloadBytes) chunks.push(chunk);
    size += chunk.length;
  }
  if (size > maxPayloadBytes) throw payloadTooLarge(size, maxPayloadBytes);
  return Buffer.concat(chunks);
}

interface SendOptions {
  /** Overrides the status the error code maps to (405). */
  status?: number;
  headers?: Record<string, string>;
  /** HEAD: the headers a GET would send, no body. */
  bodyless?: boolean;
}

function send(res: ServerResponse, reply: unknown, opts: SendOptions = {}): void {
  const err = (reply as { error?: ErrorBody }).error;
  const status = opts.status ?? (err === undefined ? 200 : (STATUS_OF[err.code] ?? 400));
  const text = JSON.stringify(reply);
  const head: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...opts.headers,
  };
  if (status === 401) head['www-authenticate'] = 'Bearer realm="headroom"';
  res.writeHead(status, head);
  res.end(opts.bodyless === true ? undefined : text);
}
