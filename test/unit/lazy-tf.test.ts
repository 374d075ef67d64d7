import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

// A resolve hook (module.registerHooks: it sees `import` and `require` alike,
// so also the CommonJS files TensorFlow.js is built from) records every
// @tensorflow module the child resolves and prints them as JSON at exit.
const HOOK = `import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    const at = r.url.indexOf('/node_modules/@tensorflow/');
    if (at !== -1) seen.add(r.url.slice(at + '/node_modules/'.length).split('/').slice(0, 2).join('/'));
    return r;
  },
});
process.on('exit', () => process.stdout.write('\\nTF ' + JSON.stringify([...seen].sort()) + '\\n'));
`;

let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'headroom-lazy-tf-'));
  await writeFile(join(dir, 'record-tf.mjs'), HOOK);
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `code` as an ES module in a child process at the repository root; returns the @tensorflow packages it resolved. */
async function tfPackagesLoadedBy(code: string): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      pathToFileURL(join(dir, 'record-tf.mjs')).href,
      '--input-type=module',
      '-e',
      code,
    ],
    { cwd: ROOT, timeout: 60_000 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('TF '));
  if (line === undefined) throw new Error(`the child printed no TF line: ${stdout}`);
  return JSON.parse(line.slice(3)) as string[];
}

test('models - importing models/index.ts and sim/index.ts does not load TensorFlow.js', async (t) => {
  const loaded = await tfPackagesLoadedBy(
    `const m = await import('./models/index.ts');
const s = await import('./sim/index.ts');
if (typeof m.LstmForecaster !== 'function' || typeof s.runReplay !== 'function') throw new Error('entry files incomplete');`,
  );
  t.deepEqual(loaded, []);
});

test('models - loadTf loads TensorFlow.js and the wasm backend (the hook sees them)', async (t) => {
  const loaded = await tfPackagesLoadedBy(
    `const { loadTf } = await import('./models/index.ts');
const tf = await loadTf();
if (tf !== (await loadTf())) throw new Error('loadTf returned two modules');`,
  );
  t.true(loaded.includes('@tensorflow/tfjs'), JSON.stringify(loaded));
  t.true(loaded.includes('@tensorflow/tfjs-backend-wasm'), JSON.stringify(loaded));
});

test('node - starting and stopping a node with forecast off does not load TensorFlow.js', async (t) => {
  const loaded = await tfPackagesLoadedBy(
    `const { mkdtemp, rm } = await import('node:fs/promises');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const { startNode, compileNodeOptions } = await import('./services/index.ts');
const dataDir = await mkdtemp(join(tmpdir(), 'headroom-lazy-tf-node-'));
const options = { dataDir, forecast: false, trainer: false, httpPort: null, store: 'none', logLevel: 'error' };
const node = await startNode(compileNodeOptions(options, {}, {}));
await node.stop();
await rm(dataDir, { recursive: true, force: true });
process.exit(0);`,
  );
  t.deepEqual(loaded, []);
});

test('forecast - a hub serving the pretrained LSTM forecasts without loading TensorFlow.js', async (t) => {
  const loaded = await tfPackagesLoadedBy(
    `const { mkdtemp, rm } = await import('node:fs/promises');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const { SimulatedClock } = await import('./lib/index.ts');
const { ForecastHub } = await import('./services/index.ts');
const dir = await mkdtemp(join(tmpdir(), 'headroom-lazy-tf-hub-'));
const hub = new ForecastHub({ horizonsMs: [5000, 30000, 300000], stepMs: 1000, backend: 'wasm', registryDir: dir }, new SimulatedClock(0));
const values = Array.from({ length: 40 }, (_v, i) => 6 + (i % 2));
const r = await hub.predict({ items: [{ token: 'u1', values, startMs: 0 }] });
if (r.version !== 'pretrained' || !('lstm' in r.forecasts[0].weights)) throw new Error('no LSTM forecast: ' + JSON.stringify(r));
await hub.close();
await rm(dir, { recursive: true, force: true });`,
  );
  t.deepEqual(loaded, []);
});
