// Client leases past a used-up slice and ahead of it (client/lease-grant.ts, lease-slice.ts)
// against a scripted owner: a slice short by the fair share of a token whose bucket has units
// waits for its renewal (the rule allows the check; denying it here was measured and not kept);
// a hot token's renewal goes out two round trips ahead by its rate over its last asks, not only
// by its uses since the last ask over 50 ms.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { ClientLeases } from '../../client/leases.ts';
import { grantBody, scripted, tick } from '../helpers/scripted-leases.ts';
import type { Sent } from '../helpers/scripted-leases.ts';
import type { CheckRequest } from '../../lib/index.ts';

const req = (user: string): CheckRequest => ({ params: { user }, cost: 1 });
/** Grants as the owner of a token three clients hold. */
const grant = (units: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  grantBody(units, { holders: 3, ...extra });

/**
 * A hot start: a first slice of 100 (answered `firstRttMs` after its ask) used at 2 checks a ms,
 * its renewal going out below a quarter or below two round trips of use; returns once that one
 * renewal is sent (`sent[1]`).
 */
async function hotStart(
  t: ExecutionContext,
  scriptedLeases: ReturnType<typeof scripted>,
  firstRttMs = 0,
): Promise<void> {
  const { leases, sent, clock } = scriptedLeases;
  const first = leases.decide(req('u1'), true);
  await tick();
  clock.ms += firstRttMs;
  sent[0]!.answer(grant(100));
  t.like(await first, { allow: true, remaining: 99 });
  for (let i = 1; i < 100; i++) {
    if (i % 2 === 0) clock.ms += 1;
    t.like(leases.decide(req('u1'), true), { allow: true });
  }
  await tick();
  t.is(sent.length, 2, 'one renewal');
}

/** Closes `leases`, answering what it sends from `sent[from]` on (asks: no units; returns: none back). */
async function closeAll(leases: ClientLeases, sent: Sent[], from: number): Promise<void> {
  let done = false;
  const closed = leases.close().then(() => (done = true));
  for (let i = from; !done; await tick())
    for (; i < sent.length; i++) {
      const s = sent[i]!;
      s.answer(s.subject.includes('return') ? { returned: 0 } : grant(0));
    }
  await closed;
}

test('lease past slice - a client that uses its short share faster than a round trip, on a token whose bucket never ran dry, waits for the renewal (the rule allows it)', async (t) => {
  const s = scripted();
  const { leases, sent, clock } = s;
  // A slow first round trip (the moving average about 25.8 ms): the renewal goes out after about 75
  // checks (in 137 ms since the first ask).
  await hotStart(t, s, 100);
  clock.ms += 20;
  // Short by the share (the bucket kept units): 10, fewer than the 25 used while it travelled.
  sent[1]!.answer(grant(10, { available: 500 }));
  await tick();
  const past = leases.decide(req('u1'), true);
  t.true(past instanceof Promise, 'waits: the token is under its rate, the owner may allow it');
  await tick();
  t.is(sent.length, 3, 'its renewal');
  sent[2]!.answer(grant(10, { available: 400 }));
  t.like(await past, { allow: true });
  t.like(leases.stats, { localDenied: 0 });
  await closeAll(leases, sent, 3);
});

test('lease past slice - a slice is renewed two round trips ahead by the rate over its last asks, not only its uses since the ask over 50 ms', async (t) => {
  const s = scripted();
  const { leases, sent } = s;
  // Its renewal goes out below a quarter, after 76 checks in 37 ms (1.52 a ms over at least 50 ms),
  // and is in flight while the last 24 are used; then 100 ms pass (its round trip 112 ms: the
  // moving average about 28.5 ms).
  await hotStart(t, s);
  t.like(sent[1]!.body, { previous: { unused: 24 } });
  s.clock.ms += 100;
  sent[1]!.answer(grant(200)); // 176 left after the 24 used while it travelled
  await tick();
  // Two round trips (about 28.5 ms) at 1.52 a ms: about 87 units. By the 24 + k uses since the ask
  // over its 112 ms, the renewal would wait until below about 67 (k 109).
  for (let k = 0; k < 106; k++) t.like(leases.decide(req('u1'), true), { allow: true });
  await tick();
  t.is(sent.length, 3, 'renewed with 70 units left');
  const unused = (sent[2]!.body['previous'] as { unused: number }).unused;
  t.true(unused > 70 && unused < 100, `renewed with ${unused} left`);
  await closeAll(leases, sent, 2);
});
