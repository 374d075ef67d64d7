// A check.batch's replies in columns (client/batch-columns.ts): the same
// reply objects as `results` give, bad shapes refused, and the client's lanes
// asking for them until a node says it does not know the field (a node older
// than the client), with every check answered either way.
import test from 'ava';
import type { Msg, NatsConnection } from 'nats';
import { CheckLanes } from '../../client/check-lanes.ts';
import { batchReplies } from '../../client/batch-columns.ts';
import { ErrorCode, InputError } from '../../lib/index.ts';
import type { CheckReply, CheckRequest } from '../../lib/index.ts';

const REPLIES: CheckReply[] = [
  {
    allow: true,
    rule: 'per-user',
    limit: 100,
    remaining: 98,
    retryAfterMs: 0,
    tokens: ['per-user|user=u1'],
    shadowDenied: [],
  },
  {
    allow: false,
    rule: 'per-op',
    limit: 5,
    remaining: 0,
    retryAfterMs: 120,
    tokens: ['per-user|user=u2', 'per-op|op=put'],
    shadowDenied: ['shadow-rule'],
  },
  { allow: true, rule: null, limit: null, remaining: null, retryAfterMs: 0, tokens: [], shadowDenied: [] },
];

/** The columns body a node sends for `replies`. */
function columnsOf(replies: CheckReply[]): Record<string, unknown[]> {
  const keys = Object.keys(replies[0]!) as Array<keyof CheckReply>;
  return Object.fromEntries(keys.map((k) => [k, replies.map((r) => r[k])]));
}

test('client batch columns - the same reply objects as results, keys in the same order', (t) => {
  const wire = JSON.parse(JSON.stringify({ columns: columnsOf(REPLIES) })) as unknown;
  const got = batchReplies(wire, REPLIES.length);
  t.deepEqual(got, REPLIES);
  t.is(JSON.stringify(got), JSON.stringify(REPLIES));
  t.deepEqual(batchReplies({ results: REPLIES }, REPLIES.length), REPLIES);
});

test('client batch columns - a missing column, a short one or another count is no batch reply', (t) => {
  const { tokens: _, ...noTokens } = columnsOf(REPLIES);
  t.is(batchReplies({ columns: noTokens }, 3), undefined);
  t.is(batchReplies({ columns: { ...columnsOf(REPLIES), limit: [1, 2] } }, 3), undefined);
  t.is(batchReplies({ columns: columnsOf(REPLIES) }, 2), undefined);
  t.is(batchReplies({ results: REPLIES }, 4), undefined);
  t.is(batchReplies({ columns: [] }, 0), undefined);
  t.is(batchReplies([REPLIES], 1), undefined);
});

/** A scripted NATS connection: every request recorded, answered by `answer` a turn later. */
function scriptedNc(answer: (payload: Record<string, unknown>) => unknown): {
  nc: NatsConnection;
  sent: Array<Record<string, unknown>>;
} {
  const sent: Array<Record<string, unknown>> = [];
  const nc = {
    request: (_subject: string, payload: string): Promise<Msg> => {
      const body = JSON.parse(payload) as Record<string, unknown>;
      sent.push(body);
      const reply = JSON.stringify(answer(body));
      return new Promise((r) => setImmediate(() => r({ string: () => reply } as Msg)));
    },
  } as unknown as NatsConnection;
  return { nc, sent };
}

/** A node's answer to a batch: one reply per request, in columns when asked. */
function node(knowsColumns: boolean) {
  return (body: Record<string, unknown>): unknown => {
    if (body['columns'] !== undefined && !knowsColumns) {
      const err = new InputError(ErrorCode.UnknownField, 'columns is not a known field (known: requests)', {
        field: 'columns',
      });
      return { error: err.toBody() };
    }
    const replies = (body['requests'] as CheckRequest[]).map((_, i) => REPLIES[i % REPLIES.length]!);
    return body['columns'] === true ? { columns: columnsOf(replies) } : { results: replies };
  };
}

/** `n` checks of `batches` batches queued in one turn; resolves every check's outcome. */
async function run(lanes: CheckLanes, batches: number, n: number): Promise<Array<CheckReply | Error>> {
  const out: Array<Promise<CheckReply | Error>> = [];
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < n; i++) {
      const req: CheckRequest = { params: { user: `u${b}-${i}` }, cost: 1 };
      out.push(
        new Promise<CheckReply>((resolve, reject) =>
          lanes.enqueueTo({ req, atMs: performance.now(), resolve, reject }, `n${b}`),
        ).catch((err: Error) => err),
      );
    }
  }
  return await Promise.all(out);
}

const lanesOn = (nc: NatsConnection): CheckLanes =>
  new CheckLanes({
    nc,
    timeoutMs: 5000,
    ownerTimeoutMs: 1000,
    destination: () => undefined,
    gone: () => undefined,
  });

test('client batch columns - batches ask for columns and get the replies in order', async (t) => {
  const { nc, sent } = scriptedNc(node(true));
  const lanes = lanesOn(nc);
  t.deepEqual(await run(lanes, 2, 3), [...REPLIES, ...REPLIES]);
  t.deepEqual(
    sent.map((b) => b['columns']),
    [true, true],
  );
  t.is(lanes.stats.answered, 6);
});

test('client batch columns - a node that does not know columns: every batch in flight goes again without, and later ones too', async (t) => {
  const { nc, sent } = scriptedNc(node(false));
  const lanes = lanesOn(nc);
  t.deepEqual(await run(lanes, 2, 3), [...REPLIES, ...REPLIES]);
  // Both batches asked before the first refusal came back; each went again without columns.
  t.deepEqual(
    sent.map((b) => b['columns']),
    [true, true, undefined, undefined],
  );
  t.deepEqual(await run(lanes, 1, 2), REPLIES.slice(0, 2));
  t.is(sent.at(-1)!['columns'], undefined);
  t.is(sent.length, 5);
  t.deepEqual(lanes.stats, { routed: 5, anyNode: 0, fallbacks: 0, answered: 8 });
});

test('client batch columns - another unknown field is the checks error, not sent again', async (t) => {
  const { nc, sent } = scriptedNc(() => ({
    error: new InputError(ErrorCode.UnknownField, 'requests[0].x is not a known field', {
      field: 'requests[0].x',
    }).toBody(),
  }));
  const got = await run(lanesOn(nc), 1, 2);
  t.is(sent.length, 1);
  for (const r of got) {
    t.true(r instanceof InputError);
    t.is((r as InputError).code, ErrorCode.UnknownField);
  }
});
