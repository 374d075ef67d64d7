import test from 'ava';
import { ErrorCode, InputError, StateError } from '../../lib/errors.ts';
import {
  IpRegionTable,
  KAnonymiser,
  Keyring,
  PrivacyPipeline,
  REDACTED,
  truncateIp,
  type PrivacyOptions,
} from '../../lib/privacy/index.ts';

const SECRET_A = 'a'.repeat(32);
const SECRET_B = 'b'.repeat(32);
const DAY = 86_400_000;

function pipeline(extra: Partial<PrivacyOptions> = {}): PrivacyPipeline {
  return new PrivacyPipeline({
    keys: [{ id: 'k1', secret: SECRET_A }],
    params: {
      user: 'hash',
      op: 'keep',
      ip: 'truncate',
      plan: { kind: 'generalise', values: ['free', 'pro'] },
      note: 'keep',
    },
    profile: {
      tier: 'keep',
      segment: { kind: 'generalise', values: ['smb', 'enterprise'] },
      ageDays: { kind: 'generalise', bands: [30, 365] },
      email: 'hash',
    },
    quasiIdentifiers: ['tier', 'segment', 'ageDays'],
    k: 1,
    ipRegions: [
      { prefix: '10.0.0.0/8', region: 'internal' },
      { prefix: '10.1.0.0/16', region: 'eu-west' },
      { prefix: '2001:db8::/32', region: 'us-east' },
    ],
    ...extra,
  });
}

test('privacy - raw user ids, e-mails and IPs never come out of the pipeline', (t) => {
  const p = pipeline();
  const raws: string[] = [];
  const outputs: string[] = [];
  for (let i = 0; i < 50; i++) {
    const user = `user-${i}`;
    const email = `person${i}@example.com`;
    const ip = i % 2 === 0 ? `10.1.${i}.${i + 1}` : `2001:db8:${i.toString(16)}::${i + 7}`;
    raws.push(user, email, ip);
    const out = p.anonymise(
      {
        tokenKey: `user=${user}|op=read`,
        params: {
          user,
          op: 'read',
          ip,
          plan: i % 3 === 0 ? 'enterprise-custom' : 'pro',
          email,
          note: `mail ${email}`,
          secret: user,
        },
        profile: { tier: 'gold', segment: 'smb', ageDays: i * 10, email, phone: '555-0100', name: user },
        ip,
      },
      1000 + i,
    );
    outputs.push(JSON.stringify(out));
  }
  const all = outputs.join('\n');
  for (const raw of raws) t.false(all.includes(raw), `raw value ${raw} leaked`);
  const first = JSON.parse(outputs[0]!) as {
    params: Record<string, string>;
    profile: Record<string, string>;
    region: string;
  };
  t.regex(first.params['user']!, /^k1\.[0-9a-f]{32}$/);
  t.is(first.params['op'], 'read');
  t.is(first.params['ip'], '10.1.0.0/24');
  t.is(first.params['plan'], 'other');
  t.is(first.params['note'], REDACTED, 'a kept value that holds an e-mail is redacted');
  t.false('email' in first.params, 'a field without a policy is dropped');
  t.false('secret' in first.params);
  t.false('phone' in first.profile);
  t.false('name' in first.profile);
  t.is(first.profile['ageDays'], '<30');
  t.is(first.region, 'eu-west');
  t.true(p.stats().redacted >= 50);
});

test('privacy - IP truncation to /24 and /48, IPv4-mapped IPv6 as IPv4', (t) => {
  t.is(truncateIp('192.168.17.42'), '192.168.17.0/24');
  t.is(truncateIp('2001:db8:abcd:1234:5678::1'), '2001:db8:abcd::/48');
  t.is(truncateIp('::ffff:192.168.17.42'), '192.168.17.0/24');
  t.is(truncateIp('fe80::1%eth0'), 'fe80::/48');
  t.is(truncateIp('not-an-ip'), undefined);
  t.is(truncateIp('300.1.1.1'), undefined);
});

test('privacy - IP-prefix table picks the longest prefix', (t) => {
  const table = new IpRegionTable([
    { prefix: '10.0.0.0/8', region: 'internal' },
    { prefix: '10.1.0.0/16', region: 'eu-west' },
    { prefix: '2001:db8::/32', region: 'us-east' },
  ]);
  t.is(table.lookup('10.1.2.3'), 'eu-west');
  t.is(table.lookup('10.2.2.3'), 'internal');
  t.is(table.lookup('2001:db8:1::5'), 'us-east');
  t.is(table.lookup('11.0.0.1'), undefined);
  t.throws(() => new IpRegionTable([{ prefix: '10.0.0.0/33', region: 'x' }]), {
    instanceOf: InputError,
    message: 'privacy.ipRegions[0].prefix must be a CIDR prefix, got "10.0.0.0/33"',
  });
});

