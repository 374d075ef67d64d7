// Runs `headroom replay` directly: node --import tsx cli/replay-main.ts --trace FILE --policy rl ...
import { replayCommand } from './replay.ts';

process.exitCode = await replayCommand(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
