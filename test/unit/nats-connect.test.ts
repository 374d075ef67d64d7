import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { ServiceBroker } from 'moleculer';
import { createAccount, createUser } from 'nkeys.js';
import type { Auth, Authenticator } from 'nats';
import { ErrorCode, InputError, StateError } from '../../lib/index.ts';
import { defaultNatsAuthOptions } from '../../services/nats/index.ts';
import {
  NODE_INBOX_PREFIX,
  compileNatsConnect,
  compileNodeOptions,
  connectError,
  redactUrl,
} from '../../services/index.ts';
import type { NatsAuthOptions } from '../../services/index.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';
import type { TestCerts } from '../helpers/tls-certs.ts';

interface Ctx {
  dir: string;
  certs: TestCerts;
}
const test = anyTest as TestFn<Ctx>;

const PASSWORD = 's3cret-Pa55';
const TOKEN = 'T0ken-9f8e7d';

const none = (): NatsAuthOptions => defaultNatsAuthOptions();

/** What the connection would send in CONNECT. */
function authOf(spec: ReturnType<typeof compileNatsConnect>, nonce = 'nonce'): Auth {
  const a = spec.connectionOptions().authenticator as Authenticator | undefined;
  if (a === undefined) throw new Error('no authenticator');
  return a(nonce);
}

/** Compiles and returns the InputError, checking that no secret is in it. */
function rejects(
  t: ExecutionContext<Ctx>,
  url: string,
  auth: Partial<NatsAuthOptions>,
  secrets: string[] = [],
): InputError {
  const err = t.throws(() => compileNatsConnect(url, { ...none(), ...auth }), { instanceOf: InputError });
  t.is(err.code, ErrorCode.InvalidOptions);
  for (const s of [PASSWORD, TOKEN, ...secrets])
    t.false(err.message.includes(s), `${err.message} holds a secret`);
  return err;
}

test.before((t) => {
  t.context.dir = mkdtempSync(join(tmpdir(), 'headroom-nats-connect-'));
  t.context.certs = makeTestCerts(t.context.dir);
});

test.after.always((t) => {
  rmSync(t.context.dir, { recursive: true, force: true });
});

test('nats-connect - user and password in the URL are stripped from the servers and sent as user/pass', (t) => {
  const spec = compileNatsConnect(
    `nats://hr:${PASSWORD}@127.0.0.1:4222, nats://hr:${PASSWORD}@127.0.0.1:4223`,
    none(),
  );
  t.deepEqual(spec.servers, ['127.0.0.1:4222', '127.0.0.1:4223']);
  t.is(spec.method, 'user');
  t.is(spec.url, 'nats://***@127.0.0.1:4222,nats://***@127.0.0.1:4223');
  t.like(authOf(spec), { user: 'hr', pass: PASSWORD });
  t.deepEqual(spec.connectionOptions().servers, ['127.0.0.1:4222', '127.0.0.1:4223']);
});

test('nats-connect - a lone userinfo in the URL is a token; %-escapes are decoded', (t) => {
  t.like(authOf(compileNatsConnect(`nats://${TOKEN}@127.0.0.1:4222`, none())), { auth_token: TOKEN });
  const spec = compileNatsConnect('nats://hr:p%40ss%2Cw%3Ard@localhost:4222', none());
  t.like(authOf(spec), { user: 'hr', pass: 'p@ss,w:rd' });
  t.deepEqual(spec.servers, ['localhost:4222']);
  t.is(compileNatsConnect('127.0.0.1:4222', none()).method, 'none');
});

test('nats-connect - user/password and token options', (t) => {
  const user = compileNatsConnect('nats://127.0.0.1:4222', {
    ...none(),
    natsUser: 'hr',
    natsPassword: PASSWORD,
  });
  t.is(user.method, 'user');
  t.like(authOf(user), { user: 'hr', pass: PASSWORD });
  const token = compileNatsConnect('nats://127.0.0.1:4222', { ...none(), natsToken: TOKEN });
  t.is(token.method, 'token');
  t.like(authOf(token), { auth_token: TOKEN });
});

test('nats-connect - an NKey seed file signs the server nonce with the user key', (t) => {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const file = join(t.context.dir, 'user.nk');
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  const spec = compileNatsConnect('nats://127.0.0.1:4222', { ...none(), natsNkeySeedFile: file });
  t.is(spec.method, 'nkey');
  const auth = authOf(spec, 'n0nce') as { nkey: string; sig: string };
  t.is(auth.nkey, kp.getPublicKey());
  t.true(kp.verify(new TextEncoder().encode('n0nce'), Buffer.from(auth.sig, 'base64url')));
});

