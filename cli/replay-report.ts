/**
 * What `headroom replay` prints and puts in its figures' titles: the report
 * of each run (one block of `key value` lines, or with several policies one
 * CSV row each; `--json` an object or an array) and the setup a figure names.
 */
import { basename } from 'node:path';
import { show } from '../lib/index.ts';
import type { ReplayData, ReplayResult } from '../sim/index.ts';

/** The `--json` report of one run. */
export function reportOf(r: ReplayResult): Record<string, unknown> {
  return {
    policy: r.policy,
    requests: r.requests,
    throttled: r.throttled,
    throttledFraction: r.throttledFraction,
    unitSeconds: r.unitSeconds,
    cost: r.cost,
    meanUtilization: r.meanUtilization,
    objective: r.objective,
  };
}

/** What a run's figure says about the setup: title, step, time zero, forecast lead. */
export function plotOptions(
  args: { trace: string },
  data: ReplayData,
  what: string,
): { title: string; stepMs: number; traceStartMs: number; forecastAheadSteps: number } {
  const m = data.model;
  const hs = data.forecasts.horizons;
  return {
    title: `${basename(args.trace)}: ${what}, forecaster ${data.forecasts.name}, unit capacity ${show(Number(m.unitCapacity.toPrecision(4)))} req/step, start-up lead ${m.leadSteps} step${m.leadSteps === 1 ? '' : 's'}`,
    stepMs: data.stepMs,
    traceStartMs: data.timestamps[0]!,
    forecastAheadSteps: hs[hs.length - 1]!,
  };
}

/** Prints the reports on stdout (see the module comment). */
export function writeReports(
  stdout: NodeJS.WritableStream,
  reports: Record<string, unknown>[],
  json: boolean,
): void {
  const several = reports.length > 1;
  if (json) stdout.write(`${JSON.stringify(several ? reports : reports[0], null, 2)}\n`);
  else if (!several)
    for (const [k, v] of Object.entries(reports[0]!))
      stdout.write(`${k.padEnd(18)} ${typeof v === 'number' ? Number(v.toPrecision(6)) : v}\n`);
  else {
    const keys = Object.keys(reports[0]!);
    stdout.write(`${keys.join(',')}\n`);
    for (const rep of reports)
      stdout.write(
        `${keys.map((k) => (typeof rep[k] === 'number' ? Number((rep[k] as number).toPrecision(6)) : rep[k])).join(',')}\n`,
      );
  }
}
