import test from 'ava';
import { InputError } from '../../lib/index.ts';
import { noProfiles, parseProfiles } from '../../collection/index.ts';

test('profile provider - JSON map and CSV with numeric cells', (t) => {
  t.deepEqual(parseProfiles('{"u1": {"tier": "gold", "accountAgeDays": 40}}').get('u1'), {
    tier: 'gold',
    accountAgeDays: 40,
  });
  const csv = parseProfiles('user,tier,accountAgeDays\nu1,gold,40\nu2,silver,\n');
  t.deepEqual(csv.get('u1'), { tier: 'gold', accountAgeDays: 40 });
  t.deepEqual(csv.get('u2'), { tier: 'silver' });
  t.is(noProfiles.get('u1'), undefined);
});

test('profile provider - bad files are named errors that never show a user id', (t) => {
  const e1 = t.throws(() => parseProfiles('{"secret-user": 5}'), { instanceOf: InputError });
  t.regex(e1.message, /profileFile entry 1 must be an object/);
  t.false(e1.message.includes('secret-user'));
  t.throws(() => parseProfiles('{"u": {"a": [1]}}'), {
    instanceOf: InputError,
    message: /attribute a must be/,
  });
  t.throws(() => parseProfiles('id,tier\nu1,gold'), {
    instanceOf: InputError,
    message: /header "user,<attribute>/,
  });
  t.throws(() => parseProfiles('user,tier\nu1,gold,extra'), {
    instanceOf: InputError,
    message: /line 2 has 3 cells/,
  });
  t.throws(() => parseProfiles('{oops'), { instanceOf: InputError, message: /not valid JSON/ });
});
