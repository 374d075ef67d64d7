// services/api/nats-api.ts: an error the API subscription reports is counted
// and logged (rate-limited by the Guard), never dropped unseen.
import test from 'ava';
import type { Msg, NatsConnection, NatsError, SubscriptionOptions } from 'nats';
import { SimulatedClock } from '../../lib/index.ts';
import { NatsApi } from '../../services/api/index.ts';
import type { Api } from '../../services/api/index.ts';
import { Guard, LOG_EVERY_MS, Refused } from '../../services/wire/index.ts';

test('nats api - subscription errors are counted and logged at most once per 10 s', (t) => {
  const callbacks = new Map<string, SubscriptionOptions['callback']>();
  const nc = {
    subscribe: (subject: string, opts: SubscriptionOptions) => {
      callbacks.set(subject, opts.callback);
      return { drain: () => Promise.resolve() };
    },
    // Closed: the topology notice is not published (this test is about subscription errors).
    isClosed: () => true,
  } as unknown as NatsConnection;
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
