/**
 * How a node or the CLI reaches NATS: the URL(s) and the authentication
 * options (credentials in the URL, user and password, token, NKey seed, creds
 * file, TLS with a CA and a client certificate) compiled once, at the edge,
 * into a {@link NatsConnectSpec}. Every connection a node opens (Moleculer's
 * transporter, the API and owner-link connection, JetStream KV) is made from
 * the same spec, so all of them authenticate the same way.
 *
 * Secrets stay inside the spec: errors name the option and the file, never a
 * password, token, seed or key; {@link redactUrl} is what logs show; the
 * connection options it hands out carry authenticator functions rather than
 * plain secrets and serialise (JSON, e.g. Moleculer's `$node.options`) to a
 * redacted description.
 */
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from 'nats';
import type { Authenticator, ConnectionOptions, NatsConnection, TlsOptions } from 'nats';
import { ErrorCode, InputError, StateError, optionsError } from '../../lib/index.ts';
import type { OptionProblem } from '../../lib/index.ts';
import { label, problem, readOptionFile } from './nats-auth-options.ts';
import type { NatsAuthOptions } from './nats-auth-options.ts';
import { compileTls, withIpIdentity } from './nats-tls.ts';
import { parseNatsUrl, redactUrl } from './nats-url.ts';

export { NATS_AUTH_FLAGS, optNullableSecret } from './nats-auth-options.ts';
export type { NatsAuthOptions } from './nats-auth-options.ts';
export { redactUrl } from './nats-url.ts';

/**
 * Inbox prefix of a node's connections. The `client` role may subscribe to
 * `_INBOX.>` only, so it cannot read the replies nodes get (KV, JetStream, links).
 */
export const NODE_INBOX_PREFIX = '_HEADROOM_INBOX';

export const NatsAuthMethod = ['none', 'user', 'token', 'nkey', 'creds'] as const;
export type NatsAuthMethod = (typeof NatsAuthMethod)[number];

/** A compiled connection: servers, how it authenticates, the secrets (private). */
export class NatsConnectSpec {
  /** `host:port` of each server, credentials removed. */
  readonly servers: readonly string[];
  /** The URL(s) as logs may show them. */
  readonly url: string;
  readonly method: NatsAuthMethod;
  readonly tls: 'off' | 'on' | 'mutual';
  readonly #authenticator: Authenticator | undefined;
  readonly #tls: TlsOptions | undefined;

  constructor(init: {
    servers: string[];
    url: string;
    method: NatsAuthMethod;
    authenticator: Authenticator | undefined;
    tls: TlsOptions | undefined;
  }) {
    this.servers = Object.freeze([...init.servers]);
    this.url = init.url;
    this.method = init.method;
    this.#authenticator = init.authenticator;
    this.#tls = init.tls;
    this.tls = init.tls === undefined ? 'off' : init.tls.cert !== undefined ? 'mutual' : 'on';
    Object.freeze(this);
  }

