// One client process of test/integration/client-leases.test.ts and of bench/client.ts's lease
// round: a HeadroomClient that checks `--hot` users with leases (each check `{ lease: true }`,
// or with `--leases-option` the client's `leases` option, which leases tokens by their rate) and,
// with `--cold N`, a `--cold-share` of its checks over N other users, from `--concurrency` loops,
// from `--start-at` (epoch ms, so several processes start together) for `--warmup` seconds not
// counted (slices, meters and JIT warm, as a running client's are) and then `--seconds`. Prints one
// JSON line: the allowed checks per hot user in 10 ms buckets from the start (warm-up included),
// the checks answered after the warm-up, the longest wait for an answer, failures and the client's
// counters since the warm-up. Run with tsx:
//   node --import tsx test/helpers/lease-client.ts --servers URL --hot h0,h1 --start-at MS --seconds 8
import { parseArgs } from 'node:util';
import { HeadroomClient } from '../../client/index.ts';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    hot: { type: 'string' },
    /** The param the rule keys on. */
    key: { type: 'string', default: 'user' },
    cold: { type: 'string', default: '0' },
    'cold-share': { type: 'string', default: '0.1' },
    'leases-option': { type: 'boolean', default: false },
    'start-at': { type: 'string' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '8' },
    'owner-timeout-ms': { type: 'string', default: '500' },
    /** With `--leases-option`: the client's leaseMinRatePerSec (its default when not given). */
    'lease-min-rate': { type: 'string' },
  },
});
const hot = (values.hot ?? '').split(',').filter((u) => u !== '');
const key = values.key;
const cold = Number(values.cold);
const coldShare = cold > 0 ? Number(values['cold-share']) : 0;
const byOption = values['leases-option'];
const startAt = Number(values['start-at']);
/** Checks answered from then on are counted (the allowed ones for the bound from `startAt`). */
const countFrom = startAt + Number(values.warmup) * 1000;
const endAt = countFrom + Number(values.seconds) * 1000;
const concurrency = Number(values.concurrency);
/** Allowed checks are counted per this many ms. */
const BUCKET_MS = 10;
/** Checks per loop between turns of the event loop: a check decided from a slice resolves at once, and NATS needs its turn. */
const YIELD_EVERY = 32;

const hr = await HeadroomClient.connect({
  servers: values.servers ?? 'nats://127.0.0.1:4222',
  ownerTimeoutMs: Number(values['owner-timeout-ms']),
  timeoutMs: 10_000,
  leases: byOption,
  ...(values['lease-min-rate'] === undefined ? {} : { leaseMinRatePerSec: Number(values['lease-min-rate']) }),
});
process.stdout.write('{"ready":true}\n');
await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
const startedAt = Date.now();
/** The client's counters when counting began (the reported ones are those since). */
let atCountFrom = { ...hr.stats, ...hr.leaseStats };
const snapshot =
  countFrom > startedAt
    ? setTimeout(() => (atCountFrom = { ...hr.stats, ...hr.leaseStats }), countFrom - startedAt)
    : undefined;

const buckets = Math.ceil((endAt - startAt) / BUCKET_MS) + 1;
const allowed: Record<string, number[]> = Object.fromEntries(hot.map((u) => [u, new Array(buckets).fill(0)]));
const failures: string[] = [];
let answered = 0;
let denied = 0;
let longestMs = 0;
let n = 0;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const checkOptions = byOption ? undefined : { lease: true };

const coldUsers = Array.from({ length: cold }, (_, i) => `cold${i}`);

// One clock read per check (the loop's own cost is not the client's: it was a tenth of the
// process's profile with four), in whole ms: the buckets' and the longest wait's resolution.
await Promise.all(
  Array.from({ length: concurrency }, async (_, w) => {
    let at = Date.now();
    for (let i = 1; at < endAt; i++) {
      const isCold = coldShare > 0 && Math.random() < coldShare;
      const user = isCold ? coldUsers[Math.floor(Math.random() * cold)]! : hot[(n++ + w) % hot.length]!;
      const t0 = at;
      try {
        const r = await hr.check({ [key]: user }, 1, isCold ? undefined : checkOptions);
        at = Date.now();
        if (at >= countFrom) {
          answered++;
          if (!r.allow) denied++;
        }
        if (r.allow && !isCold)
          allowed[user]![Math.min(buckets - 1, Math.floor((at - startAt) / BUCKET_MS))]!++;
      } catch (err) {
        at = Date.now();
        if (failures.length < 20) failures.push((err as Error).message);
      }
      longestMs = Math.max(longestMs, at - t0);
      if (i % YIELD_EVERY === 0) {
        await tick();
        at = Date.now();
      }
    }
  }),
);
clearTimeout(snapshot);
const totals: Record<string, number> = { ...hr.stats, ...hr.leaseStats };
const stats = Object.fromEntries(
  Object.entries(totals).map(([k, v]) => [k, v - (atCountFrom as Record<string, number>)[k]!]),
);
/** When counting began: `countFrom`, or later if this process was ready late. */
const began = Math.max(countFrom, startedAt);
await hr.close();
process.stdout.write(
  `${JSON.stringify({ startAt, began, endAt, bucketMs: BUCKET_MS, allowed, answered, denied, longestMs, failures, stats })}\n`,
);
