#!/usr/bin/env node
// Entry of the `headroom` command: loads the TypeScript sources through tsx,
// so `npx headroom ...` works right after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`headroom needs Node.js 22 or newer (this is ${process.version}); run it through ops/run.`);
  process.exit(2);
}
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