  /**
   * Fresh nats.js options for one connection (nats.js and Moleculer mutate
   * what they are given). Nodes pass `inboxPrefix: NODE_INBOX_PREFIX`.
   */
  connectionOptions(
    extra: Omit<ConnectionOptions, 'servers' | 'authenticator' | 'tls'> = {},
  ): ConnectionOptions {
    const opts: ConnectionOptions = { ...extra, servers: [...this.servers] };
    if (this.#authenticator !== undefined) opts.authenticator = this.#authenticator;
    if (this.#tls !== undefined) opts.tls = { ...this.#tls };
    const shown = this.describe(extra.name, extra.inboxPrefix);
    // Not enumerable: nats.js copies keys, JSON.stringify (Moleculer's $node.options) calls it.
    Object.defineProperty(opts, 'toJSON', { value: () => shown, enumerable: false });
    return opts;
  }

  /** What may be shown of this connection. */
  describe(name?: string, inboxPrefix?: string): Record<string, unknown> {
    return {
      url: this.url,
      auth: this.method,
      tls: this.tls,
      ...(name === undefined ? {} : { name }),
      ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
    };
  }

  toJSON(): Record<string, unknown> {
    return this.describe();
  }

  toString(): string {
    return `${this.url} (auth ${this.method}, tls ${this.tls})`;
  }
}

/**
 * Compiles a NATS URL (comma-separated for several servers) and the
 * authentication options, reading the seed, creds and TLS files once. Throws
 * one InputError (code InvalidOptions) naming every bad option, never a secret.
 * @example compileNatsConnect('nats://hr:s3cret@127.0.0.1:4222', opts).connectionOptions({ name: 'x' })
 */
export function compileNatsConnect(url: string, auth: Readonly<NatsAuthOptions>): NatsConnectSpec {
  const problems: OptionProblem[] = [];
  const parsed = parseNatsUrl(url, problems);
  const fromUrl = parsed.creds.token !== undefined || parsed.creds.user !== undefined;
  const given: Array<keyof NatsAuthOptions> = (
    ['natsUser', 'natsPassword', 'natsToken', 'natsNkeySeedFile', 'natsCredsFile'] as const
  ).filter((k) => auth[k] !== null);
  if (fromUrl && given.length > 0) {
    problems.push({
      field: 'options.natsUrl',
      message: `${label('natsUrl')} carries credentials and ${given.map(label).join(', ')} is set too: give one`,
    });
  }
  const methods = new Set(given.map((k) => (k === 'natsUser' || k === 'natsPassword' ? 'user' : k)));
  if (methods.size > 1) {
    problem(
      problems,
      given[0]!,
      `cannot be combined with ${given.slice(1).map(label).join(', ')}: choose one way to authenticate`,
    );
  } else if ((auth.natsUser === null) !== (auth.natsPassword === null)) {
    problem(
      problems,
      auth.natsUser === null ? 'natsUser' : 'natsPassword',
      `is required with ${label(auth.natsUser === null ? 'natsPassword' : 'natsUser')}`,
    );
  }

  let method: NatsAuthMethod = 'none';
  let authenticator: Authenticator | undefined;
  const user = parsed.creds.user ?? auth.natsUser;
  const pass = parsed.creds.pass ?? auth.natsPassword;
  const token = parsed.creds.token ?? auth.natsToken;
  if (user !== null && pass !== null) {
    method = 'user';
    authenticator = usernamePasswordAuthenticator(user, pass);
  } else if (token !== null) {
    method = 'token';
    authenticator = tokenAuthenticator(token);
  } else if (auth.natsNkeySeedFile !== null) {
    method = 'nkey';
    const file = readOptionFile('natsNkeySeedFile', auth.natsNkeySeedFile, problems);
    if (file !== undefined) {
      const seed = new TextEncoder().encode(file.toString('utf8').trim());
      try {
        if (!nkeys.fromSeed(seed).getPublicKey().startsWith('U')) throw new Error('not a user key');
        authenticator = nkeyAuthenticator(seed);
      } catch {
        problem(
          problems,
          'natsNkeySeedFile',
          `must hold one user NKey seed (SU...), ${JSON.stringify(auth.natsNkeySeedFile)} does not`,
        );
      }
    }
  } else if (auth.natsCredsFile !== null) {
    method = 'creds';
    const file = readOptionFile('natsCredsFile', auth.natsCredsFile, problems);
    if (file !== undefined) {
      const creds = new Uint8Array(file);
      try {
        // Parses the JWT and signs a nonce: a malformed file fails here, not at connect.
        const probe = credsAuthenticator(creds)('probe') as { jwt?: string; sig?: string };
        if (!probe.jwt || !probe.sig) throw new Error('no jwt');
        authenticator = credsAuthenticator(creds);
      } catch {
        problem(
          problems,
          'natsCredsFile',
          `must be a NATS credentials file (user JWT and NKey seed), ${JSON.stringify(auth.natsCredsFile)} is not`,
        );
      }
    }
  }
  const tls = compileTls(auth, parsed.tls, problems);
  if (tls !== undefined) withIpIdentity(tls, parsed.servers);
  if (problems.length > 0) throw optionsError(problems);
  return new NatsConnectSpec({ servers: parsed.servers, url: redactUrl(url), method, authenticator, tls });
}

const AUTH_FAILED = new Set([
  'AUTHORIZATION_VIOLATION',
  'AUTHENTICATION_EXPIRED',
  'AUTHENTICATION_TIMEOUT',
  'BAD_AUTHENTICATION',
]);
const AUTH_FIELD: Record<NatsAuthMethod, keyof NatsAuthOptions | 'natsUrl'> = {
  none: 'natsUrl',
  user: 'natsUser',
  token: 'natsToken',
  nkey: 'natsNkeySeedFile',
  creds: 'natsCredsFile',
};

/**
 * Opens one connection from `spec`. A refusal of the credentials or of TLS is
 * an InputError (code InvalidOptions, not retryable) naming the option; a
 * server that cannot be reached is a StateError (Unavailable, retryable).
 */
export async function connectNats(
  spec: NatsConnectSpec,
  extra: Omit<ConnectionOptions, 'servers' | 'authenticator' | 'tls'> = {},
): Promise<NatsConnection> {
  try {
    if (spec.tls !== 'off' && extra.reconnect !== false) {
      // With reconnects on, nats.js retries a refusal that comes after the TLS handshake (a
      // rejected client certificate) until its connect timeout and then says only TIMEOUT; one
      // attempt without reconnects fails at once with the reason.
      const probe = await connect({ ...spec.connectionOptions(extra), reconnect: false });
      await probe.close();
    }
    return await connect(spec.connectionOptions(extra));
  } catch (err) {
    throw connectError(spec, err);
  }
}

/** Turns a failed connect into a coded error that says which option to look at. */
export function connectError(spec: NatsConnectSpec, err: unknown): Error {
  const code = String((err as { code?: unknown }).code ?? '');
  const message = (err instanceof Error ? err.message : String(err)).trim();
  if (AUTH_FAILED.has(code)) {
    const key = AUTH_FIELD[spec.method];
    const how = spec.method === 'none' ? 'no credentials were given' : `auth ${spec.method}`;
    return new InputError(
      ErrorCode.InvalidOptions,
      `NATS at ${spec.url} refused this connection (${how}; check ${label(key)}): ${message}`,
      {
        field: `options.${key}`,
        cause: err,
      },
    );
  }
  if (
    code === 'SERVER_OPTION_NA' ||
    /^ERR_TLS|CERT|SIGNATURE|SSL/i.test(code) ||
    /certificate|tls/i.test(message)
  ) {
    return new InputError(
      ErrorCode.InvalidOptions,
      `TLS with NATS at ${spec.url} failed (tls ${spec.tls}; check ${label('natsTlsCa')}, ${label('natsTlsCert')}): ${message}`,
      {
        field: 'options.natsTlsCa',
        cause: err,
      },
    );
  }
  if (spec.tls !== 'off' && /ECONNRESET|EPIPE|socket hang up/i.test(`${code} ${message}`)) {
    // With TLS 1.3 a server that wants a client certificate and got none
    // closes the connection after the handshake: the client sees a reset,
    // not an alert (which of the two arrives first depends on timing).
    return new InputError(
      ErrorCode.InvalidOptions,
      `TLS with NATS at ${spec.url} failed: the server closed the connection during or right after the handshake (tls ${spec.tls}; a server that requires a client certificate does this when none is given: check ${label('natsTlsCert')}, ${label('natsTlsKey')}): ${message}`,
      { field: 'options.natsTlsCert', cause: err },
    );
  }
  return new StateError(ErrorCode.Unavailable, `cannot reach NATS at ${spec.url}: ${message}`, {
    field: 'options.natsUrl',
    cause: err,
  });
}
