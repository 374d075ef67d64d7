#!/usr/bin/env node
// Entry of the `headroom` command: loads the TypeScript sources through tsx,
// so `npx headroom ...` works right after `npm ci` with no build step.
//
// Headroom needs Node.js 22 (Moleculer 0.15). Under an older node this file
// runs itself again under the Node 22 that ops/env.sh (and so ops/run)
// installs into .tools/node22, passing the arguments, stdio, exit code and
// signal through; without that binary it says which line to run first.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

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
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../cli/index.ts');
  process.exitCode = await main(process.argv.slice(2));
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
