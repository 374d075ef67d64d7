// The peer for bench/check-nats.ts: a bare NATS responder in a queue group
// that answers every request with a fixed check-sized JSON reply and does no
// work. It is the ceiling for any service on the same client, server and cores.
import { connect } from 'nats';

const [url = 'nats://127.0.0.1:4222', subject = 'bench.echo'] = process.argv.slice(2);
const reply = JSON.stringify({
  allow: true,
  rule: 'per-user',
  limit: 1000000,
  remaining: 999999,
  retryAfterMs: 0,
  tokens: ['per-user|user=u1'],
  shadowDenied: [],
});
const nc = await connect({ servers: url });
nc.subscribe(subject, { queue: 'echo', callback: (_err, msg) => msg.respond(reply) });
await nc.flush();
console.log(JSON.stringify({ ready: true }));
process.once('SIGTERM', () => void nc.drain().then(() => process.exit(0)));