test('nats-connect - a creds file gives the JWT and a signature', (t) => {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln';
  const file = join(t.context.dir, 'user.creds');
  writeFileSync(
    file,
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
      `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
  );
  const spec = compileNatsConnect('nats://127.0.0.1:4222', { ...none(), natsCredsFile: file });
  t.is(spec.method, 'creds');
  t.like(authOf(spec), { jwt });
});

test('nats-connect - TLS: a CA alone, a client certificate, and the tls:// scheme', (t) => {
  const { certs } = t.context;
  const ca = compileNatsConnect('nats://127.0.0.1:4222', { ...none(), natsTlsCa: certs.ca });
  t.is(ca.tls, 'on');
  t.regex(ca.connectionOptions().tls?.ca ?? '', /BEGIN CERTIFICATE/);
  const mutual = compileNatsConnect('nats://127.0.0.1:4222', {
    ...none(),
    natsTlsCa: certs.ca,
    natsTlsCert: certs.clientCert,
    natsTlsKey: certs.clientKey,
  });
  t.is(mutual.tls, 'mutual');
  const tls = mutual.connectionOptions().tls;
  t.regex(tls?.cert ?? '', /BEGIN CERTIFICATE/);
  t.regex(tls?.key ?? '', /PRIVATE KEY/);
  const scheme = compileNatsConnect('tls://127.0.0.1:4222', none()).connectionOptions().tls;
  t.truthy(scheme);
  t.is(scheme?.ca, undefined);
  t.is(compileNatsConnect('nats://127.0.0.1:4222', none()).connectionOptions().tls, undefined);
});

test('nats-connect - a server given by IP is checked against the IP, not "localhost" (nats.js#303)', (t) => {
  const x509 = new X509Certificate(readFileSync(t.context.certs.serverCert));
  const cert = { subject: { CN: '127.0.0.1' }, subjectaltname: x509.subjectAltName } as PeerCertificate;
  const identity = (url: string): Error | undefined => {
    const tls = compileNatsConnect(url, { ...none(), natsTlsCa: t.context.certs.ca }).connectionOptions()
      .tls as {
      checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
    };
    return tls.checkServerIdentity('localhost', cert);
  };
  t.is(identity('tls://127.0.0.1:4222'), undefined);
  t.true(identity('tls://10.0.0.1:4222') instanceof Error);
});

test('nats-connect - options serialise without secrets; nodes use their own inbox prefix', (t) => {
  const { certs } = t.context;
  const spec = compileNatsConnect(`nats://hr:${PASSWORD}@127.0.0.1:4222`, {
    ...none(),
    natsTlsCa: certs.ca,
    natsTlsCert: certs.clientCert,
    natsTlsKey: certs.clientKey,
  });
  const opts = spec.connectionOptions({ name: 'n1', inboxPrefix: NODE_INBOX_PREFIX });
  t.is(opts.inboxPrefix, '_HEADROOM_INBOX');
  const json = JSON.stringify({ transporter: { options: opts }, spec });
  t.false(json.includes(PASSWORD));
  t.false(json.includes('PRIVATE KEY'));
  t.true(json.includes('nats://***@127.0.0.1:4222'));
  t.false(String(spec).includes(PASSWORD));
  // Moleculer keeps the options as given (authenticator, TLS) and reports them redacted ($node.options).
  const broker = new ServiceBroker({ logger: false, transporter: { type: 'NATS', options: opts } });
  const tx = (broker.transit as unknown as { tx: { opts: typeof opts } }).tx.opts;
  t.is(typeof tx.authenticator, 'function');
  t.regex(tx.tls?.key ?? '', /PRIVATE KEY/);
  t.false(JSON.stringify(broker.options).includes(PASSWORD));
  t.false(JSON.stringify(broker.options).includes('PRIVATE KEY'));
  // Each call gives a fresh object: nats.js and Moleculer mutate theirs.
  t.not(spec.connectionOptions().servers, spec.connectionOptions().servers);
});

