// Runs `headroom forecast` directly: node --import tsx cli/forecast-main.ts --trace FILE ...
import { forecastCommand } from './forecast.ts';

process.exitCode = await forecastCommand(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
