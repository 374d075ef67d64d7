// Every `headroom` command's --help (run as a user would, `node bin/headroom.js ...`):
// exit 0, the usage on stdout listing every option the command's parser takes;
// and the one parser's errors: exit 2, one coded line naming the option.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InputError } from '../../lib/index.ts';
import { Operation } from '../../services/index.ts';
import { CALL_OPTIONS, UsageError, callCommand, parseOptions, startOptions } from '../../cli/index.ts';
import { FORECAST_OPTIONS } from '../../cli/forecast.ts';
import { REPLAY_OPTIONS } from '../../cli/replay.ts';
import { LOADGEN_OPTIONS } from '../../cli/loadgen.ts';

const BIN = fileURLToPath(new URL('../../bin/headroom.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Two at a time: each child loads the sources through tsx, and the machine's cores are shared. */
let running = 0;
const waiting: Array<() => void> = [];

async function headroom(...args: string[]): Promise<Run> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const COMMANDS: Record<string, string[]> = {
  start: Object.keys(startOptions()),
  call: Object.keys(CALL_OPTIONS),
  forecast: Object.keys(FORECAST_OPTIONS),
  replay: Object.keys(REPLAY_OPTIONS),
  loadgen: Object.keys(LOADGEN_OPTIONS),
};

for (const [command, flags] of Object.entries(COMMANDS)) {
  // -h is the same token to the parser (checked below); the child runs one of each.
  const help = command === 'call' ? '-h' : '--help';
  {
    test(`cli help - ${command} ${help} prints every option on stdout and exits 0`, async (t) => {
      const r = await headroom(command, help);
      t.is(r.code, 0, r.stderr);
      t.is(r.stderr, '');
      t.true(r.stdout.startsWith(`usage: headroom ${command}`), r.stdout);
      for (const flag of flags)
        t.regex(r.stdout, new RegExp(`--${flag}\\b`), `--${flag} in ${command}'s usage`);
      t.regex(r.stdout, /exit codes: 0 ok, 1 .*2 bad usage/);
    });
  }
}

test('cli help - headroom --help, help and help COMMAND', async (t) => {
  for (const args of [['--help'], ['help']]) {
    const r = await headroom(...args);
    t.is(r.code, 0, args.join(' '));
    t.regex(r.stdout, /^usage: headroom <command>/);
    for (const c of Object.keys(COMMANDS)) t.regex(r.stdout, new RegExp(`^  ${c} `, 'm'));
    t.regex(r.stdout, /4 permission refused/);
  }
  const replay = await headroom('help', 'replay');
  t.is(replay.code, 0);
  t.regex(replay.stdout, /^usage: headroom replay --trace FILE/);
  const none = await headroom();
  t.is(none.code, 2);
  t.regex(none.stderr, /^usage: headroom <command>/);
});

test('cli help - call --help lists every API operation, events.* and rules.history included', async (t) => {
  const r = await headroom('call', '--help');
  t.is(r.code, 0);
  const line = r.stdout.split('\n').find((l) => l.includes('OP is an API operation:')) ?? '';
  t.deepEqual(line.split(':')[1]!.trim().split(', '), [...Operation]);
  t.true(Operation.includes('events.publish') && Operation.includes('rules.history'));
});

test('cli help - a bad option is one coded line naming it, then the usage, exit 2', async (t) => {
  const cases: Array<[string[], string, RegExp]> = [
    [['replay', '--trace', 'x.csv', '--bogus'], 'replay', /unknown option "--bogus"/],
    [['forecast', '--trace'], 'forecast', /--trace must be followed by a value, got null/],
    [
      ['call', 'status', '--nats', '--timeout', '1s'],
      'call',
      /--nats must be followed by a value, got "--timeout"/,
    ],
    [['start', '--repl=yes'], 'start', /--repl takes no value, got "yes"/],
    [['frob'], '<command>', /unknown command "frob"; one of start, call, forecast, replay, loadgen, help/],
  ];
  for (const [args, usageOf, message] of cases) {
    const r = await headroom(...args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const [first, ...rest] = r.stderr.split('\n');
    t.regex(first!, /^headroom: HEADROOM_ERR_INVALID_OPTIONS: /, args.join(' '));
    t.regex(first!, message, args.join(' '));
    t.true(rest.join('\n').startsWith(`usage: headroom ${usageOf}`), r.stderr);
    t.is(r.stdout, '');
  }
});

test('cli help - call with an unknown operation names the operations, exit 2 before connecting', async (t) => {
  // No server listens on port 1: the operation is checked before any connection.
  const r = await headroom('call', 'rules.frob', '--nats', 'nats://127.0.0.1:1');
  t.is(r.code, 2);
  t.is(
    r.stderr.trim(),
    `headroom: HEADROOM_ERR_INVALID_OPTIONS: OP must be one of ${Operation.join(', ')}, got "rules.frob"`,
  );
});

test('cli help - call rejects a missing value, stray arguments and a missing OP in process', async (t) => {
  const io = { stdout: process.stdout, stderr: process.stderr };
  const cases: Array<[string[], string]> = [
    [['status', '--timeout'], '--timeout must be followed by a value, got null'],
    [['status', '{}', 'more'], 'unexpected argument "more"'],
    [['--nats', 'nats://127.0.0.1:1'], 'call needs an operation (OP)'],
    [['status', '--user', 'x'], 'unknown option "--user"'],
  ];
  for (const [argv, message] of cases)
    await t.throwsAsync(callCommand(argv, io), { instanceOf: UsageError, message }, argv.join(' '));
});

test('cli help - parseOptions: values, negative numbers, inline values, the last of a repeat', (t) => {
  const spec = { n: { type: 'string' }, json: { type: 'boolean' } } as const;
  const p = parseOptions(['--n', '-1', '--json', '--n=--x', 'a'], spec, 'usage: x', 1);
  t.deepEqual(p, { help: false, values: { n: '--x', json: true }, positionals: ['a'] });
  t.deepEqual(parseOptions(['--n', '3', '--', '-z'], spec, 'u', 1).positionals, ['-z']);
  // --help anywhere wins over everything else, even an unknown option.
  t.true(parseOptions(['--bogus', '-h'], spec, 'u').help);
  t.true(parseOptions(['--help'], spec, 'u').help);
  const err = t.throws(() => parseOptions(['-z'], spec, 'usage: x'), {
    instanceOf: UsageError,
    message: 'unknown option "-z"',
  });
  t.true(err instanceof InputError);
  t.is(err?.code, 'HEADROOM_ERR_INVALID_OPTIONS');
  t.is(err?.field, '-z');
  t.is(err?.usage, 'usage: x');
});
