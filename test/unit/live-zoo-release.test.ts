import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import { SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { LiveZoo } from '../../models/index.ts';
import type { ServingForecast, ServingInput } from '../../models/index.ts';
import { ForecastHub } from '../../services/index.ts';

const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const key = (user: string): TokenKey => tokenKeyOf(rule, { user });

/** Token `u`'s history after `s` seconds: a ramp with a per-token slope, so every token learns differently. */
function input(token: string, slope: number, s: number): ServingInput {
  const values = Array.from({ length: s + 1 }, (_, i) => slope * i + (i % 3));
  return { token, values, startMs: T0, stepMs: 1000 };
}

/** Runs `rounds` rounds of 5 s for the tokens (name -> slope) from second `from`; the last round's forecasts. */
function rounds(
  zoo: LiveZoo,
  tokens: Record<string, number>,
  from: number,
  n: number,
): Map<string, ServingForecast> {
  let last: ServingForecast[] = [];
  for (let r = 0; r < n; r++) {
    const s = from + 5 * r;
    last = zoo.predict(
      Object.entries(tokens).map(([tok, slope]) => input(tok, slope, s)),
      undefined,
    );
  }
  return new Map(last.map((f) => [f.token, f]));
}

test('live zoo - a released slot is reused, fresh, and the other tokens keep their state', (t) => {
  const zoo = new LiveZoo({ horizons: [1, 5], stepMs: 1000 });
  const alone = new LiveZoo({ horizons: [1, 5], stepMs: 1000 });
  const newcomer = new LiveZoo({ horizons: [1, 5], stepMs: 1000 });
  rounds(zoo, { u1: 1, u2: 4, u3: 9 }, 0, 12);
  rounds(alone, { u1: 1, u3: 9 }, 0, 12);
  t.deepEqual([zoo.size, zoo.slotsTaken], [3, 3]);
  t.true(zoo.release('u2'));
  t.false(zoo.release('u2'), 'released once');
  t.false(zoo.release('never-seen'));
  t.deepEqual([zoo.size, zoo.slotsTaken], [2, 3]);
  // u4 arrives: it takes u2's slot, not a new one, and starts from a fresh state.
  const served = rounds(zoo, { u1: 1, u3: 9, u4: 2 }, 60, 6);
  t.deepEqual([zoo.size, zoo.slotsTaken], [3, 3], 'the freed slot was reused');
  t.deepEqual(served.get('u4'), rounds(newcomer, { u4: 2 }, 60, 6).get('u4'), 'nothing of u2 left in it');
  // u1 and u3 learnt exactly what they learn in a zoo that never held u2 or u4.
  const reference = rounds(alone, { u1: 1, u3: 9 }, 60, 6);
  t.deepEqual(served.get('u1'), reference.get('u1'));
  t.deepEqual(served.get('u3'), reference.get('u3'));
  t.true(served.get('u1')!.leaders!.length === 2);
});

test('live zoo - a token idle, evicted at the cap or handed away releases its state through the host hook', async (t) => {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), {
    clock,
    idleMs: 60_000,
    maxActors: 3,
  });
  const hub = new ForecastHub(
    {
      horizonsMs: [1000, 5000],
      stepMs: 1000,
      backend: 'cpu',
      registryDir: '/nonexistent',
      pretrained: false,
    },
    clock,
  );
  const released: string[] = [];
  // As services/forecasting/forecasting.ts wires it.
  host.onPassivate((token, reason) => {
    released.push(`${token}:${reason}`);
    hub.release(token);
  });
  const serve = async (users: string[]): Promise<void> => {
    for (const u of users) await host.ask(key(u), (a) => a.check(1));
    await host.idle(); // evictions done
    // Two rounds: a token takes its combiner state at its second (live-zoo.ts).
    for (const values of [
      [1, 2, 3],
      [1, 2, 3, 4],
    ])
      hub.zoo.predict(
        users.map((u) => ({ token: key(u), values, startMs: T0, stepMs: 1000 })),
        undefined,
      );
  };
  await serve(['a', 'b', 'c']);
  t.is(hub.zoo.size, 3);
  // Handed away to a new owner (leave or join).
  const moved = await host.release([key('a')]);
  t.is(moved.size, 1);
  t.is(hub.zoo.size, 2);
  t.false(hub.release(key('a')), 'its state is already gone');
  // d and e activate past the cap of 3: the least recently used (b) is evicted.
  await serve(['d', 'e']);
  t.is(host.size, 3);
  t.is(hub.zoo.size, 3, 'b evicted with its state; c, d and e hold theirs');
  // Idle passivation of everyone left.
  clock.advance(62_000);
  await host.idle();
  t.is(host.size, 0);
  t.is(hub.zoo.size, 0);
  t.is(hub.zoo.slotsTaken, 3, 'd and e took the slots a and b freed');
  t.deepEqual(released.map((r) => r.split(':')[1]).sort(), ['evicted', 'handoff', 'idle', 'idle', 'idle']);
});
