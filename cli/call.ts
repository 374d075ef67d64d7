/**
 * `headroom call OP [JSON] [--nats URL] [--timeout 5s]`: a NATS API client,
 * for scripts and people (there is no nats CLI package to lean on).
 *   headroom call status
 *   headroom call check '{"params":{"user":"u1"}}'
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { ErrorCode, InputError, StateError, parseDurationMs } from '../lib/index.ts';
import { API_PREFIX } from '../services/index.ts';

export const CALL_USAGE = `usage: headroom call OP [JSON] [--nats URL] [--timeout 5s]
  OP is an API operation: check, check.batch, rules.put, rules.get, rules.list, rules.delete, status`;

export async function callCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { nats: { type: 'string' }, timeout: { type: 'string' } },
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
  const nc = await connect({ servers: url.split(',') });
  try {
    let msg;
    try {
      msg = await nc.request(`${API_PREFIX}.${op}`, body, { timeout });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') {
        throw new StateError(
          ErrorCode.Unavailable,
          `no Headroom node answers ${API_PREFIX}.${op} on ${url}`,
          { cause: err },
        );
      }
      if (code === 'TIMEOUT') {
        throw new StateError(
          ErrorCode.Timeout,
          `no reply to ${API_PREFIX}.${op} from ${url} in ${timeout} ms`,
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
