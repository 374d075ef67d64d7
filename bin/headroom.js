#!/usr/bin/env node
// Entry of the `headroom` command: loads the TypeScript sources through tsx,
// so `npx headroom ...` works right after `npm ci` with no build step.
//
// Headroom needs Node.js 22 (Moleculer 0.15). Under an older node this file
// runs itself again under the Node 22 that ops/env.sh (and so ops/run)
// installs into .tools/node22, passing the arguments, stdio, exit code and
// signal through; without that binary it says which line to run first.
//
// `headroom start` bounds V8's heap (issue 11: a node under a million one-off
// users grew to 2.4 GB resident with ~300 MB live, because V8 lets the heap
// grow up to 4x the live set on a machine with memory to spare): unless the
// user chose a heap option (NODE_OPTIONS or node's own arguments), the process
// replaces itself (process.execve: same pid, so supervisors and the pid they
// watch stay the same) with node run with HEAP_FLAGS. HEADROOM_HEAP_FLAGS
// overrides them (empty: none, the process is not replaced). The replaced
// process also gets MALLOC_ARENA_MAX=2 (unless set): glibc otherwise gives
// each thread that allocates (DuckDB's, libuv's pool, the workers) an arena of
// its own; with them and DuckDB's old 256 MB a node under one-off users
// held ~160 MB more outside V8's heaps (store/duckdb-store.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * The heap flags `headroom start` runs with: the old generation's growth
 * capped at 1.5x the live set after each full GC (V8's own factor goes up to
 * 4x), and a ceiling well under 1 GB for the main thread. The collection
 * worker's young generation is set by its resourceLimits
 * (store/worker-store.ts); the main thread keeps V8's (smaller semi-spaces
 * saved ~10 MB there, not clearly more than the noise, for more scavenges on
 * the check path).
 */
const HEAP_FLAGS = ['--heap-growing-percent=50', '--max-old-space-size=640'];
const HEAP_OPTIONS = /--(max-old-space-size|max-heap-size|max-semi-space-size|heap-growing-percent)\b/;

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const node22 = fileURLToPath(new URL('../.tools/node22/node_modules/node/bin/node', import.meta.url));
  if (!existsSync(node22)) {
    console.error(
      `headroom needs Node.js 22 or newer (this is ${process.version}); ` +
        `run \`source ${fileURLToPath(new URL('../ops/env.sh', import.meta.url))}\` first (it installs Node 22 into .tools/).`,
    );
    process.exit(2);
  }
  reexec(node22);
} else {
  execWithHeapFlags();
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../cli/index.ts');
  process.exitCode = await main(process.argv.slice(2));
}

function execWithHeapFlags() {
  if (process.argv[2] !== 'start' || process.env.HEADROOM_HEAP_EXEC === '1') return;
  if (typeof process.execve !== 'function') return;
  const chosen = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => HEAP_OPTIONS.test(a));
  const custom = process.env.HEADROOM_HEAP_FLAGS;
  const flags = custom === undefined ? HEAP_FLAGS : custom.split(' ').filter((f) => f !== '');
  if (chosen || flags.length === 0) return;
  process.execve(
    process.execPath,
    [
      process.execPath,
      ...process.execArgv,
      ...flags,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { ...process.env, HEADROOM_HEAP_EXEC: '1', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
  );
}

/**
 * Runs this file under `node` with the same arguments and stdio and ends the
 * same way the child does. SIGTERM, SIGHUP and SIGQUIT are passed on; SIGINT
 * too, except when stdin is a terminal: Ctrl-C already reaches the child
 * (same process group), and a second SIGINT would make `headroom start` skip
 * its graceful leave.
 */
function reexec(node) {
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  const signals = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGINT'];
  const forward = (signal) => {
    if (signal === 'SIGINT' && process.stdin.isTTY) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of signals) process.on(s, forward);
  child.on('error', (err) => {
    console.error(`headroom: cannot run ${node}: ${err.message}`);
    process.exit(2);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (!signal) process.exit(code ?? 1);
    process.kill(process.pid, signal);
    // A signal whose default action is not to end the process: end as a shell would report it.
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
  });
}
