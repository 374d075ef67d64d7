// services/api/nats-api.ts: an error the API subscription reports is counted
// and logged (rate-limited by the Guard), never dropped unseen.
import test from 'ava';
import type { Msg, NatsConnection, NatsError, SubscriptionOptions } from 'nats';
import { SimulatedClock } from '../../lib/index.ts';
import { NatsApi } from '../../services/api/index.ts';
import type { Api } from '../../services/api/index.ts';
import { Guard, LOG_EVERY_MS, Refused } from '../../services/wire/index.ts';

/**
 * A connection that records each subscription's callback; closed, so no
 * topology notice is published (these tests are about the API's subscriptions).
 */
function stubConnection(): {
  nc: NatsConnection;
  callbacks: Map<string, SubscriptionOptions['callback']>;
} {
  const callbacks = new Map<string, SubscriptionOptions['callback']>();
  const nc = {
    subscribe: (subject: string, opts: SubscriptionOptions) => {
      callbacks.set(subject, opts.callback);
      return { drain: () => Promise.resolve() };
    },
    isClosed: () => true,
  } as unknown as NatsConnection;
  return { nc, callbacks };
}

test('nats api - subscription errors are counted and logged at most once per 10 s', (t) => {
  const { nc, callbacks } = stubConnection();
  const clock = new SimulatedClock(0);
  const lines: string[] = [];
  const guard = new Guard({ warn: (m) => lines.push(m) }, clock);
  new NatsApi(nc, { nodeId: 'n1' } as Api, guard).start();
  const callback = callbacks.get('headroom.v1.*');
  const fail = (): void => callback!(new Error('Permissions Violation') as NatsError, {} as Msg);
  fail();
  fail();
  t.is(guard.stats()[Refused.Subscription], 2);
  t.is(lines.length, 1);
  t.regex(lines[0]!, /subscriptionErrors.*headroom\.v1\.\*.*Permissions Violation/);
  clock.advance(LOG_EVERY_MS);
  fail();
  t.is(guard.stats()[Refused.Subscription], 3);
  t.is(lines.length, 2);
  t.regex(lines[1]!, /and 1 more since the last report/);
});

/** A NatsApi on a stub connection whose Api answers `{op, body}`; `deliver` hands it a request. */
function replying(): {
  api: NatsApi;
  sent: string[];
  deliver: (subject: string, body: string) => void;
} {
  const { nc, callbacks } = stubConnection();
  const handler = {
    nodeId: 'n1',
    handle: async (op: string, data: Uint8Array) => {
      const body = new TextDecoder().decode(data);
      // Replies of one turn become ready at different microtask depths (a check, a batch, a refund).
      for (let i = 0; i < 4 * body.length; i++) await null;
      return { op, body };
    },
  } as unknown as Api;
  const api = new NatsApi(nc, handler, new Guard({ warn: () => undefined }, new SimulatedClock(0)));
  api.start();
  const sent: string[] = [];
  const deliver = (subject: string, body: string): void => {
    const msg = {
      subject,
      reply: `_INBOX.test.${sent.length}`,
      data: new TextEncoder().encode(body),
      respond: (data: string) => sent.push(data),
    } as unknown as Msg;
    callbacks.get('headroom.v1.*.*')!(null, msg);
  };
  return { api, sent, deliver };
}

test('nats api - replies ready in one turn go out back to back (one socket write), each to its request', async (t) => {
  const { sent, deliver } = replying();
  let sentBeforeAnyMicrotask = -1;
  const sending = new Promise<void>((resolve) => {
    const push = sent.push.bind(sent);
    sent.push = (...data: string[]): number => {
      // nats.js writes what was published before its flush microtask runs: count those.
      if (sent.length === 0)
        queueMicrotask(() => {
          sentBeforeAnyMicrotask = sent.length;
          resolve();
        });
      return push(...data);
    };
  });
  deliver('headroom.v1.check.batch', 'a');
  deliver('headroom.v1.check.batch', 'bb');
  deliver('headroom.v1.check.batch', 'ccc');
  t.is(sent.length, 0);
  await sending;
  t.is(sentBeforeAnyMicrotask, 3);
  t.deepEqual(
    sent.map((s) => JSON.parse(s) as unknown),
    ['a', 'bb', 'ccc'].map((body) => ({ op: 'check.batch', body })),
  );
});

test('nats api - drain sends the replies still queued, once', async (t) => {
  const { api, sent, deliver } = replying();
  deliver('headroom.v1.check.batch', 'a');
  deliver('headroom.v1.check.batch', 'b');
  await api.drain();
  t.is(sent.length, 2);
  await new Promise((r) => setImmediate(r));
  t.is(sent.length, 2);
});
