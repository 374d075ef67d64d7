/**
 * What a fault run's record says: answered fraction, time to full service
 * and, per hot token, admissions beyond the GCRA bound.
 *
 * A check's decision is made somewhere between its send and its reply, so a
 * window counts only the allowed checks whose whole [sent, answered]
 * interval lies inside it: those were certainly decided inside it. The
 * count is then a lower bound on the true count, and an excess over
 * `burst + rate x window` is a real over-admission, never an artefact of
 * latency (a stall of the owner cannot inflate it).
 */
import { Outcome } from './load.ts';
import type { Allowed, LoadRecord } from './load.ts';

export interface Bound {
  /** Allowed per second. */
  rate: number;
  burst: number;
}

export interface TokenExcess {
  user: string;
  allowed: number;
  /** Allowed over the whole run minus burst + rate x (last answer - first send); negative when within. */
  wholeRun: number;
  /** The largest count in any 1 s window minus burst + rate x 1 s. */
  window: number;
  /** Start of that window, ms since the run's start. */
  windowAtMs: number;
}

/** Admissions beyond the GCRA bound for one hot token. */
export function excessOf(
  user: string,
  allowed: readonly Allowed[],
  bound: Bound,
  windowMs = 1000,
): TokenExcess {
  const byStart = [...allowed].sort((a, b) => a.sentMs - b.sentMs);
  // Every allowed decision lies between the first send and the last answer.
  const first = byStart[0]?.sentMs ?? 0;
  const last = byStart.reduce((m, a) => Math.max(m, a.answeredMs), first);
  const wholeRun = byStart.length - (bound.burst + (bound.rate * (last - first)) / 1000);
  let best = 0;
  let bestAt = 0;
  // The fullest window starts at some check's send time; only checks sent
  // within the window can lie wholly in it.
  for (let i = 0; i < byStart.length; i++) {
    const from = (byStart[i] as Allowed).sentMs;
    let n = 0;
    for (let j = i; j < byStart.length; j++) {
      const a = byStart[j] as Allowed;
      if (a.sentMs > from + windowMs) break;
      if (a.answeredMs <= from + windowMs) n++;
    }
    if (n > best) {
      best = n;
      bestAt = from;
    }
  }
  const window = best - (bound.burst + (bound.rate * windowMs) / 1000);
  return { user, allowed: byStart.length, wholeRun, window, windowAtMs: bestAt };
}

export interface Service {
  sent: number;
  answered: number;
  timeouts: number;
  noResponders: number;
  errorReplies: number;
  failed: number;
  /** Of the checks sent from the fault (or whichever moment serviceOf was given) on, the fraction answered. */
  answeredAfterFault: number;
  /**
   * Whole seconds from the fault to the first second (counted from the
   * fault) from which on every second has at least `full` of the checks sent
   * in it answered; null if even the last second falls short.
   */
  fullServiceS: number | null;
  /** Seconds from the fault to the send of the last check not answered; null if none. */
  lastFailureS: number | null;
}

/**
 * The service a run's checks got, counted from `faultAtMs` on: the fault's
 * injection, or its detection (bench/faults/faults.ts, Detection).
 */
export function serviceOf(rec: LoadRecord, faultAtMs: number, full = 0.999): Service {
  const counts = [0, 0, 0, 0, 0, 0];
  // Per second from the fault on: checks sent, and answered.
  const seconds: Array<[number, number]> = [];
  let lastFailure: number | null = null;
  let sentAfter = 0;
  let answeredAfter = 0;
  for (let i = 0; i < rec.sentMs.length; i++) {
    const outcome = rec.outcome[i] as Outcome;
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    const at = rec.sentMs[i] as number;
    if (at < faultAtMs) continue;
    const ok = outcome === Outcome.Allowed || outcome === Outcome.Denied;
    const k = Math.floor((at - faultAtMs) / 1000);
    while (seconds.length <= k) seconds.push([0, 0]);
    const s = seconds[k] as [number, number];
    s[0]++;
    sentAfter++;
    if (ok) {
      s[1]++;
      answeredAfter++;
    } else lastFailure = Math.max(lastFailure ?? 0, at - faultAtMs);
  }
  let fullFrom: number | null = seconds.length;
  for (let k = seconds.length - 1; k >= 0; k--) {
    const [sent, answered] = seconds[k] as [number, number];
    if (sent > 0 && answered / sent < full) break;
    fullFrom = k;
  }
  // A last second that falls short leaves no second of full service.
  if (fullFrom === seconds.length && seconds.length > 0) fullFrom = null;
  const c = (o: Outcome): number => counts[o] ?? 0;
  return {
    sent: rec.sentMs.length,
    answered: c(Outcome.Allowed) + c(Outcome.Denied),
    timeouts: c(Outcome.Timeout),
    noResponders: c(Outcome.NoResponders),
    errorReplies: c(Outcome.ErrorReply),
    failed: c(Outcome.Failed),
    answeredAfterFault: sentAfter === 0 ? 1 : answeredAfter / sentAfter,
    fullServiceS: fullFrom,
    lastFailureS: lastFailure === null ? null : lastFailure / 1000,
  };
}
