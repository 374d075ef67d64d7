// The node's logs (services/runtime/logging.ts): the `logFormat` option and
// `--log-format` flag, and a real Moleculer broker's logger bridged to pino
// writing into a collector: JSON lines with the logged fields, Moleculer-style
// calls folded into one message, levels filtered, and the pretty text.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ServiceBroker } from 'moleculer';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { UsageError, parseOptions, startOptions } from '../../cli/index.ts';
import { compileNodeOptions } from '../../services/index.ts';
import { defaultLogFormat, logEvent, nodeLoggerConfig, prettyLine } from '../../services/runtime/index.ts';
import type { LogFormat } from '../../services/runtime/index.ts';

const BIN = fileURLToPath(new URL('../../bin/headroom.js', import.meta.url));

test('log format - pretty at a terminal, json otherwise', (t) => {
  t.is(defaultLogFormat(true), 'pretty');
  t.is(defaultLogFormat(false), 'json');
  t.is(defaultLogFormat(undefined), 'json');
  // ava's stdout is a pipe here.
  t.is(compileNodeOptions(undefined, {}, undefined).logFormat, defaultLogFormat(process.stdout.isTTY));
});

test('log format - from config, HEADROOM_LOG_FORMAT and the flag, last wins', (t) => {
  t.is(compileNodeOptions({ logFormat: 'pretty' }, {}, undefined).logFormat, 'pretty');
  t.is(
    compileNodeOptions({ logFormat: 'pretty' }, { HEADROOM_LOG_FORMAT: 'json' }, undefined).logFormat,
    'json',
  );
  t.is(
    compileNodeOptions(undefined, { HEADROOM_LOG_FORMAT: 'json' }, { logFormat: 'pretty' }).logFormat,
    'pretty',
  );
});

test('log format - a bad value is a coded error naming the option and the value', (t) => {
  for (const bad of ['xml', 'JSON', '', 1]) {
    const err = t.throws(() => compileNodeOptions(undefined, {}, { logFormat: bad }), {
      instanceOf: InputError,
    });
    t.is(err.code, ErrorCode.InvalidOptions);
    t.is(err.field, 'options.logFormat');
    t.regex(err.message, /options\.logFormat must be one of json, pretty, got /);
    t.true(err.message.includes(JSON.stringify(bad)), err.message);
  }
  const env = t.throws(() => compileNodeOptions(undefined, { HEADROOM_LOG_FORMAT: 'text' }, undefined), {
    instanceOf: InputError,
  });
  t.regex(env.message, /options\.logFormat must be one of json, pretty, got "text"/);
});

test('log format - --log-format takes a value', (t) => {
  const parsed = parseOptions(['--log-format', 'json', '--log-level=debug'], startOptions(), 'usage');
  t.deepEqual(parsed.values, { 'log-format': 'json', 'log-level': 'debug' });
  const err = t.throws(() => parseOptions(['--log-format'], startOptions(), 'usage'), {
    instanceOf: UsageError,
  });
  t.is(err.field, '--log-format');
  t.is(err.code, ErrorCode.InvalidOptions);
});

test('log format - headroom start --log-format xml exits 2 with one coded line', async (t) => {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'start', '--log-format', 'xml'],
      { timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }),
    );
  });
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, '');
  t.is(
    r.stderr.trim(),
    'headroom: HEADROOM_ERR_INVALID_OPTIONS: options.logFormat must be one of json, pretty, got "xml"',
  );
});

/** A broker whose logger writes into `lines`, as a node's does (its `logger` option). */
async function brokerWith(
  t: ExecutionContext,
  format: LogFormat,
  level: 'info' | 'debug' = 'info',
): Promise<{ broker: ServiceBroker; lines: string[] }> {
  const lines: string[] = [];
  const broker = new ServiceBroker({
    nodeID: 'n1',
    transporter: null,
    logger: nodeLoggerConfig({ level, format, sink: { write: (s: string) => lines.push(s) } }),
  });
  await broker.start();
  t.teardown(() => broker.stop());
  lines.length = 0;
  return { broker, lines };
}

const parse = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>;

