import test from 'ava';
import {
  ErrorCode,
  HeadroomError,
  InputError,
  StateError,
  fromBody,
  invalidField,
  toHeadroomError,
} from '../../lib/index.ts';

test('errors - every code is HEADROOM_ERR_ plus its key in upper snake case, and unique', (t) => {
  const codes = Object.entries(ErrorCode);
  t.true(codes.length >= 15);
  for (const [key, code] of codes) {
    t.is<string, string>(
      code,
      `HEADROOM_ERR_${key.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : `_${c}`)).toUpperCase()}`,
    );
  }
  t.is(new Set(codes.map(([, c]) => c)).size, codes.length);
});

test('errors - input errors are not retryable, state errors are, and both round-trip through the wire body', (t) => {
  const input = invalidField('rule.rate', 'a positive number', -3);
  t.true(input instanceof InputError);
  t.is(input.message, 'rule.rate must be a positive number, got -3');
  t.deepEqual(input.toBody(), {
    code: ErrorCode.InvalidField,
    message: input.message,
    field: 'rule.rate',
    retryable: false,
  });
  const state = new StateError(ErrorCode.NoOwner, 'no live node');
  t.true(state.retryable);
  t.true(fromBody(state.toBody()) instanceof StateError);
  t.true(fromBody(input.toBody()) instanceof InputError);
  t.is(fromBody(input.toBody()).field, 'rule.rate');
});

test('errors - anything thrown becomes an internal HeadroomError keeping its cause', (t) => {
  const cause = new TypeError('x is undefined');
  const e = toHeadroomError(cause);
  t.true(e instanceof HeadroomError);
  t.is(e.code, ErrorCode.Internal);
  t.is(e.cause, cause);
  const already = invalidField('a', 'b', 1);
  t.is(toHeadroomError(already), already);
});

test('errors - the HTTP API token codes exist, and every code carries a doc comment', async (t) => {
  t.is<string, string>(ErrorCode.Unauthorized, 'HEADROOM_ERR_UNAUTHORIZED');
  t.is<string, string>(ErrorCode.Forbidden, 'HEADROOM_ERR_FORBIDDEN');
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(new URL('../../lib/errors.ts', import.meta.url), 'utf8');
  for (const key of Object.keys(ErrorCode)) {
    t.regex(source, new RegExp(`\\*/\\n  ${key}: 'HEADROOM_ERR_`), `${key} has a doc comment`);
  }
});
