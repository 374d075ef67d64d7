// Real `headroom start` processes joining a nats-server that requires
// authentication: credentials in the URL, user and password options, a token,
// an NKey seed, and mutual TLS with certificates made here with openssl. Each
// node must come up, take a rule and answer checks through the API, and never
// print a secret; wrong credentials end the start with a clear error.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { promisify } from 'node:util';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { createUser } from 'nkeys.js';
import { connect, nkeyAuthenticator } from 'nats';
import type { ConnectionOptions, TlsOptions } from 'nats';
import { freePort, startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer, NatsServerOptions } from '../helpers/nats-server.ts';
import { BIN, request, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { makeTestCerts } from '../helpers/tls-certs.ts';
import type { TestCerts } from '../helpers/tls-certs.ts';

interface Ctx {
  dir: string;
  certs: TestCerts;
}
const test = anyTest as TestFn<Ctx>;
const run = promisify(execFile);

const PASSWORD = 'n0de-S3cret-pw';
const TOKEN = 'tok-5f1e2d3c4b';
// Light nodes: no store, no forecasting; info level so the "started on" line is printed (and checked).
const LIGHT = ['--store', 'none', '--forecast', 'false', '--log-level', 'info'];

/**
 * TLS options for a plain nats.js client of a server at 127.0.0.1: nats.js v2
 * checks an IP server's certificate against "localhost" (nats.js#303).
 */
function tlsTo127(files: TlsOptions): TlsOptions {
  return {
    ...files,
    checkServerIdentity: (_host: string, cert: never) => checkServerIdentity('127.0.0.1', cert),
  } as TlsOptions;
}

/** Sends one API operation and returns the decoded reply. */
type Call = (op: string, body: unknown) => Promise<any>;

test.before(async (t) => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'headroom-nats-auth-'));
  t.context.certs = makeTestCerts(t.context.dir);
});

