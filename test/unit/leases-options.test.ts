// Client lease settings as node options (services/runtime/node-options.ts, cli/start.ts): the
// `--lease-ttl` and `--lease-max-slices` flags and their environment variables reach the options,
// and bad values get one InvalidOptions error naming each option and value.
import test from 'ava';
import { startOptions } from '../../cli/start.ts';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { compileNodeOptions, defaultNodeOptions } from '../../services/runtime/index.ts';
import { defaultLeaseOptions } from '../../services/check/index.ts';

test('lease options - defaults match the lease book; flags and environment set them', (t) => {
  const d = defaultNodeOptions();
  const book = defaultLeaseOptions();
  t.deepEqual([d.leaseTtlMs, d.leaseMaxSlices], [book.ttlMs, book.maxSlices]);
  const o = compileNodeOptions({}, { HEADROOM_LEASE_MAX_SLICES: '500' }, { leaseTtlMs: '750ms' });
  t.deepEqual([o.leaseTtlMs, o.leaseMaxSlices], [750, 500]);
  const flags = Object.keys(startOptions());
  t.true(flags.includes('lease-ttl') && flags.includes('lease-max-slices'));
});

test('lease options - bad values are refused in one error naming every option and value', (t) => {
  const e = t.throws(() => compileNodeOptions({}, {}, { leaseTtlMs: '-1s', leaseMaxSlices: '0' }), {
    instanceOf: InputError,
  });
  t.is(e?.code, ErrorCode.InvalidOptions);
  t.regex(e?.message ?? '', /options\.leaseTtlMs must be a duration like "1s".*got "-1s"/);
  t.regex(e?.message ?? '', /options\.leaseMaxSlices must be an integer from 1 to 10000000, got "0"/);
});
