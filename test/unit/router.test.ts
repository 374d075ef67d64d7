import test from 'ava';
import type { TokenKey } from '../../lib/index.ts';
import { gather, groupsOf, routeItems, soleRemoteOwner } from '../../services/check/index.ts';
import type { PlacementView } from '../../services/check/index.ts';

const tok = (s: string): TokenKey => s as TokenKey;
const items = (...tokens: string[]): Array<{ token: TokenKey }> => tokens.map((t) => ({ token: tok(t) }));
/** A placement from a fixed table; tokens not in it have no owner (no live node). */
const view = (owners: Record<string, string>): PlacementView => ({ owner: (t) => owners[t] });

test("router - items group into this node's and each other owner's, owners in first-seen order", (t) => {
  const r = routeItems(
    items('a', 'b', 'c', 'd', 'e'),
    view({ a: 'n2', b: 'self', c: 'n3', d: 'n2', e: 'self' }),
    'self',
  );
  t.deepEqual(r.local, [1, 4]);
  t.deepEqual(
    [...r.remote],
    [
      ['n2', [0, 3]],
      ['n3', [2]],
    ],
  );
  t.deepEqual(r.unowned, []);
  t.deepEqual(groupsOf(r, 'self'), [
    ['self', [1, 4]],
    ['n2', [0, 3]],
    ['n3', [2]],
  ]);
});

test('router - a stale owner keeps the tokens it still holds and routes the rest on', (t) => {
  // This node's placement moved a and b to n2; it still holds a (its hand-off is not done).
  const held = new Set(['a']);
  const r = routeItems(items('a', 'b', 'c'), view({ a: 'n2', b: 'n2', c: 'self' }), 'self', (k) =>
    held.has(k),
  );
  t.deepEqual(r.local, [0, 2]);
  t.deepEqual([...r.remote], [['n2', [1]]]);
  // Without tokens elsewhere, nothing goes anywhere: the owner runs the take itself.
  const mine = routeItems(items('a', 'c'), view({ a: 'n2', c: 'self' }), 'self', (k) => held.has(k));
  t.is(mine.remote.size, 0);
  t.deepEqual(mine.local, [0, 1]);
});

test('router - tokens no live node owns are set apart', (t) => {
  const r = routeItems(items('a', 'b', 'c'), view({ b: 'n2' }), 'self');
  t.deepEqual(r.unowned, [0, 2]);
  t.deepEqual([...r.remote], [['n2', [1]]]);
  t.deepEqual(r.local, []);
  t.deepEqual(routeItems([], view({}), 'self'), { local: [], remote: new Map(), unowned: [] });
});

test('router - a check goes whole to one other owner only when it owns every item', (t) => {
  const owners = view({ a: 'n2', b: 'n2', c: 'n3', s: 'self' });
  t.is(soleRemoteOwner(routeItems(items('a', 'b'), owners, 'self')), 'n2');
  t.is(soleRemoteOwner(routeItems(items('a', 'c'), owners, 'self')), undefined);
  t.is(soleRemoteOwner(routeItems(items('a', 's'), owners, 'self')), undefined);
  t.is(soleRemoteOwner(routeItems(items('s'), owners, 'self')), undefined);
  t.is(soleRemoteOwner(routeItems(items('a', 'x'), owners, 'self')), undefined, 'an unowned token');
  t.is(soleRemoteOwner(routeItems([], owners, 'self')), undefined, 'a check that matched no rule');
});

test("router - gather runs each group once and answers in the items' order", async (t) => {
  const list = items('a', 'b', 'c', 'd');
  const r = routeItems(list, view({ a: 'n2', b: 'self', c: 'n2', d: 'n3' }), 'self');
  const calls: string[] = [];
  const out = await gather(list, groupsOf(r, 'self'), async (owner, part) => {
    calls.push(`${owner}:${part.map((p) => p.token).join('')}`);
    await new Promise((resolve) => setTimeout(resolve, owner === 'n2' ? 5 : 0));
    return part.map((p) => `${p.token}@${owner}`);
  });
  t.deepEqual(out, ['a@n2', 'b@self', 'c@n2', 'd@n3']);
  t.deepEqual(calls, ['self:b', 'n2:ac', 'n3:d']);
  // An empty local group is not run at all.
  const remoteOnly = routeItems(items('a'), view({ a: 'n2' }), 'self');
  const owners: string[] = [];
  await gather(items('a'), groupsOf(remoteOnly, 'self'), async (owner, part) => {
    owners.push(owner);
    return part;
  });
  t.deepEqual(owners, ['n2']);
});

test("router - gather rejects with a group's failure, even one thrown before its first await", async (t) => {
  const list = items('a', 'b');
  const r = routeItems(list, view({ a: 'n2', b: 'n3' }), 'self');
  const err = await t.throwsAsync(
    gather(list, groupsOf(r, 'self'), (owner, part) => {
      if (owner === 'n3') throw new Error('n3 is gone');
      return Promise.resolve(part);
    }),
  );
  t.is(err?.message, 'n3 is gone');
});
