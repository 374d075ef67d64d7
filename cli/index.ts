/**
 * Entry file of cli/: the `headroom` command (bin/headroom.js runs `main`).
 * Each subcommand lives in its own file (start.ts, call.ts, forecast.ts,
 * replay.ts, loadgen.ts) and reads its options with the one parser in
 * args.ts; every command and `help COMMAND` take `--help`/`-h`. Only cli/,
 * bench/, test/ and examples/ may import this folder.
 *   headroom start ...      run a node (see `headroom start --help`)
 *   headroom call OP JSON   one request to the NATS API
 *   headroom forecast ...   evaluate forecasting models on a trace
 *   headroom replay ...     replay a trace through the allocation policies
 *   headroom loadgen ...    drive a running node or cluster at a trace's rate
 */
import { show } from '../lib/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, reportError } from './args.ts';
import { CALL_USAGE, callCommand } from './call.ts';
import { LOADGEN_USAGE, loadgenCommand } from './loadgen.ts';
import { START_USAGE, startCommand } from './start.ts';

export { CliExit, UsageError, errorLine, exitCodeOf, parseOptions } from './args.ts';
export { CALL_OPTIONS, CALL_USAGE, callCommand } from './call.ts';
export { LOADGEN_USAGE, loadgenCommand, runLoadgen, stepCounts } from './loadgen.ts';
export { START_USAGE, startCommand, startOptions } from './start.ts';
export type { OptionSpec, ParsedOptions } from './args.ts';
export type { LoadgenInput, LoadgenResult, LoadgenStep, LoadgenTarget } from './loadgen.ts';

const COMMANDS = ['start', 'call', 'forecast', 'replay', 'loadgen', 'help'] as const;

export const USAGE = `usage: headroom <command> [options]
commands:
  start      run a Headroom node (embedded, or in a cluster with --nats)
  call       send one request to the NATS API and print the reply
  forecast   evaluate the forecasting models on a demand trace
  replay     replay a demand trace through the allocation policies
  loadgen    drive a running node or cluster with checks at a demand trace's rate
  help       this text; \`headroom help COMMAND\` (or \`headroom COMMAND --help\`) for a command's options
${EXIT_CODES_USAGE}`;

/** The usage of `command` (forecast and replay load their models only when asked). */
async function usageOf(command: string): Promise<string | undefined> {
  switch (command) {
    case 'start':
      return START_USAGE;
    case 'call':
      return CALL_USAGE;
    case 'forecast':
      return (await import('./forecast.ts')).FORECAST_USAGE;
    case 'replay':
      return (await import('./replay.ts')).REPLAY_USAGE;
    case 'loadgen':
      return LOADGEN_USAGE;
    case 'help':
      return USAGE;
    default:
      return undefined;
  }
}

function unknownCommand(command: string): UsageError {
  return new UsageError(`unknown command ${show(command)}; one of ${COMMANDS.join(', ')}`, USAGE, {
    field: 'command',
    value: command,
  });
}

/** Runs `headroom ARGV`; resolves the exit code (see {@link CliExit}). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdout: process.stdout, stderr: process.stderr };
  try {
    switch (command) {
      case 'start':
        return await startCommand(rest);
      case 'call':
        return await callCommand(rest, io);
      case 'replay': {
        const { replayCommand } = await import('./replay.ts');
        return await replayCommand(rest, io);
      }
      case 'loadgen':
        return await loadgenCommand(rest, io);
      case 'forecast': {
        const { forecastCommand } = await import('./forecast.ts');
        return await forecastCommand(rest, io);
      }
      case 'help':
      case '--help':
      case '-h': {
        const [topic] = rest;
        const usage = topic === undefined ? USAGE : await usageOf(topic);
        if (usage === undefined) throw unknownCommand(topic ?? '');
        console.log(usage);
        return CliExit.Ok;
      }
      case undefined:
        console.error(USAGE);
        return CliExit.Usage;
      default:
        throw unknownCommand(command);
    }
  } catch (err) {
    return reportError(err, process.stderr);
  }
}
