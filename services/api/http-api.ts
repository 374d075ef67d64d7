/**
 * The same API over HTTP, on Fastify, on loopback unless told otherwise
 * (then bearer tokens are required: see http-auth.ts):
 *   POST /v1/check, POST /v1/check/batch                      read token
 *   GET /v1/rules, GET /v1/rules/:id, GET /v1/rules/:id/history read token
 *   GET /v1/status, GET /v1/events?from=&to=&topic= (list)     read token
 *   GET /v1/dashboard/overview|token|pools (dashboard/)        read token
 *   POST|PUT /v1/rules, DELETE /v1/rules/:id, POST /v1/events   admin token (they change state)
 *   GET / and /dashboard/* (the page and its assets, no data)  no token
 * The admin token works on every route. Bodies and replies are the NATS
 * API's, validated by the same handlers (handlers.ts); errors also set the
 * HTTP status. HEAD works wherever GET does (same status and headers, no
 * body); a method a path does not take gets 405 with `Allow`. The token is
 * checked before routing, so without one not even whether a path exists is
 * told. No request, however malformed, can throw out of the server: every
 * failure, Fastify's own included, is answered with a coded error.
 */
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { ErrorCode, InputError, payloadTooLarge, show, toHeadroomError } from '../../lib/index.ts';
import type { ErrorBody } from '../../lib/index.ts';
import { extractContext } from '../runtime/index.ts';
import { DASHBOARD_ROUTES, Dashboard, PAGE_PATHS, registerPage } from './dashboard/index.ts';
import type { DashboardDeps } from './dashboard/index.ts';
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

/** Who may use a route: anyone (the page, no data), the read token, or the admin token. */
type Access = 'public' | 'read' | 'admin';

/** `METHOD path` of every API operation; `:id` is one percent-encoded path segment. */
const TABLE: ReadonlyArray<readonly [method: string, path: string, op: Operation]> = [
  ['POST', '/v1/check', 'check'],
  ['POST', '/v1/check/batch', 'check.batch'],
  ['POST', '/v1/rules', 'rules.put'],
  ['PUT', '/v1/rules', 'rules.put'],
  ['GET', '/v1/rules', 'rules.list'],
  ['GET', '/v1/rules/:id', 'rules.get'],
  ['DELETE', '/v1/rules/:id', 'rules.delete'],
  ['GET', '/v1/rules/:id/history', 'rules.history'],
  ['GET', '/v1/status', 'status'],
  ['POST', '/v1/events', 'events.publish'],
  ['GET', '/v1/events', 'events.list'],
];

/** Operations that change state: the admin token's. */
const MUTATES: ReadonlySet<Operation> = new Set<Operation>(['rules.put', 'rules.delete', 'events.publish']);

/** Every route as [method, path pattern, access]: the API's, the dashboard's data and its page. */
const ROUTES: ReadonlyArray<readonly [string, string, Access]> = [
  ...TABLE.map(([m, p, op]) => [m, p, MUTATES.has(op) ? 'admin' : 'read'] as const),
  ...DASHBOARD_ROUTES.map((p) => ['GET', p, 'read'] as const),
  ...PAGE_PATHS.map((p) => ['GET', p, 'public'] as const),
];

/** Whether a pattern (`/v1/rules/:id`) matches a raw path; `:id` is one non-empty segment. */
function matches(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.split('/');
  return a.length === b.length && a.every((seg, i) => (seg.startsWith(':') ? b[i] !== '' : seg === b[i]));
}

/** The methods `path` takes, HEAD wherever GET is; empty when no route has this path. */
function methodsOf(path: string): string[] {
  const methods = ROUTES.filter(([, p]) => matches(p, path)).map(([m]) => m);
  return methods.includes('GET') ? [...methods, 'HEAD'] : methods;
}

/** The access a request needs; for a route that does not exist, whether its method could change state. */
function accessOf(method: string, path: string): Access {
  // HEAD is GET without the body (RFC 9110 section 9.3.2).
  const m = method === 'HEAD' ? 'GET' : method;
  const route = ROUTES.find(([rm, p]) => rm === m && matches(p, path));
  return route?.[2] ?? (m === 'GET' ? 'read' : 'admin');
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
  /** What the dashboard's routes read (the cluster through the broker); absent: they answer Unavailable. */
  dashboard?: DashboardDeps;
}

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

interface SendOptions {
  /** Overrides the status the error code maps to (405). */
  status?: number;
  headers?: Record<string, string>;
}

function send(reply: FastifyReply, body: unknown, opts: SendOptions = {}): FastifyReply {
  const err = (body as { error?: ErrorBody } | null)?.error;
  const status = opts.status ?? (err === undefined ? 200 : (STATUS_OF[err.code] ?? 400));
  reply.code(status).header('content-type', 'application/json');
  for (const [k, v] of Object.entries(opts.headers ?? {})) reply.header(k, v);
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="headroom"');
  // Bytes, not a string: Fastify adds a charset to a string's content type. HEAD keeps the length.
  return reply.send(Buffer.from(JSON.stringify(body)));
}

