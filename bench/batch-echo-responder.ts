// The batch peer for bench/check-nats.ts --batch: a bare NATS responder in a
// queue group that answers a `check.batch`-shaped request with a fixed reply
// of one check result per request in it, counted without parsing (two `{`
// per `{"params":{...}}`, one outer). It does no other work: the ceiling for
// batch answers of that size over NATS on the same client, server and cores.
import { connect } from 'nats';

const [url = 'nats://127.0.0.1:4222', subject = 'bench.batch-echo'] = process.argv.slice(2);
const one = {
  allow: true,
  rule: 'per-user',
  limit: 1000000,
  remaining: 999999,
  retryAfterMs: 0,
  tokens: ['per-user|user=u1'],
  shadowDenied: [],
};
const replies = new Map<number, string>();
const replyFor = (n: number): string => {
  let r = replies.get(n);
  if (r === undefined)
    replies.set(n, (r = JSON.stringify({ results: Array.from({ length: n }, () => one) })));
  return r;
};
const OPEN = 0x7b; // '{'
const nc = await connect({ servers: url, noAsyncTraces: true });
nc.subscribe(subject, {
  queue: 'batch-echo',
  callback: (_err, msg) => {
    let braces = 0;
    for (const b of msg.data) if (b === OPEN) braces++;
    msg.respond(replyFor(Math.max(0, (braces - 1) / 2)));
  },
});
await nc.flush();
console.log(JSON.stringify({ ready: true }));
process.once('SIGTERM', () => void nc.drain().then(() => process.exit(0)));
