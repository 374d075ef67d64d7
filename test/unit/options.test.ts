import test from 'ava';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { compileNodeOptions, defaultNodeOptions, envName } from '../../services/index.ts';

test('options - defaults, then config, then environment, then flags', (t) => {
  const o = compileNodeOptions(
    { dataDir: '/cfg', maxActors: 10 },
    { HEADROOM_DATA_DIR: '/env', HEADROOM_ACTOR_IDLE_MS: '30s' },
    { dataDir: '/flag' },
  );
  t.is(o.dataDir, '/flag');
  t.is(o.maxActors, 10);
  t.is(o.actorIdleMs, 30_000);
  t.is(o.httpPort, 7420, 'embedded serves HTTP by default');
  t.true(Object.isFrozen(o));
  t.is(defaultNodeOptions().natsUrl, null);
});

test('options - with a NATS URL the HTTP API is off unless asked for', (t) => {
  t.is(
    compileNodeOptions(undefined, { HEADROOM_NATS_URL: 'nats://127.0.0.1:4222' }, undefined).httpPort,
    null,
  );
  t.is(compileNodeOptions(undefined, {}, { natsUrl: 'nats://127.0.0.1:4222', httpPort: '0' }).httpPort, 0);
});

test('options - unknown keys and bad values are all reported in one error', (t) => {
  const err = t.throws(
    () => compileNodeOptions({ maxActor: 5 }, { HEADROOM_HTTP_PORT: '99999' }, { logLevel: 'loud' }),
    { instanceOf: InputError },
  );
  t.is(err.code, ErrorCode.InvalidOptions);
  t.is(err.field, 'options.maxActor');
  t.regex(err.message, /options\.maxActor is not a known option/);
  t.regex(err.message, /options\.httpPort must be an integer from 0 to 65535, got "99999"/);
  t.regex(err.message, /options\.logLevel must be one of .*got "loud"/);
});

test('options - environment names', (t) => {
  t.is(envName('natsUrl'), 'HEADROOM_NATS_URL');
  t.is(envName('maxPayloadBytes'), 'HEADROOM_MAX_PAYLOAD_BYTES');
});