/** The path of a raw request URL, undecoded; undefined when it is not a URL path at all. */
function pathOf(rawUrl: string): string | undefined {
  try {
    return new URL(rawUrl, 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

/** Reads the body stream itself (any content type): at most one byte past the limit is kept. */
async function readBody(stream: Readable, maxPayloadBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (size <= maxPayloadBytes) chunks.push(chunk);
    size += chunk.length;
  }
  if (size > maxPayloadBytes) throw payloadTooLarge(size, maxPayloadBytes);
  return Buffer.concat(chunks);
}

export async function startHttpApi(api: Api, options: HttpApiOptions): Promise<HttpApi> {
  const { host, port, maxPayloadBytes, auth, log } = options;
  const dashboard = options.dashboard === undefined ? undefined : new Dashboard(api, options.dashboard);

  /** Answers a request no route took (or Fastify could not route): 405 with Allow, a bad id, or 404. */
  const fallback = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = pathOf(req.url);
    if (path === undefined) {
      const err = new InputError(ErrorCode.InvalidField, `path must be a URL path, got ${show(req.url)}`, {
        field: 'path',
      });
      return send(reply, { error: err.toBody() });
    }
    const allow = methodsOf(path);
    if (allow.length > 0 && !allow.includes(req.method)) {
      const err = new InputError(
        ErrorCode.InvalidField,
        `method must be one of ${allow.join(', ')} for ${show(path)}, got ${show(req.method)}`,
        { field: 'method', value: req.method },
      );
      return send(reply, { error: err.toBody() }, { status: 405, headers: { allow: allow.join(', ') } });
    }
    const rule = /^\/v1\/rules\/([^/]+)(?:\/history)?$/.exec(path);
    if (rule !== null) {
      // Routed but not decodable by the router: the id is malformed.
      try {
        decodeId(rule[1]!);
      } catch (err) {
        return send(reply, { error: toHeadroomError(err).toBody() });
      }
    }
    const err = new InputError(ErrorCode.NotFound, `no API route for ${req.method} ${show(path)}`, {
      field: 'path',
    });
    return send(reply, { error: err.toBody() });
  };

  /** Before anything else: without a valid token, not even whether the route exists is told. */
  const denied = (req: FastifyRequest): InputError | undefined => {
    const path = pathOf(req.url) ?? req.url;
    const access = accessOf(req.method, path);
    if (access === 'public') return undefined;
    return auth.check(req.headers.authorization, access === 'admin', `${req.method} ${path}`);
  };

  const app: FastifyInstance = Fastify({
    logger: false,
    // While the node stops, requests on open connections are still answered (with coded errors
    // where the node can no longer serve them), not with Fastify's uncoded 503.
    return503OnClosing: false,
    // Long rule ids reach the handler, which names the limit they break.
    routerOptions: { maxParamLength: maxPayloadBytes },
    // The router's own failures (a path it cannot decode) get the same token check and coded reply.
    frameworkErrors: (error, req, reply) => {
      const refused = denied(req);
      if (refused !== undefined) return send(reply, { error: refused.toBody() });
      return fallback(req, reply);
    },
  });
  // Bodies of any content type are read as bytes and parsed by the operation, as NATS payloads are.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => {
    readBody(payload, maxPayloadBytes).then(
      (body) => done(null, body),
      (err: unknown) => done(err as Error),
    );
  });
  app.addHook('onRequest', async (req, reply) => {
    const refused = denied(req);
    if (refused !== undefined) return send(reply, { error: refused.toBody() });
  });
  app.setNotFoundHandler(fallback);
  app.setErrorHandler((err, req, reply) => {
    // A bug, or a client gone mid-request: answered with a coded error, never rethrown.
    // Fastify's own refusals of a malformed request (4xx) are the client's error, not a bug.
    const status = (err as { statusCode?: unknown }).statusCode;
    const e =
      typeof status === 'number' && status >= 400 && status < 500 && !(err instanceof InputError)
        ? new InputError(ErrorCode.InvalidField, `request is malformed: ${(err as Error).message}`, {
            field: 'request',
            cause: err,
          })
        : toHeadroomError(err);
    if (e.code === ErrorCode.Internal) log.error(`HTTP ${req.method} request failed:`, err);
    return send(reply, { error: e.toBody() });
  });

  for (const [method, path, op] of TABLE) {
    app.route({
      method,
      url: path,
      handler: async (req, reply) => {
        const params = req.params as { id?: string };
        let body: string | Buffer;
        if (params.id !== undefined) body = JSON.stringify({ id: params.id });
        else if (op === 'events.list') {
          // The query string is the list request; an unknown parameter is reported like an unknown field.
          body = JSON.stringify(Object.fromEntries(new URL(req.url, 'http://localhost').searchParams));
        } else body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
        const carrier: Record<string, string> = {};
        if (typeof req.headers.traceparent === 'string') carrier['traceparent'] = req.headers.traceparent;
        return send(reply, await api.handle(op, body, extractContext(carrier)));
      },
    });
  }
  for (const path of DASHBOARD_ROUTES) {
    app.get(path, async (req, reply) => {
      const query = new URL(req.url, 'http://localhost').searchParams;
      if (dashboard === undefined) {
        return send(reply, {
          error: new InputError(ErrorCode.Unavailable, 'this node serves no dashboard data', {
            field: 'path',
            retryable: true,
          }).toBody(),
        });
      }
      return send(reply, await dashboard.handle(path, query));
    });
  }
  registerPage(app);

  await app.listen({ port, host });
  dashboard?.start();
  const addr = app.server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    close: async () => {
      dashboard?.stop();
      await app.close();
    },
  };
}
