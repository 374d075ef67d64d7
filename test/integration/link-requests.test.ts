import anyTest from 'ava';
import type { TestFn } from 'ava';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { ErrorCode, StateError, SystemClock } from '../../lib/index.ts';
import { LinkRequests, SWEEP_MS } from '../../services/check/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';

const test = anyTest as TestFn<{ nats: NatsServer; nc: NatsConnection; owner: NatsConnection }>;

test.before(async (t) => {
  const nats = await startNatsServer();
  t.context = { nats, nc: await connect({ servers: nats.url }), owner: await connect({ servers: nats.url }) };
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.owner?.close();
  await t.context.nats?.stop();
});

/** A LinkRequests on the system clock that fails the test on a subscription error. */
const requests = (nc: NatsConnection): LinkRequests =>
  new LinkRequests(nc, new SystemClock(), (err, subject) => {
    throw new Error(`subscription error on ${subject}: ${err.message}`);
  });

/** Sends one request; resolves with the reply's text, or with the error it settled with. */
function ask(
  req: LinkRequests,
  subject: string,
  body: unknown,
  timeoutMs: number,
): Promise<string | StateError> {
  return new Promise((resolve) =>
    req.send('n2', subject, body, timeoutMs, {
      resolve: (data) => resolve(new TextDecoder().decode(data)),
      reject: resolve,
    }),
  );
}

test.serial(
  'link requests - replies are matched to their request, many in flight on one inbox',
  async (t) => {
    const { nc, owner } = t.context;
    // Answers in reverse order of arrival, so a reply matched by position would be wrong.
    const held: Array<{ respond: (d: string) => boolean; data: string }> = [];
    const sub = owner.subscribe('lr.echo', {
      callback: (_err, msg) => {
        held.push({ respond: (d) => msg.respond(d), data: new TextDecoder().decode(msg.data) });
        if (held.length === 20) for (const h of held.reverse()) h.respond(`re:${h.data}`);
      },
    });
    await owner.flush();
    const req = requests(nc);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(req, 'lr.echo', { i }, 5000)));
    t.deepEqual(
      replies,
      Array.from({ length: 20 }, (_, i) => `re:${JSON.stringify({ i })}`),
    );
    t.is(req.pending, 0);
    sub.unsubscribe();
    req.close();
  },
);

test.serial(
  'link requests - no responders and a silent owner are unreachable errors, coded apart',
  async (t) => {
    const { nc, owner } = t.context;
    const req = requests(nc);
    const gone = await ask(req, 'lr.nobody', {}, 5000);
    t.true(gone instanceof StateError);
    t.is((gone as StateError).code, ErrorCode.Unavailable);
    t.regex((gone as StateError).message, /token owner n2 did not answer: no responders/);

    const sub = owner.subscribe('lr.silent', { callback: () => undefined });
    await owner.flush();
    const started = performance.now();
    const late = await ask(req, 'lr.silent', {}, 100);
    const waited = performance.now() - started;
    t.is((late as StateError).code, ErrorCode.Timeout);
    t.true(waited >= 100 && waited < 100 + 4 * SWEEP_MS, `timed out after ${waited.toFixed(0)} ms`);
    t.is(req.pending, 0);
    sub.unsubscribe();
    req.close();
  },
);

test.serial('link requests - close rejects what is pending, once', async (t) => {
  const { nc, owner } = t.context;
  const sub = owner.subscribe('lr.hold', { callback: () => undefined });
  await owner.flush();
  const req = requests(nc);
  let settled = 0;
  const p = new Promise<StateError>((resolve) =>
    req.send('n2', 'lr.hold', {}, 60_000, {
      resolve: () => settled++,
      reject: (e) => {
        settled++;
        resolve(e);
      },
    }),
  );
  await nc.flush();
  t.is(req.pending, 1);
  req.close();
  const err = await p;
  t.is(err.code, ErrorCode.Unavailable);
  t.regex(err.message, /the link closed/);
  await new Promise((r) => setTimeout(r, 3 * SWEEP_MS));
  t.is(settled, 1);
  sub.unsubscribe();
});