test('privacy - key rotation links the old hash to the new one during the overlap', (t) => {
  const ring = new Keyring(
    [
      { id: 'k1', secret: SECRET_A },
      { id: 'k2', secret: SECRET_B, activeFromMs: 10 * DAY },
    ],
    2 * DAY,
  );
  const before = ring.pseudonym('alice', 9 * DAY);
  t.is(before.link, undefined);
  t.true(before.token.startsWith('k1.'));
  const during = ring.pseudonym('alice', 10 * DAY + 5);
  t.true(during.token.startsWith('k2.'));
  t.deepEqual(during.link, { fromToken: before.token, toToken: during.token, timeMs: 10 * DAY + 5 });
  t.is(ring.pseudonym('alice', 10 * DAY + 6).link, undefined, 'linked once');
  t.is(ring.pseudonym('alice', 10 * DAY + 6).token, during.token, 'stable under one key');
  // Hashes are remembered per key: a time before the rotation still hashes under k1.
  t.is(ring.hash('alice', 9 * DAY + 1), before.token);
  t.is(ring.hash('alice', 10 * DAY + 7), during.token);
  t.not(ring.hash('alicE', 10 * DAY + 7), during.token);
  t.is(ring.pseudonym('bob', 12 * DAY + 1).link, undefined, 'no link after the overlap: the old key is gone');
  t.throws(() => new Keyring([{ id: 'k1', secret: SECRET_A, activeFromMs: 5 }], 0).hash('x', 1), {
    instanceOf: StateError,
    message: /^no hash key is active at /,
  });
});

test('privacy - k-anonymity generalises combinations seen for fewer than k tokens', (t) => {
  const k = new KAnonymiser(['tier', 'segment', 'age'], 3, 60_000);
  const profile = (seg: string, age: string): Record<string, string> => ({
    tier: 'gold',
    segment: seg,
    age,
    lang: 'en',
  });
  // Three tokens share tier+segment but each has its own age band.
  t.deepEqual(k.apply('t1', profile('smb', 'a'), 0).profile, {
    tier: 'other',
    segment: 'other',
    age: 'other',
    lang: 'en',
  });
  k.apply('t2', profile('smb', 'b'), 1);
  const third = k.apply('t3', profile('smb', 'c'), 2);
  t.true(third.generalised);
  t.deepEqual(third.profile, { tier: 'gold', segment: 'smb', age: 'other', lang: 'en' });
  // A rare segment falls back to tier only.
  const rare = k.apply('t4', profile('ngo', 'c'), 3);
  t.deepEqual(rare.profile, { tier: 'gold', segment: 'other', age: 'other', lang: 'en' });
  // Three tokens with the full combination: kept as is.
  k.apply('t5', profile('smb', 'c'), 4);
  const kept = k.apply('t6', profile('smb', 'c'), 5);
  t.false(kept.generalised);
  t.deepEqual(kept.profile, profile('smb', 'c'));
  // Repeats of one token do not count as more tokens.
  const solo = new KAnonymiser(['tier'], 2, 60_000);
  solo.apply('x', { tier: 'gold' }, 0);
  t.true(solo.apply('x', { tier: 'gold' }, 1).generalised);
  // Outside the window, old tokens no longer count.
  solo.apply('y', { tier: 'gold' }, 2);
  t.false(solo.apply('y', { tier: 'gold' }, 3).generalised);
  t.true(solo.apply('y', { tier: 'gold' }, 70_000).generalised);
});

test('privacy - k-anonymity inside the pipeline (default k = 5)', (t) => {
  const p = pipeline({ k: undefined as unknown as number });
  const outs = [0, 1, 2, 3, 4].map((i) =>
    p.anonymise({ tokenKey: `u${i}`, profile: { tier: 'gold', segment: 'smb', ageDays: 400 } }, i),
  );
  t.is(outs[3]!.profile['tier'], 'other');
  t.deepEqual(outs[4]!.profile, { tier: 'gold', segment: 'smb', ageDays: '>=365' });
  t.is(p.stats().kGeneralised, 4);
});

test('privacy - bad options name every bad field in one error', (t) => {
  const err = t.throws(
    () =>
      new PrivacyPipeline({
        keys: [{ id: 'k 1', secret: 'short' }],
        params: { user: 'encrypt' as 'hash' },
        k: 0,
        colour: 'blue',
      } as unknown as PrivacyOptions),
    { instanceOf: InputError },
  );
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(err?.field, 'privacy.colour');
  for (const part of [
    'privacy.colour is not a known option',
    'privacy.k must be an integer >= 1, got 0',
    'privacy.keys[0].id must be 1-16 of [A-Za-z0-9_-], got "k 1"',
    'privacy.keys[0].secret must be a string of at least 16 bytes',
    'privacy.params.user must be one of drop, hash, truncate, generalise, keep, got "encrypt"',
  ]) {
    t.true(err?.message.includes(part), `missing: ${part} in ${err?.message}`);
  }
  t.false(err?.message.includes('short'), 'the secret never appears in a message');
});
