/**
 * Bearer tokens of the HTTP API. The API binds loopback by default; any
 * other address needs both token files (`httpTokenFile`: every route,
 * `httpAdminTokenFile`: the routes that change state), checked before the
 * port is opened. Token files given on loopback are enforced too. Tokens are
 * read once, kept only as SHA-256 digests, compared in constant time, and
 * never appear in a message or a log line.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ErrorCode, InputError } from '../../lib/index.ts';

export interface HttpAuthOptions {
  httpHost: string;
  httpTokenFile: string | null;
  httpAdminTokenFile: string | null;
}

/** Which token a request showed. */
export type HttpRole = 'read' | 'admin';

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped loopback) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Reads one token file: one line, trailing newline trimmed, not empty, no spaces. */
async function readToken(field: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'an error';
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} names a file that cannot be read (${code}), got ${JSON.stringify(path)}`,
      {
        field,
        value: path,
        cause: err,
      },
    );
  }
  const token = text.replace(/\r?\n$/, '');
  if (token === '') {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} names an empty token file, got ${JSON.stringify(path)}`,
      {
        field,
        value: path,
      },
    );
  }
  // A bearer token is one header word (RFC 6750 b64token); the content itself is never echoed.
  if (/[\s\p{Cc}]/u.test(token)) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} must hold one token with no spaces or control characters, got a file that does not (${JSON.stringify(path)})`,
      { field, value: path },
    );
  }
  return token;
}

export class HttpAuth {
  readonly #read: Buffer | null;
  readonly #admin: Buffer | null;

  private constructor(read: Buffer | null, admin: Buffer | null) {
    this.#read = read;
    this.#admin = admin;
  }

  /** No tokens: every route open (loopback only). */
  static open(): HttpAuth {
    return new HttpAuth(null, null);
  }

  /**
   * Checks the bind address against the token options and reads the token
   * files; throws InvalidOptions naming the option that is missing or bad.
   * Runs before the port is opened.
   */
  static async load(opts: HttpAuthOptions): Promise<HttpAuth> {
    if (!isLoopbackHost(opts.httpHost)) {
      const missing = [
        ...(opts.httpTokenFile === null ? ['options.httpTokenFile (--http-token-file)'] : []),
        ...(opts.httpAdminTokenFile === null ? ['options.httpAdminTokenFile (--http-admin-token-file)'] : []),
      ];
      if (missing.length > 0) {
        throw new InputError(
          ErrorCode.InvalidOptions,
          `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required when options.httpHost is not loopback ` +
            `(127.0.0.0/8, ::1, localhost), got httpHost ${JSON.stringify(opts.httpHost)}`,
          {
            field: opts.httpTokenFile === null ? 'options.httpTokenFile' : 'options.httpAdminTokenFile',
            value: opts.httpHost,
          },
        );
      }
    }
    const read =
      opts.httpTokenFile === null ? null : await readToken('options.httpTokenFile', opts.httpTokenFile);
    const admin =
      opts.httpAdminTokenFile === null
        ? null
        : await readToken('options.httpAdminTokenFile', opts.httpAdminTokenFile);
    if (read !== null && read === admin) {
      // The same token in both would make every reader an admin.
      throw new InputError(
        ErrorCode.InvalidOptions,
        'options.httpAdminTokenFile must hold a different token from options.httpTokenFile, got the same token in both',
        { field: 'options.httpAdminTokenFile', value: opts.httpAdminTokenFile },
      );
    }
    return new HttpAuth(read === null ? null : digest(read), admin === null ? null : digest(admin));
  }

  /** Whether any token is configured. */
  get enabled(): boolean {
    return this.#read !== null || this.#admin !== null;
  }

  /**
   * The error for a request with this `Authorization` header on a route that
   * does (`mutates`) or does not change state; undefined when it may pass.
   * The admin token passes everywhere; the read token everywhere but routes
   * that change state while an admin token is configured.
   */
  check(authorization: string | undefined, mutates: boolean, what: string): InputError | undefined {
    const required = mutates ? this.#admin !== null || this.#read !== null : this.#read !== null;
    if (!required) return undefined;
    const role = this.#roleOf(authorization);
    if (role === undefined) {
      return new InputError(
        ErrorCode.Unauthorized,
        `authorization must be "Bearer <token>" with a valid token for ${what}` +
          (authorization === undefined ? ', got no Authorization header' : ', got a token that matches none'),
        { field: 'authorization' },
      );
    }
    if (mutates && this.#admin !== null && role !== 'admin') {
      return new InputError(
        ErrorCode.Forbidden,
        `authorization must carry the admin token for ${what} (it changes state), got the read token`,
        { field: 'authorization' },
      );
    }
    return undefined;
  }

  #roleOf(authorization: string | undefined): HttpRole | undefined {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (m === null) return undefined;
    const given = digest(m[1]!);
    // Both compared, always, so the time taken says nothing about which one matched.
    const isAdmin = this.#admin !== null && timingSafeEqual(given, this.#admin);
    const isRead = this.#read !== null && timingSafeEqual(given, this.#read);
    return isAdmin ? 'admin' : isRead ? 'read' : undefined;
  }
}
