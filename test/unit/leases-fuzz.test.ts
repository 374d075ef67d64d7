// The relay actions of client leases, `throttle.lease` and `throttle.leaseReturn` (role node,
// services/check/throttle-service.ts), fuzzed at their validation (lease-schema.ts parseLeaseAsk
// and parseLeaseReturn(params, 'params'), what the actions run before anything else): any JSON
// value, and valid params with one field broken in turn, either parse to a well-formed ask or
// return, or are refused with a coded InputError naming a field under `params` and, for a broken
// field, naming that field. Valid params always parse, and to what was sent.
import test from 'ava';
import fc from 'fast-check';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { parseLeaseAsk, parseLeaseReturn } from '../../services/check/index.ts';

const SEED = 20261206;
const CODES: readonly string[] = [ErrorCode.InvalidField, ErrorCode.MissingField, ErrorCode.UnknownField];

/** What the actions run on their params: the ask, and the return as the relay sends it (no node). */
const ACTIONS = {
  'throttle.lease': (p: unknown) => parseLeaseAsk(p),
  'throttle.leaseReturn': (p: unknown) => parseLeaseReturn(p, 'params'),
} as const;

const report = fc.record({
  allowed: fc.integer({ min: 0, max: 1000 }),
  denied: fc.integer({ min: 0, max: 1000 }),
  cost: fc.integer({ min: 0, max: 2000 }),
  spanMs: fc.integer({ min: 0, max: 600_000 }),
});
const leaseId = fc.stringMatching(/^[A-Za-z0-9_-]{12}$/);
const rule = fc.record({
  id: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/),
  rate: fc.integer({ min: 1, max: 1_000_000 }),
  periodMs: fc.integer({ min: 1, max: 3_600_000 }),
  burst: fc.integer({ min: 1, max: 1_000_000 }),
  mode: fc.constantFrom('enforce', 'shadow'),
});
const validAsk = fc.record(
  {
    client: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
    token: fc.string({ minLength: 1, maxLength: 40 }),
    rule,
    want: fc.integer({ min: 1, max: 1_000_000 }),
    previous: fc.record({ lease: leaseId, unused: fc.integer({ min: 0, max: 1000 }) }),
    params: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z0-9]{1,8}$/), {
      maxKeys: 3,
    }),
    report,
  },
  { requiredKeys: ['client', 'token', 'rule', 'want'] },
);
const validReturn = fc.record(
  {
    lease: leaseId,
    token: fc.string({ minLength: 1, maxLength: 40 }),
    unused: fc.integer({ min: 0, max: 1_000_000 }),
    report,
  },
  { requiredKeys: ['lease', 'token', 'unused'] },
);

/** A value no field of these params accepts in its place (wrong type, out of range, malformed). */
const bad = fc.oneof(
  fc.constant(null),
  fc.constant(-1),
  fc.constant(1e300),
  fc.constant(Number.NaN),
  fc.constant(''),
  fc.constant('x'.repeat(20_000)),
  fc.constant([]),
  fc.constant(true),
  fc.constant({ nested: { deeper: 1 } }),
);

/** Valid params with one field (or one field of a nested object) set to `v`; the field's path. */
function breakOne(
  valid: Record<string, unknown>,
  v: unknown,
  pick: number,
): { params: Record<string, unknown>; field: string } {
  const paths: string[][] = [];
  for (const [k, val] of Object.entries(valid)) {
    paths.push([k]);
    if (val !== null && typeof val === 'object' && !Array.isArray(val) && k !== 'params')
      for (const kk of Object.keys(val)) paths.push([k, kk]);
  }
  const path = paths[pick % paths.length]!;
  const params = structuredClone(valid);
  if (path.length === 1) params[path[0]!] = v;
  else (params[path[0]!] as Record<string, unknown>)[path[1]!] = v;
  return { params, field: `params.${path.join('.')}` };
}

/** Whether `err` is the coded refusal the action sends back: an InputError naming a field under params. */
function coded(err: unknown): err is InputError {
  return (
    err instanceof InputError &&
    CODES.includes(err.code) &&
    typeof err.field === 'string' &&
    (err.field === 'params' || err.field.startsWith('params.')) &&
    err.message.startsWith(err.field)
  );
}

for (const [action, parse] of Object.entries(ACTIONS)) {
  test(`lease relay fuzz - ${action}: any JSON value parses or gets a coded error naming a params field`, (t) => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.object()), (raw) => {
        try {
          parse(raw);
          return true;
        } catch (err) {
          return coded(err);
        }
      }),
      { seed: SEED, numRuns: 3000 },
    );
    t.pass();
  });
}

test('lease relay fuzz - throttle.lease: valid asks parse to what was sent; one broken field is named', (t) => {
  fc.assert(
    fc.property(validAsk, (ask) => {
      const parsed = parseLeaseAsk(structuredClone(ask));
      return canonical(parsed) === canonical(ask);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  fc.assert(
    fc.property(validAsk, bad, fc.nat(), (ask, v, pick) => {
      const { params, field } = breakOne(ask, v, pick);
      // A broken `params` (the check's parameters) may be an empty object or a nested one: refused as params.
      try {
        parseLeaseAsk(params);
      } catch (err) {
        return coded(err) && (err.field === field || err.field!.startsWith(`${field}.`));
      }
      // Accepted only where the value happens to be valid there (a string for the token, say).
      return (
        (field === 'params.token' && typeof v === 'string' && v.length > 0 && v.length <= 16_384) ||
        (field === 'params.params' && isEmptyOrFlat(v))
      );
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass();
});

test('lease relay fuzz - throttle.leaseReturn: valid returns parse to what was sent; one broken field is named', (t) => {
  fc.assert(
    fc.property(validReturn, (ret) => {
      const { node, ...parsed } = parseLeaseReturn(structuredClone(ret), 'params');
      return node === '' && canonical(parsed) === canonical(ret);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  fc.assert(
    fc.property(validReturn, bad, fc.nat(), (ret, v, pick) => {
      const { params, field } = breakOne(ret, v, pick);
      try {
        parseLeaseReturn(params, 'params');
      } catch (err) {
        return coded(err) && (err.field === field || err.field!.startsWith(`${field}.`));
      }
      return field === 'params.token' && typeof v === 'string' && v.length > 0 && v.length <= 16_384;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  // A return relayed with the public form's `node` is refused: the owner takes it as itself.
  const err = t.throws(() =>
    parseLeaseReturn({ node: 'n1', lease: 'AAAAAAAAAAAA', token: 't', unused: 0 }, 'params'),
  );
  t.like(err, { code: ErrorCode.UnknownField, field: 'params.node' });
});

function isEmptyOrFlat(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** JSON with every object's keys sorted, at every depth. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}