test('nats-connect - redactUrl hides every credential, even a password with a bare comma', (t) => {
  t.is(
    redactUrl(`nats://hr:${PASSWORD}@h1:4222,tls://${TOKEN}@h2:4223`),
    'nats://***@h1:4222,tls://***@h2:4223',
  );
  t.is(redactUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  t.is(redactUrl('nats://hr:12,34@h:1'), '***,***@h:1');
  t.is(redactUrl('nats://hr:pa/ss@h:1'), 'nats://***@h:1');
  t.false(redactUrl(`nats://hr:${PASSWORD}`).includes(PASSWORD));
});

test('nats-connect - conflicting or incomplete options are rejected, naming the option', (t) => {
  const url = 'nats://127.0.0.1:4222';
  t.regex(
    rejects(t, url, { natsToken: TOKEN, natsUser: 'hr', natsPassword: PASSWORD }).message,
    /natsUser.*choose one/,
  );
  t.regex(rejects(t, url, { natsPassword: PASSWORD }).field ?? '', /natsUser/);
  t.regex(rejects(t, url, { natsUser: 'hr' }).field ?? '', /natsPassword/);
  t.regex(
    rejects(t, `nats://hr:${PASSWORD}@127.0.0.1:4222`, { natsToken: TOKEN }).message,
    /carries credentials/,
  );
  t.regex(
    rejects(t, url, { natsTlsCert: t.context.certs.clientCert }).message,
    /natsTlsKey.*required|natsTlsKey/,
  );
  t.is(rejects(t, url, { natsTlsKey: t.context.certs.clientKey }).field, 'options.natsTlsCert');
  const mismatch = rejects(t, url, {
    natsTlsCert: t.context.certs.clientCert,
    natsTlsKey: t.context.certs.otherKey,
  });
  t.is(mismatch.field, 'options.natsTlsKey');
  t.regex(mismatch.message, /not the private key/);
});

test('nats-connect - unreadable and malformed files name the option and the path, never the content', (t) => {
  const { dir, certs } = t.context;
  const url = 'nats://127.0.0.1:4222';
  const missing = join(dir, 'nope.pem');
  const e1 = rejects(t, url, { natsTlsCa: missing });
  t.is(e1.field, 'options.natsTlsCa');
  t.true(e1.message.includes(missing) && e1.message.includes('ENOENT'));

  const garbage = join(dir, 'garbage.nk');
  writeFileSync(garbage, `SUNOTASEED${TOKEN}`);
  t.is(rejects(t, url, { natsNkeySeedFile: garbage }, ['SUNOTASEED']).field, 'options.natsNkeySeedFile');

  // A valid seed of the wrong kind (an account, not a user).
  const account = join(dir, 'account.nk');
  const accountSeed = new TextDecoder().decode(createAccount().getSeed());
  writeFileSync(account, accountSeed);
  t.regex(rejects(t, url, { natsNkeySeedFile: account }, [accountSeed]).message, /user NKey seed/);

  const badCreds = join(dir, 'bad.creds');
  writeFileSync(badCreds, `just ${TOKEN}`);
  t.is(rejects(t, url, { natsCredsFile: badCreds }).field, 'options.natsCredsFile');

  t.is(rejects(t, url, { natsTlsCa: certs.clientKey }).field, 'options.natsTlsCa');
  t.is(
    rejects(t, url, { natsTlsCert: certs.clientKey, natsTlsKey: certs.clientKey }).field,
    'options.natsTlsCert',
  );
  t.is(
    rejects(t, url, { natsTlsCert: certs.clientCert, natsTlsKey: certs.clientCert }).field,
    'options.natsTlsKey',
  );
});

test('nats-connect - bad URLs are rejected without echoing their credentials', (t) => {
  rejects(t, `http://hr:${PASSWORD}@127.0.0.1:4222`, {});
  rejects(t, `nats://hr:${PASSWORD}@`, {});
  rejects(t, `nats://hr:%ZZ${PASSWORD}@127.0.0.1:4222`, {});
  rejects(t, `nats://${TOKEN}@127.0.0.1:1,nats://other${TOKEN}@127.0.0.1:2`, {}, [`other${TOKEN}`]);
  rejects(t, `nats://hr:${PASSWORD}@127.0.0.1:1,nats://127.0.0.1:2`, {});
  rejects(t, `nats://hr:12,34@127.0.0.1:4222`, {}, ['12,34']);
  t.regex(rejects(t, '', {}).message, /natsUrl/);
});

test('nats-connect - every problem is reported in one error', (t) => {
  const err = rejects(t, `http://x`, { natsUser: 'hr', natsTlsCa: join(t.context.dir, 'missing.pem') });
  t.regex(err.message, /nats:\/\/ or tls:\/\//);
  t.regex(err.message, /natsPassword/);
  t.regex(err.message, /natsTlsCa/);
});

test('nats-connect - a secret option of the wrong type is described, not echoed', (t) => {
  const err = t.throws(
    () => compileNodeOptions({ natsPassword: 12345678, natsToken: { t: TOKEN } }, {}, undefined),
    {
      instanceOf: InputError,
    },
  );
  t.false(err.message.includes('12345678'));
  t.false(err.message.includes(TOKEN));
  t.regex(err.message, /natsPassword must be a string, got a number/);
  const env = compileNodeOptions(
    undefined,
    { HEADROOM_NATS_PASSWORD: PASSWORD, HEADROOM_NATS_USER: 'hr' },
    undefined,
  );
  t.is(env.natsPassword, PASSWORD);
});

test('nats-connect - a refused connection names the option to check; an unreachable server is retryable', (t) => {
  const spec = compileNatsConnect(`nats://hr:${PASSWORD}@127.0.0.1:4222`, none());
  const refused = connectError(
    spec,
    Object.assign(new Error('Authorization Violation'), { code: 'AUTHORIZATION_VIOLATION' }),
  );
  t.true(refused instanceof InputError);
  t.regex(refused.message, /refused.*natsUser.*Authorization Violation/);
  t.false(refused.message.includes(PASSWORD));
  const down = connectError(
    spec,
    Object.assign(new Error('connection refused'), { code: 'CONNECTION_REFUSED' }),
  );
  t.true(down instanceof StateError);
  t.true((down as StateError).retryable);
  t.regex(down.message, /nats:\/\/\*\*\*@127\.0\.0\.1:4222/);
  const tls = connectError(
    spec,
    Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
  );
  t.is((tls as InputError).field, 'options.natsTlsCa');
});
