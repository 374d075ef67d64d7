// Batch peers for bench/client.ts's batch phase: NATS responders in a queue
// group that answer a `check.batch` request (`{"requests":[{"params":
// {"user":...},"cost":...}, ...]}`) with a `{"results":[...]}` reply of the
// same shape as Headroom's, each deciding every check for real:
//
// - `memory`: the least a server-side limiter does per check: parse the
//   batch, one GCRA take per user on a Map in the responder's memory
//   (lib/gcra.ts, the same limit as the bench's rule), build the reply. No
//   cluster, no collection, no forecasts: the bound of any limiter that
//   decides on a server over JSON batches on this machine.
// - `rlf`: what a user picks instead: rate-limiter-flexible on Redis, one
//   `consume` per check of the batch, all in flight at once (ioredis
//   pipelines them into one write).
//
//   node --import tsx bench/batch-limiter-responder.ts <memory|rlf> <nats-url> <subject> [redis-port]
import { Redis } from 'ioredis';
import { connect } from 'nats';
import type { Msg } from 'nats';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { gcraTake } from '../lib/gcra.ts';
import type { GcraLimit, GcraState } from '../lib/gcra.ts';

const [mode = 'memory', url = 'nats://127.0.0.1:4222', subject = 'bench.batch-limiter', redisPort = '6379'] =
  process.argv.slice(2);
if (mode !== 'memory' && mode !== 'rlf') throw new Error(`mode must be memory or rlf, got ${mode}`);

/** The bench rule's limit (bench/client.ts: 1,000,000 per second, burst as rate). */
const RATE = 1_000_000;
const LIMIT: GcraLimit = { rate: RATE, periodMs: 1000, burst: RATE };

interface Check {
  params: { user: string };
  cost?: number;
}

interface Result {
  allow: boolean;
  rule: string;
  limit: number;
  remaining: number;
  retryAfterMs: number;
  tokens: string[];
  shadowDenied: string[];
}

const result = (user: string, allow: boolean, remaining: number, retryAfterMs: number): Result => ({
  allow,
  rule: 'per-user',
  limit: RATE,
  remaining,
  retryAfterMs,
  tokens: [`per-user|user=${user}`],
  shadowDenied: [],
});

const fail = (msg: Msg, code: string, message: string): void => {
  msg.respond(JSON.stringify({ error: { code, message, retryable: false } }));
};

/** The batch's checks, or undefined (answered with an error) when it is not one. */
function parse(msg: Msg): Check[] | undefined {
  let body: { requests?: unknown };
  try {
    body = JSON.parse(msg.string()) as typeof body;
  } catch {
    fail(msg, 'HEADROOM_ERR_INVALID_JSON', 'not JSON');
    return undefined;
  }
  const list = body.requests;
  if (!Array.isArray(list) || !list.every((c: Check) => typeof c?.params?.user === 'string')) {
    fail(msg, 'HEADROOM_ERR_INVALID_FIELD', 'requests must be checks with params.user');
    return undefined;
  }
  return list as Check[];
}

const nc = await connect({ servers: url, noAsyncTraces: true });
/** What else closes on SIGTERM (the Redis connection in `rlf` mode). */
let onStop = async (): Promise<unknown> => undefined;
if (mode === 'memory') {
  const states = new Map<string, GcraState>();
  nc.subscribe(subject, {
    queue: 'batch-limiter',
    callback: (_err, msg) => {
      const list = parse(msg);
      if (list === undefined) return;
      const now = Date.now();
      const results = list.map((c) => {
        const key = `per-user|user=${c.params.user}`;
        let s = states.get(key);
        if (s === undefined) states.set(key, (s = { tat: 0 }));
        const d = gcraTake(s, LIMIT, now, c.cost ?? 1);
        return result(c.params.user, d.allow, d.remaining, d.retryAfterMs);
      });
      msg.respond(JSON.stringify({ results }));
    },
  });
} else {
  const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort), lazyConnect: false });
  await redis.ping();
  const limiter = new RateLimiterRedis({ storeClient: redis, points: RATE, duration: 1, keyPrefix: 'rlfb' });
  nc.subscribe(subject, {
    queue: 'batch-limiter',
    callback: (_err, msg) => {
      const list = parse(msg);
      if (list === undefined) return;
      Promise.all(
        list.map((c) =>
          limiter.consume(c.params.user, c.cost ?? 1).then(
            (r) => result(c.params.user, true, r.remainingPoints, 0),
            (r: unknown) => {
              if (r instanceof RateLimiterRes) return result(c.params.user, false, 0, r.msBeforeNext);
              throw r as Error;
            },
          ),
        ),
      ).then(
        (results) => msg.respond(JSON.stringify({ results })),
        (err: unknown) => fail(msg, 'HEADROOM_ERR_INTERNAL', String(err)),
      );
    },
  });
  onStop = () => redis.quit();
}
await nc.flush();
console.log(JSON.stringify({ ready: true }));
process.once(
  'SIGTERM',
  () =>
    void nc
      .drain()
      .then(onStop)
      .then(() => process.exit(0)),
);
