/**
 * `headroom call OP [JSON] [--nats URL] [--timeout 5s]`: a NATS API client,
 * for scripts and people (there is no nats CLI package to lean on). It
 * authenticates as a node does (services/nats/nats-connect.ts), with the same
 * `--nats-*` flags and HEADROOM_NATS_* variables.
 *   headroom call status
 *   headroom call check '{"params":{"user":"u1"}}'
 */
import { parseArgs } from 'node:util';
import { ErrorCode, InputError, StateError, parseDurationMs } from '../lib/index.ts';
import {
  API_PREFIX,
  NATS_AUTH_FLAGS,
  compileNatsConnect,
  connectNats,
  natsAuthFromEnv,
} from '../services/index.ts';

export const CALL_USAGE = `usage: headroom call OP [JSON] [--nats URL] [--timeout 5s]
       [--nats-user U --nats-password P] [--nats-token T] [--nats-nkey-seed FILE] [--nats-creds FILE]
       [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]
  OP is an API operation: check, check.batch, rules.put, rules.get, rules.list, rules.delete, status
  Each option also reads HEADROOM_<NAME> (HEADROOM_NATS_URL, HEADROOM_NATS_USER, ...).`;

export async function callCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        nats: { type: 'string' },
        timeout: { type: 'string' },
        ...Object.fromEntries(Object.values(NATS_AUTH_FLAGS).map((f) => [f, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new InputError(ErrorCode.InvalidOptions, `${(err as Error).message}\n${CALL_USAGE}`, {
      field: 'argv',
    });
  }
  const [op, body = '{}', ...extra] = parsed.positionals;
  if (op === undefined || extra.length > 0) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `call takes an operation and at most one JSON body\n${CALL_USAGE}`,
      {
        field: 'argv',
      },
    );
  }
  const url = parsed.values.nats ?? process.env['HEADROOM_NATS_URL'] ?? 'nats://127.0.0.1:4222';
  const timeout = parseDurationMs('--timeout', parsed.values.timeout ?? 5000);
  const nats = compileNatsConnect(url, natsAuthFromEnv(process.env, parsed.values));
  // The CLI keeps the default `_INBOX` prefix: that is what the `client` role may read.
  const nc = await connectNats(nats, { name: 'headroom-call', reconnect: false });
  try {
    let msg;
    try {
      msg = await nc.request(`${API_PREFIX}.${op}`, body, { timeout });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') {
        throw new StateError(
          ErrorCode.Unavailable,
          `no Headroom node answers ${API_PREFIX}.${op} on ${nats.url}`,
          { cause: err },
        );
      }
      if (code === 'TIMEOUT') {
        throw new StateError(
          ErrorCode.Timeout,
          `no reply to ${API_PREFIX}.${op} from ${nats.url} in ${timeout} ms`,
          { cause: err },
        );
      }
      throw err;
    }
    const reply = JSON.parse(msg.string()) as { error?: unknown };
    console.log(JSON.stringify(reply, null, 2));
    return reply.error === undefined ? 0 : 1;
  } finally {
    await nc.close();
  }
}
