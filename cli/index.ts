/**
 * Entry file of cli/: the `headroom` command (bin/headroom.js runs `main`).
 * Each subcommand lives in its own file (start.ts, call.ts, forecast.ts,
 * replay.ts); only cli/, bench/, test/ and examples/ may import this folder.
 *   headroom start ...      run a node (see `headroom start --help`)
 *   headroom call OP JSON   one request to the NATS API
 *   headroom forecast ...   evaluate forecasting models on a trace
 *   headroom replay ...     replay a trace through the allocation policies
 */
import { HeadroomError, toHeadroomError } from '../lib/index.ts';
import { CALL_USAGE, callCommand } from './call.ts';
import { START_USAGE, startCommand } from './start.ts';

const USAGE = `usage: headroom <command> [options]
commands:
  start      run a Headroom node (embedded, or in a cluster with --nats)
  call       send one request to the NATS API and print the reply
  forecast   evaluate the forecasting models on a demand trace
  replay     replay a demand trace through the allocation policies
  help       this text

${START_USAGE}

${CALL_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        if (rest.includes('--help')) {
          console.log(START_USAGE);
          return 0;
        }
        return await startCommand(rest);
      case 'call':
        return await callCommand(rest);
      case 'replay': {
        const { replayCommand } = await import('./replay.ts');
        return await replayCommand(rest, { stdout: process.stdout, stderr: process.stderr });
      }
      case 'forecast': {
        const { forecastCommand } = await import('./forecast.ts');
        return await forecastCommand(rest, { stdout: process.stdout, stderr: process.stderr });
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        console.error(`headroom: unknown command ${JSON.stringify(command)}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    const e = toHeadroomError(err);
    console.error(`headroom: ${e.message}`);
    console.error(JSON.stringify({ error: e.toBody() }));
    return err instanceof HeadroomError && !e.retryable ? 2 : 1;
  }
}