test.after.always(async (t) => {
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

/** A nats.js client with `opts`, as an application would hold one. */
async function natsCaller(
  url: string,
  opts: ConnectionOptions,
): Promise<{ call: Call; close(): Promise<void> }> {
  const nc = await connect({ servers: url, name: 'headroom-auth-test', ...opts });
  return {
    call: (op, body) => request(nc, `headroom.v1.${op}`, body),
    close: () => nc.close(),
  };
}

/** `headroom call` as a child process with `args` (auth flags) and `env`. */
function cliCaller(args: string[], env: Record<string, string> = {}): Call {
  return async (op, body) => {
    const { stdout } = await run(process.execPath, [BIN, 'call', op, JSON.stringify(body), ...args], {
      env: { ...process.env, ...env },
    }).catch((err: { stdout?: string; stderr?: string }) => {
      // A reply with an error exits 1 and still prints it.
      if (err.stdout?.startsWith('{')) return { stdout: err.stdout };
      throw new Error(`headroom call ${op} failed: ${err.stderr ?? String(err)}`);
    });
    return JSON.parse(stdout);
  };
}

/**
 * Puts a token-bucket rule (burst 2) and checks that the node enforces it:
 * allow, allow, deny. `probe` polls until the rule is in force (default `call`).
 */
async function putAndCheck(t: ExecutionContext<Ctx>, call: Call, id: string, probe = call): Promise<void> {
  const put = await call('rules.put', { id, key: ['user'], rate: 2, period: '1h', burst: 2 });
  t.is(put.error, undefined, JSON.stringify(put.error));
  await waitUntil(
    async () => (await probe('check', { params: { user: 'probe' } })).rule === id,
    10_000,
    `rule ${id} in force`,
  );
  const allows: unknown[] = [];
  for (let i = 0; i < 3; i++) allows.push((await call('check', { params: { user: 'u1' } })).allow);
  t.deepEqual(allows, [true, true, false]);
}

/** The node printed its start line, with no secret in all it wrote. */
function noSecrets(t: ExecutionContext<Ctx>, node: NodeProcess, secrets: string[]): void {
  const out = node.output();
  t.regex(out, /headroom node \S+ started on (nats|tls):\/\//);
  for (const s of secrets) t.false(out.includes(s), `the node's output holds a secret:\n${out}`);
}

/** Starts a server and one node, runs `body`, stops both. */
async function withNode(
  t: ExecutionContext<Ctx>,
  server: NatsServerOptions,
  node: (url: string) => { args: string[]; env?: Record<string, string> },
  body: (nats: NatsServer, node: NodeProcess) => Promise<void>,
): Promise<void> {
  const nats = await startNatsServer(server);
  let proc: NodeProcess | undefined;
  try {
    const spec = node(nats.url);
    proc = await startNodeProcess({
      nodeId: `auth-${t.title.replace(/\W+/g, '-').slice(-20)}`,
      args: [...spec.args, ...LIGHT, '--data-dir', join(t.context.dir, `data-${nats.port}`)],
      ...(spec.env === undefined ? {} : { env: spec.env }),
    });
    await body(nats, proc);
  } finally {
    await proc?.stop('SIGKILL');
    await nats.stop();
  }
}

/** The server really requires authentication: an anonymous client is refused. */
async function refusesAnonymous(
  t: ExecutionContext<Ctx>,
  url: string,
  opts: ConnectionOptions = {},
): Promise<void> {
  await t.throwsAsync(connect({ servers: url, reconnect: false, ...opts }), {
    message: /Authorization Violation|certificate|socket|closed|ECONNRESET/i,
  });
}

interface Connz {
  connections: Array<{ name?: string; subscriptions_list?: string[] }>;
}

test('nats auth - credentials in the URL', async (t) => {
  const monitor = await freePort();
  const server = { args: ['--user', 'hr', '--pass', PASSWORD, '-m', String(monitor)] };
  await withNode(
    t,
    server,
    (url) => ({ args: ['--nats', url.replace('nats://', `nats://hr:${PASSWORD}@`)] }),
    async (nats, node) => {
      await refusesAnonymous(t, nats.url);
      const client = await natsCaller(nats.url, { user: 'hr', pass: PASSWORD });
      try {
        await putAndCheck(t, client.call, 'auth-url');
      } finally {
        await client.close();
      }
      noSecrets(t, node, [PASSWORD]);
      t.regex(node.output(), /started on nats:\/\/\*\*\*@127\.0\.0\.1/);
      // The node's replies (requests, KV watch) come on its own inbox prefix, never `_INBOX`.
      const connz = (await (await fetch(`http://127.0.0.1:${monitor}/connz?subs=1`)).json()) as Connz;
      const own = connz.connections.filter((c) => /^headroom-(api|bus)-/.test(c.name ?? ''));
      t.is(own.length, 2, JSON.stringify(connz.connections.map((c) => c.name)));
      const subs = own.flatMap((c) => c.subscriptions_list ?? []);
      t.true(
        subs.some((s) => s.startsWith('_HEADROOM_INBOX.')),
        subs.join(' '),
      );
      t.false(
        subs.some((s) => s.startsWith('_INBOX.')),
        subs.join(' '),
      );
    },
  );
});

test('nats auth - --nats-user and --nats-password, and `headroom call` with the same flags', async (t) => {
  const server = { args: ['--user', 'hr', '--pass', PASSWORD] };
  const auth = ['--nats-user', 'hr', '--nats-password', PASSWORD];
  await withNode(
    t,
    server,
    (url) => ({ args: ['--nats', url, ...auth] }),
    async (nats, node) => {
      await refusesAnonymous(t, nats.url);
      // `headroom call` (a process per request) puts and checks; a nats.js client polls in between.
      const client = await natsCaller(nats.url, { user: 'hr', pass: PASSWORD });
      try {
        await putAndCheck(t, cliCaller(['--nats', nats.url, ...auth]), 'auth-user', client.call);
      } finally {
        await client.close();
      }
      noSecrets(t, node, [PASSWORD]);
    },
  );
});

test('nats auth - a token, from HEADROOM_NATS_TOKEN', async (t) => {
  await withNode(
    t,
    { args: ['--auth', TOKEN] },
    (url) => ({ args: ['--nats', url], env: { HEADROOM_NATS_TOKEN: TOKEN } }),
    async (nats, node) => {
      await refusesAnonymous(t, nats.url);
      const client = await natsCaller(nats.url, { token: TOKEN });
      try {
        await putAndCheck(t, client.call, 'auth-token');
      } finally {
        await client.close();
      }
      noSecrets(t, node, [TOKEN]);
    },
  );
});

test('nats auth - an NKey seed file', async (t) => {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const seedFile = join(t.context.dir, 'node.nk');
  await writeFile(seedFile, `${seed}\n`, { mode: 0o600 });
  const config = join(t.context.dir, 'nkey.conf');
  await writeFile(config, `authorization {\n  users: [ { nkey: "${kp.getPublicKey()}" } ]\n}\n`);
  await withNode(
    t,
    { config },
    (url) => ({ args: ['--nats', url, '--nats-nkey-seed', seedFile] }),
    async (nats, node) => {
      await refusesAnonymous(t, nats.url);
      const client = await natsCaller(nats.url, { authenticator: nkeyAuthenticator(kp.getSeed()) });
      try {
        await putAndCheck(t, client.call, 'auth-nkey');
      } finally {
        await client.close();
      }
      noSecrets(t, node, [seed]);
    },
  );
});

test('nats auth - mutual TLS with a CA and a client certificate', async (t) => {
  const { certs } = t.context;
  const config = join(t.context.dir, 'tls.conf');
  await writeFile(
    config,
    `tls {\n  cert_file: "${certs.serverCert}"\n  key_file: "${certs.serverKey}"\n` +
      `  ca_file: "${certs.ca}"\n  verify: true\n}\n`,
  );
  const tlsArgs = [
    '--nats-tls-ca',
    certs.ca,
    '--nats-tls-cert',
    certs.clientCert,
    '--nats-tls-key',
    certs.clientKey,
  ];
  await withNode(
    t,
    { config, scheme: 'tls' },
    (url) => ({ args: ['--nats', url, ...tlsArgs] }),
    async (nats, node) => {
      // Trusting the server is not enough: the server wants a client certificate.
      await refusesAnonymous(t, nats.url, { tls: tlsTo127({ caFile: certs.ca }) });
      const client = await natsCaller(nats.url, {
        tls: tlsTo127({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey }),
      });
      try {
        await putAndCheck(t, client.call, 'auth-tls');
      } finally {
        await client.close();
      }
      noSecrets(t, node, ['PRIVATE KEY']);
      // A second node without its client certificate fails to start, saying why.
      await t.throwsAsync(
        startNodeProcess({
          nodeId: 'auth-tls-nocert',
          args: [
            '--nats',
            nats.url,
            '--nats-tls-ca',
            certs.ca,
            ...LIGHT,
            '--data-dir',
            join(t.context.dir, 'nocert'),
          ],
        }),
        {
          message: /exited with 2 before ready[\s\S]*TLS with NATS at tls:\/\/127\.0\.0\.1[\s\S]*certificate/,
        },
      );
    },
  );
});

test('nats auth - wrong credentials end the start with a clear error, not a hang', async (t) => {
  const nats = await startNatsServer({ args: ['--user', 'hr', '--pass', PASSWORD] });
  try {
    const wrong = 'not-the-Passw0rd';
    const started = performance.now();
    const err = await t.throwsAsync(
      startNodeProcess({
        nodeId: 'auth-wrong',
        args: [
          ...['--nats', nats.url, '--nats-user', 'hr', '--nats-password', wrong, ...LIGHT],
          ...['--data-dir', join(t.context.dir, 'wrong')],
        ],
      }),
      {
        message:
          /exited with 2 before ready[\s\S]*refused this connection[\s\S]*--nats-user[\s\S]*Authorization Violation/,
      },
    );
    t.true(performance.now() - started < 15_000, 'the node gave up promptly');
    t.false(err?.message.includes(wrong) ?? true, 'the error holds the password');
    t.regex(err?.message ?? '', /HEADROOM_ERR_INVALID_OPTIONS/);
  } finally {
    await nats.stop();
  }
});
