/**
 * `headroom call OP [JSON] [--nats URL] [--timeout 5s]`: a NATS API client,
 * for scripts and people (there is no nats CLI package to lean on). It
 * authenticates as a node does (services/nats/nats-connect.ts), with the same
 * `--nats-*` flags and HEADROOM_NATS_* variables. OP is any of the API's
 * operations (services' `Operation` list, so a new one is callable at once).
 *   headroom call status
 *   headroom call check '{"params":{"user":"u1"}}'
 */
import { ErrorCode, InputError, StateError, parseDurationMs, show } from '../lib/index.ts';
import type { ErrorBody } from '../lib/index.ts';
import {
  API_PREFIX,
  NATS_AUTH_FLAGS,
  Operation,
  compileNatsConnect,
  connectNats,
  natsAuthFromEnv,
} from '../services/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, errorLine, parseOptions, stringOption } from './args.ts';
import type { OptionSpec } from './args.ts';

/** Every option of `headroom call` (parseArgs specs; `--help` is added by parseOptions). */
export const CALL_OPTIONS = {
  nats: { type: 'string' },
  timeout: { type: 'string' },
  ...(Object.fromEntries(Object.values(NATS_AUTH_FLAGS).map((f) => [f, { type: 'string' }])) as Record<
    (typeof NATS_AUTH_FLAGS)[keyof typeof NATS_AUTH_FLAGS],
    { type: 'string' }
  >),
} satisfies OptionSpec;

/** What `headroom call --help` prints. */
export const CALL_USAGE = `usage: headroom call OP [JSON] [--nats URL] [--timeout 5s]
       [--nats-user U --nats-password P] [--nats-token T] [--nats-nkey-seed FILE] [--nats-creds FILE]
       [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]
  Sends JSON (default {}) to ${API_PREFIX}.OP and prints the reply on stdout.
  OP is an API operation: ${Operation.join(', ')}
  On a secured cluster (ops/nats/secure.conf) the client user may not change rules or
  events (rules.put, rules.delete, rules.history, events.publish): use the admin user.
  Each option also reads HEADROOM_<NAME> (HEADROOM_NATS_URL, HEADROOM_NATS_USER, ...).
  An error prints one line on stderr: headroom: <code>: <message>
  ${EXIT_CODES_USAGE}`;

/**
 * Sends one request and prints the reply on stdout. Returns 0, or 1 for an
 * error reply (its code and message also on stderr); throws a coded error
 * for bad usage, no server or a refusal (main prints it; see CliExit).
 */
export async function callCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
): Promise<number> {
  const parsed = parseOptions(argv, CALL_OPTIONS, CALL_USAGE, 2);
  if (parsed.help) {
    io.stdout.write(`${CALL_USAGE}\n`);
    return CliExit.Ok;
  }
  const [op, body = '{}'] = parsed.positionals;
  if (op === undefined) throw new UsageError('call needs an operation (OP)', CALL_USAGE, { field: 'OP' });
  if (!(Operation as readonly string[]).includes(op)) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `OP must be one of ${Operation.join(', ')}, got ${show(op)}`,
      { field: 'OP', value: op },
    );
  }
  const values = parsed.values;
  const url = stringOption(values, 'nats') ?? process.env['HEADROOM_NATS_URL'] ?? 'nats://127.0.0.1:4222';
  const timeout = parseDurationMs('--timeout', stringOption(values, 'timeout') ?? 5000);
  const auth = natsAuthFromEnv(process.env, values);
  const nats = compileNatsConnect(url, auth);
  const subject = `${API_PREFIX}.${op}`;
  // The CLI keeps the default `_INBOX` prefix: that is what the `client` role may read.
  const nc = await connectNats(nats, { name: 'headroom-call', reconnect: false, timeout });
  try {
    let text: string;
    try {
      text = (await nc.request(subject, body, { timeout })).string();
    } catch (err) {
      throw requestError(err, { subject, url: nats.url, timeout, user: auth.natsUser });
    }
    io.stdout.write(`${pretty(text)}\n`);
    const error = replyError(text);
    if (error === undefined) return CliExit.Ok;
    io.stderr.write(`${errorLine(new StateError(error.code, error.message))}\n`);
    return CliExit.Failed;
  } finally {
    await nc.close();
  }
}

/** The reply pretty-printed; a reply that is not JSON as it came. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** The `{error}` of a reply, if it is one. */
function replyError(text: string): ErrorBody | undefined {
  try {
    const reply = JSON.parse(text) as { error?: ErrorBody };
    return typeof reply.error?.code === 'string' ? reply.error : undefined;
  } catch {
    return { code: ErrorCode.Internal, message: `the reply is not JSON: ${show(text)}`, retryable: false };
  }
}

/**
 * A failed request as a coded error: no responders (no node serves the
 * API) is Unavailable, no reply in time is Timeout, and the NATS server's
 * permission violation (this user may not publish the subject, or not
 * subscribe to its inbox) is Forbidden, naming the subject and the user.
 */
function requestError(
  err: unknown,
  at: { subject: string; url: string; timeout: number; user: string | null },
): Error {
  const e = err as { code?: string; permissionContext?: { operation: string; subject: string } };
  if (e.code === '503')
    return new StateError(ErrorCode.Unavailable, `no Headroom node answers ${at.subject} on ${at.url}`, {
      cause: err,
    });
  if (e.code === 'TIMEOUT')
    return new StateError(ErrorCode.Timeout, `no reply to ${at.subject} from ${at.url} in ${at.timeout} ms`, {
      cause: err,
    });
  if (e.code === 'PERMISSIONS_VIOLATION') {
    const ctx = e.permissionContext ?? { operation: 'publish', subject: at.subject };
    const who = at.user === null ? 'this connection' : `NATS user ${show(at.user)}`;
    return new InputError(
      ErrorCode.Forbidden,
      `the NATS server refused ${who}: permissions violation for ${ctx.operation} to ${show(ctx.subject)}; ` +
        `the user's role does not allow it (ops/nats/secure.conf: the client role may not change ` +
        `rules or events nor read rules.history; the admin role may call every operation)`,
      { field: 'OP', value: at.subject, cause: err },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}