test('json logs - Moleculer and our lines are one JSON object per line with node and mod', async (t) => {
  const { broker, lines } = await brokerWith(t, 'json');
  const before = Date.now();
  broker.logger.info('broker line');
  broker.getLogger('pools').warn('pool db has 2 units');
  t.is(lines.length, 2);
  t.true(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const [a, b] = lines.map(parse);
  t.deepEqual(Object.keys(a!), ['level', 'time', 'node', 'mod', 'msg']);
  t.like(a, { level: 30, node: 'n1', mod: 'broker', msg: 'broker line' });
  t.true((a!['time'] as number) >= before && (a!['time'] as number) <= Date.now());
  t.like(b, { level: 40, node: 'n1', mod: 'pools', msg: 'pool db has 2 units' });
});

test('json logs - logEvent gives an event line with its fields as JSON fields', async (t) => {
  const { broker, lines } = await brokerWith(t, 'json');
  logEvent(broker.getLogger('pools'), 'scale-up', { pool: 'db', from: 2, to: 3 }, 'pool db scaled up');
  t.is(lines.length, 1);
  t.deepEqual(
    { ...parse(lines[0]!), time: 0 },
    {
      level: 30,
      time: 0,
      node: 'n1',
      mod: 'pools',
      pool: 'db',
      from: 2,
      to: 3,
      event: 'scale-up',
      msg: 'pool db scaled up',
    },
  );
  // A field named like the line's own keys does not make a duplicate key.
  logEvent(
    broker.getLogger('pools'),
    'handoff',
    { node: 'n1', level: 'x', msg: 'm', to: 'n2' },
    'handed over',
  );
  t.false(/"level".*"level"|"node".*"node"|"msg".*"msg"/.test(lines[1]!), lines[1]);
  t.like(parse(lines[1]!), { level: 30, node: 'n1', level_: 'x', msg_: 'm', to: 'n2', event: 'handoff' });
});

test('json logs - (msg, fields) gives fields; other Moleculer-style calls are one message, an error as err', async (t) => {
  const { broker, lines } = await brokerWith(t, 'json');
  const log = broker.getLogger('api');
  log.error('rules.put failed:', new Error('disk full'));
  log.info('handed', 3, 'actors', { to: 'n2' });
  log.info('100% of %s', 'them');
  log.error(new Error('alone'));
  log.info('model promoted', { version: 'v2', scores: { '5s': 0.1 } });
  const [e1, i1, i2, e2, f] = lines.map(parse);
  t.like(e1, { level: 50, msg: 'rules.put failed:', err: { type: 'Error', message: 'disk full' } });
  t.regex((e1!['err'] as { stack: string }).stack, /^Error: disk full\n\s+at /);
  t.is(i1!['msg'], "handed 3 actors { to: 'n2' }");
  t.is(i2!['msg'], '100% of them');
  t.like(e2, { level: 50, msg: 'alone', err: { message: 'alone' } });
  t.like(f, { level: 30, msg: 'model promoted', version: 'v2', scores: { '5s': 0.1 } });
});

test('json logs - an audit line (a JSON text message) has its fields lifted', async (t) => {
  const { broker, lines } = await brokerWith(t, 'json');
  const text = JSON.stringify({
    audit: 'rule',
    op: 'put',
    id: 'r1',
    previousRevision: null,
    revision: 1,
    node: 'n1',
  });
  broker.logger.info(text);
  broker.logger.info('{not json}');
  const [audit, plain] = lines.map(parse);
  t.like(audit, {
    level: 30,
    node: 'n1',
    audit: 'rule',
    op: 'put',
    id: 'r1',
    previousRevision: null,
    revision: 1,
    msg: text,
  });
  t.false('node_' in audit!, 'the same node id is not repeated');
  t.deepEqual(Object.keys(plain!), ['level', 'time', 'node', 'mod', 'msg']);
});

test('json logs - levels below the node level are not written', async (t) => {
  const info = await brokerWith(t, 'json', 'info');
  info.broker.logger.debug('quiet');
  info.broker.logger.trace('quieter');
  t.deepEqual(info.lines, []);
  const debug = await brokerWith(t, 'json', 'debug');
  debug.broker.logger.debug('heard');
  debug.broker.logger.trace('not heard');
  t.deepEqual(
    debug.lines.map((l) => parse(l)['msg']),
    ['heard'],
  );
  t.is(parse(debug.lines[0]!)['level'], 20);
});

test('pretty logs - readable text: time, level, node/mod, message, fields, stack', async (t) => {
  const { broker, lines } = await brokerWith(t, 'pretty');
  logEvent(
    broker.getLogger('pools'),
    'scale-down',
    { pool: 'db', from: 3, to: 2, why: 'low demand' },
    'pool db scaled down',
  );
  broker.logger.error('check failed:', new Error('boom'));
  const audit = JSON.stringify({ audit: 'rule', op: 'delete', id: 'r1' });
  broker.logger.info(audit);
  t.is(lines.length, 3);
  for (const l of lines) t.throws(() => JSON.parse(l));
  t.regex(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}n1\/pools: pool db scaled down pool=db from=3 to=2 why="low demand" event=scale-down\n$/,
  );
  t.regex(lines[1]!, /^\S+ ERROR n1\/broker: check failed:\n {4}Error: boom\n {8}at /);
  t.true(lines[2]!.endsWith(` INFO  n1/broker: ${audit}\n`), lines[2]);
});

test('pretty logs - prettyLine passes anything that is not a pino line through', (t) => {
  t.is(prettyLine('plain text\n'), 'plain text\n');
  t.is(prettyLine('{"ready":true}\n'), '{"ready":true}\n');
  t.is(
    prettyLine('{"level":60,"time":0,"msg":"down","err":{"message":"no stack"}}'),
    '1970-01-01T00:00:00.000Z FATAL down err="no stack"\n',
  );
  const ESC = String.fromCharCode(27);
  t.is(
    prettyLine('{"level":30,"time":0,"node":"n1","mod":"x","msg":"m"}', true),
    `1970-01-01T00:00:00.000Z ${ESC}[32mINFO ${ESC}[0m n1/x: m\n`,
  );
});
