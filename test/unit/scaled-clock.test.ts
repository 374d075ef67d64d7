// ScaledClock: domain time N times as fast as the wall clock (`--time-scale`).
// Every bound here is measured against the real time elapsed around the
// reads, so a slow machine widens nothing but the wait.
import test from 'ava';
import { ScaledClock, SystemClock, domainClock, optNullableInstantMs, sleep } from '../../lib/index.ts';

const realNow = (): number => performance.timeOrigin + performance.now();
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('scaled clock - now() moves scale times the real time elapsed, from its origin', async (t) => {
  const before = realNow();
  const clock = new ScaledClock({ scale: 100, originMs: 1_000_000 });
  const start = clock.now();
  // Read after start: a pause of the thread between the two (CI: 17 ms of domain time) is inside.
  const after = realNow();
  t.true(start >= 1_000_000 && start <= 1_000_000 + Math.ceil((after - before) * 100), `start ${start}`);
  const r0 = realNow();
  await pause(40);
  const moved = clock.now() - start;
  const r1 = realNow();
  // Between (real time between the two reads) x 100 and (real time around them) x 100, whole ms.
  t.true(moved >= Math.floor((r1 - r0 - (after - before)) * 100) - 1, `moved ${moved} after ${r1 - r0} ms`);
  t.true(moved <= Math.ceil((r1 - before) * 100) + 1, `moved ${moved} within ${r1 - before} ms`);
  t.true(moved >= 40 * 100 - 100, `moved ${moved}`);
  t.true(Number.isInteger(clock.now()));
});

test('scaled clock - a timer of ms fires after ms/scale real ms, seeing at least ms of domain time', async (t) => {
  const clock = new ScaledClock({ scale: 1000 });
  const start = clock.now();
  const r0 = performance.now();
  const seen = await new Promise<number>((resolve) => clock.setTimeout(() => resolve(clock.now()), 30_000));
  const real = performance.now() - r0;
  // 30 s of domain time is 30 ms of real time (Node fires a timer at its delay or later).
  t.true(real >= 29, `fired after ${real} ms`);
  t.true(seen - start >= 29_000, `domain time seen ${seen - start}`);
  // sleep() on the clock waits its domain time too.
  const s0 = clock.now();
  await sleep(clock, 5000);
  t.true(clock.now() - s0 >= 4000);
});

test('scaled clock - a cleared timer never fires', async (t) => {
  const clock = new ScaledClock({ scale: 1000 });
  let fired = false;
  const h = clock.setTimeout(() => (fired = true), 1000);
  clock.clearTimeout(h);
  await pause(20);
  t.false(fired);
});

test('scaled clock - built from its spec (another thread), it reads the same time', (t) => {
  const clock = new ScaledClock({ scale: 720 });
  const copy = new ScaledClock({ ...clock.spec });
  const a = clock.now();
  const b = copy.now();
  const c = clock.now();
  t.true(b >= a && b <= c, `${a} <= ${b} <= ${c}`);
  t.deepEqual(copy.spec, clock.spec);
});

test('scaled clock - a scale that is not a positive number is refused', (t) => {
  for (const scale of [0, -2, Number.NaN, Number.POSITIVE_INFINITY])
    t.throws(() => new ScaledClock({ scale }), {
      instanceOf: RangeError,
      message: /scale must be a positive number/,
    });
});

test('scaled clock - domainClock is the plain system clock at 1, a scaled one otherwise', (t) => {
  t.true(domainClock(1) instanceof SystemClock);
  const fast = domainClock(60);
  t.true(fast instanceof ScaledClock);
  t.is((fast as ScaledClock).spec.scale, 60);
  // Starts at the real now.
  t.true(Math.abs(fast.now() - Date.now()) < 60 * 50);
});

test('scaled clock - nodes started apart with one origin read the same domain time', async (t) => {
  const origin = Date.now() - 5000;
  const first = domainClock(100, origin);
  await pause(40); // a node started later
  const second = domainClock(100, origin);
  const a = first.now();
  const b = second.now();
  const c = first.now();
  t.true(b >= a && b <= c, `${a} <= ${b} <= ${c}`);
  // origin + (now - origin) x 100: about 500 s of domain time past the origin already.
  t.true(a - origin >= 5000 * 100 && a - origin < 7000 * 100, `${a - origin} ms past the origin`);
  // Without an origin, each starts from its own now: they disagree by the gap x (scale - 1).
  const own = domainClock(100);
  t.true(first.now() - own.now() > 4000 * 99);
});

test('scaled clock - --time-origin takes ms or an ISO-8601 time with its offset, and names itself when bad', (t) => {
  t.is(optNullableInstantMs('2026-12-06T10:00:00Z', 'timeOriginMs'), Date.UTC(2026, 11, 6, 10));
  t.is(optNullableInstantMs('1765015200000', 'timeOriginMs'), 1765015200000);
  t.is(optNullableInstantMs(1765015200000, 'timeOriginMs'), 1765015200000);
  t.is(optNullableInstantMs('', 'timeOriginMs'), null);
  for (const bad of ['2026-12-06T10:00:00', 'yesterday', -1, 1.5, '2026-13-40T00:00:00Z']) {
    const err = t.throws(() => optNullableInstantMs(bad, 'timeOriginMs'));
    t.regex(err!.message, /^timeOriginMs must be ms since the epoch or an ISO-8601 time with its offset/);
  }
});
