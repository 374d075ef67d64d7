import test from 'ava';
import { MAX_INFLIGHT, OwnerLanes } from '../../services/check/index.ts';
import type { TakeDecision, TakeItem, TakeMeta, TakeParams } from '../../services/wire/index.ts';
import type { TokenKey } from '../../lib/index.ts';

const item = (token: string): TakeItem => ({
  token: token as TokenKey,
  rule: { id: 'r', rate: 1, periodMs: 1000, burst: 1, mode: 'enforce' },
  cost: 1,
});
const decision = (token: string): TakeDecision =>
  ({ allow: true, ruleId: 'r', remaining: 0, retryAfterMs: 0, token }) as unknown as TakeDecision;

/** A send that records each call and answers when told to. */
function recorder() {
  const calls: Array<{
    owner: string;
    params: TakeParams;
    meta: TakeMeta;
    routedWith: object | undefined;
    settle: (err?: Error) => void;
  }> = [];
  const send = (
    owner: string,
    params: TakeParams,
    meta: TakeMeta,
    routedWith: object | undefined,
  ): Promise<TakeDecision[][]> =>
    new Promise((resolve, reject) => {
      calls.push({
        owner,
        params,
        meta,
        routedWith,
        settle: (err) =>
          err === undefined
            ? resolve(params.parts.map((p) => p.items.map((it) => decision(it.token))))
            : reject(err),
      });
    });
  return { calls, send };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('owner lanes - at most MAX_INFLIGHT calls per owner; what queues meanwhile goes in one message', async (t) => {
  const { calls, send } = recorder();
  const lanes = new OwnerLanes(send);
  const answers = Array.from({ length: 6 }, (_, i) =>
    lanes.enqueue('n2', [item(`t${i}`)], { i: String(i) }, undefined),
  );
  await turn();
  // The first turn sends everything queued so far in one message.
  t.is(calls.length, 1);
  t.is(calls[0]!.params.parts.length, 6);
  t.deepEqual(
    calls[0]!.meta.traces,
    [0, 1, 2, 3, 4, 5].map((i) => ({ i: String(i) })),
  );
  const more = Array.from({ length: 3 }, (_, i) => lanes.enqueue('n2', [item(`u${i}`)], {}, undefined));
  await turn();
  t.is(calls.length, MAX_INFLIGHT);
  const later = lanes.enqueue('n2', [item('v')], {}, undefined);
  await turn();
  t.is(calls.length, MAX_INFLIGHT, 'a third call waits while two are out');
  calls[0]!.settle();
  t.deepEqual(
    (await Promise.all(answers)).map((d) => (d[0] as unknown as { token: string }).token),
    ['t0', 't1', 't2', 't3', 't4', 't5'],
  );
  await turn();
  t.is(calls.length, 3, 'the waiting part goes out once a call returns');
  calls[1]!.settle();
  calls[2]!.settle();
  t.is((await Promise.all(more)).length, 3);
  t.is((await later).length, 1);
  await turn();
  t.is(lanes.size, 0, 'an idle lane is dropped');
});

test('owner lanes - a failed call rejects every check it carried; other owners are not held up', async (t) => {
  const { calls, send } = recorder();
  const lanes = new OwnerLanes(send);
  const a = lanes.enqueue('n2', [item('a')], {}, undefined);
  const b = lanes.enqueue('n2', [item('b')], {}, undefined);
  const c = lanes.enqueue('n3', [item('c')], {}, undefined);
  await turn();
  t.deepEqual(calls.map((x) => x.owner).sort(), ['n2', 'n3']);
  calls.find((x) => x.owner === 'n2')!.settle(new Error('gone'));
  await t.throwsAsync(a, { message: 'gone' });
  await t.throwsAsync(b, { message: 'gone' });
  calls.find((x) => x.owner === 'n3')!.settle();
  t.is((await c).length, 1);
  await turn();
  t.is(lanes.size, 0);
});

test('owner lanes - a batch names the placement its parts were routed with only when they all name the same', async (t) => {
  const { calls, send } = recorder();
  const lanes = new OwnerLanes(send);
  const p1 = { placement: 1 };
  const p2 = { placement: 2 };
  // One turn, one placement: the batch carries it.
  const one = [
    lanes.enqueue('n2', [item('a')], {}, undefined, p1),
    lanes.enqueue('n2', [item('b')], {}, undefined, p1),
  ];
  await turn();
  t.is(calls.length, 1);
  t.is(calls[0]!.routedWith, p1);
  // The next batch mixes placements (the view changed between two checks): it carries none.
  const two = [
    lanes.enqueue('n2', [item('c')], {}, undefined, p1),
    lanes.enqueue('n2', [item('d')], {}, undefined, p2),
  ];
  // And one part without a placement makes a batch carry none either.
  const three = [
    lanes.enqueue('n3', [item('e')], {}, undefined, p2),
    lanes.enqueue('n3', [item('f')], {}, undefined),
  ];
  await turn();
  t.is(calls.length, 3);
  t.is(calls.find((c) => c.owner === 'n2' && c !== calls[0])!.routedWith, undefined);
  t.is(calls.find((c) => c.owner === 'n3')!.routedWith, undefined);
  for (const c of calls) c.settle();
  t.is((await Promise.all([...one, ...two, ...three])).length, 6);
  // A fresh batch after a mixed one starts over from its first part.
  const four = lanes.enqueue('n2', [item('g')], {}, undefined, p2);
  await turn();
  t.is(calls.at(-1)!.routedWith, p2);
  calls.at(-1)!.settle();
  t.is((await four).length, 1);
});
