// A peer for bench/client.ts: what a user picks instead of Headroom, a NATS
// responder in a queue group that decides each check with
// rate-limiter-flexible on Redis (one GCRA-like counter per user, the same
// limit as the bench's Headroom rule) and answers a check-sized JSON reply.
//
//   node --import tsx bench/rlf-responder.ts <nats-url> <redis-port> [subject]
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

const [url = 'nats://127.0.0.1:4222', redisPort = '6379', subject = 'bench.rlf'] = process.argv.slice(2);
const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort), lazyConnect: false });
const limiter = new RateLimiterRedis({
  storeClient: redis,
  points: 1_000_000,
  duration: 1,
  keyPrefix: 'rlf',
});

const nc = await connect({ servers: url, noAsyncTraces: true });
nc.subscribe(subject, {
  queue: 'rlf',
  callback: (_err, msg) => {
    let req: { params: { user: string }; cost?: number };
    try {
      req = JSON.parse(msg.string()) as typeof req;
    } catch {
      msg.respond(
        JSON.stringify({
          error: { code: 'HEADROOM_ERR_INVALID_JSON', message: 'not JSON', retryable: false },
        }),
      );
      return;
    }
    const reply = (allow: boolean, r: RateLimiterRes): void => {
      msg.respond(
        JSON.stringify({
          allow,
          rule: 'per-user',
          limit: 1_000_000,
          remaining: r.remainingPoints,
          retryAfterMs: allow ? 0 : r.msBeforeNext,
          tokens: [`per-user|user=${req.params.user}`],
          shadowDenied: [],
        }),
      );
    };
    limiter.consume(req.params.user, req.cost ?? 1).then(
      (r) => reply(true, r),
      (r: unknown) => {
        if (r instanceof RateLimiterRes) reply(false, r);
        else
          msg.respond(
            JSON.stringify({ error: { code: 'HEADROOM_ERR_INTERNAL', message: String(r), retryable: true } }),
          );
      },
    );
  },
});
await nc.flush();
await redis.ping();
console.log(JSON.stringify({ ready: true }));
process.once(
  'SIGTERM',
  () =>
    void nc
      .drain()
      .then(() => redis.quit())
      .then(() => process.exit(0)),
);
