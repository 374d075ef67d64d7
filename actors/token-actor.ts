import {
  BehaviourWindow,
  gcraCapDebt,
  gcraPeek,
  gcraRefund,
  gcraTake,
  gcraToleranceMs,
  invalidField,
  isPlainObject,
} from '../lib/index.ts';
import type {
  BucketCounts,
  Clock,
  CompiledRule,
  GcraState,
  Lease,
  RuleDecision,
  RuleMode,
  TokenKey,
  WindowOptions,
  WindowSnapshot,
} from '../lib/index.ts';
import { checkLease, leasedLimit } from './token-lease.ts';
import type { LeaseTerms } from './token-lease.ts';

export type { LeaseTerms };

/** Everything a token's new owner needs to carry on where the old one stopped. */
export interface TokenActorSnapshot {
  token: TokenKey;
  ruleId: string;
  gcra: GcraState;
  window: WindowSnapshot;
  createdMs: number;
  lastMs: number;
}

/**
 * The latest demand forecast of a token: requests per 1 s slot at each
 * horizon after `madeMs`, as quantiles (`p50[i]` is for `horizonsMs[i]`).
 */
export interface TokenForecast {
  madeMs: number;
  horizonsMs: number[];
  p10: number[];
  p50: number[];
  p90: number[];
  /** The model version (or `cold-start`, `mean`) that made it. */
  model?: string;
}

/** The REPL's view of a token, from {@link TokenActor.describe}. */
export interface TokenDescription {
  token: TokenKey;
  ruleId: string;
  mode: RuleMode;
  limit: { rate: number; period: string | number; burst: number };
  tat: number;
  remaining: number;
  resetAfterMs: number;
  createdMs: number;
  lastMs: number;
  /** Requests and denials per second over the last 60 s (fewer if the window is shorter), oldest first. */
  last60s: { startMs: number; requests: number[]; denied: number[] };
  totals: BucketCounts;
  /** The latest forecast, when one was made. */
  forecast?: TokenForecast;
  /** The capacity lease held, when a pool granted one (rate in requests per the rule's period; `stepMs` is the pool's step). */
  lease?: Lease & { stepMs: number; decayMs: number };
  /** The limit in force now: the rule's rate adjusted by the lease, per the rule's period. */
  effectiveLimit: { rate: number; periodMs: number; burst: number };
}

/**
 * The state of one token: its rule, its GCRA state and its recent behaviour.
 * Pure and synchronous (no Moleculer, no I/O); the actor runtime serialises
 * calls to it and moves it between nodes with {@link snapshot}.
 */
export class TokenActor {
  readonly token: TokenKey;
  rule: CompiledRule;
  window: BehaviourWindow;
  #createdMs: number;
  #gcra: GcraState;
  #lastMs: number;
  #forecast: TokenForecast | undefined;
  #lease: { lease: Lease; terms: LeaseTerms } | undefined;
  readonly #clock: Clock;
  /**
   * The last of its host's lost-contact fences this actor has taken: the host
   * (services/check/throttle-node.ts) fences its actors lazily, each before
   * its next message, instead of walking every actor when contact is lost.
   * Only the host reads or writes it. @default 0
   */
  fenceEpoch = 0;

  /**
   * @param snapshot state handed over by the token's previous owner.
   * @throws InputError when the snapshot is malformed or for another token or rule.
   */
  constructor(
    token: TokenKey,
    rule: CompiledRule,
    clock: Clock,
    snapshot?: TokenActorSnapshot,
    windowOptions?: Partial<WindowOptions>,
  ) {
    this.token = token;
    this.rule = rule;
    this.#clock = clock;
    if (snapshot === undefined) {
      this.#createdMs = clock.now();
      this.#lastMs = this.#createdMs;
      this.#gcra = { tat: 0 };
      this.window = new BehaviourWindow(windowOptions);
      return;
    }
    const raw: unknown = snapshot;
    if (!isPlainObject(raw)) throw invalidField('snapshot', 'a token snapshot', raw);
    if (snapshot.token !== token) throw invalidField('snapshot.token', `token ${token}`, snapshot.token);
    if (snapshot.ruleId !== rule.id)
      throw invalidField('snapshot.ruleId', `rule ${rule.id}`, snapshot.ruleId);
    const g: unknown = raw['gcra'];
    const tat: unknown = isPlainObject(g) ? g['tat'] : undefined;
    const lo: unknown = isPlainObject(g) ? g['lo'] : undefined;
    if (typeof tat !== 'number' || !Number.isFinite(tat))
      throw invalidField('snapshot.gcra.tat', 'a time', tat);
    if (lo !== undefined && (typeof lo !== 'number' || !Number.isFinite(lo))) {
      throw invalidField('snapshot.gcra.lo', 'a finite number', lo);
    }
    for (const f of ['createdMs', 'lastMs'] as const) {
      if (!Number.isFinite(snapshot[f])) throw invalidField(`snapshot.${f}`, 'a time', snapshot[f]);
    }
    this.#gcra = lo === undefined ? { tat } : { tat, lo };
    this.window = BehaviourWindow.fromJSON(snapshot.window, 'snapshot.window');
    this.#createdMs = snapshot.createdMs;
    this.#lastMs = snapshot.lastMs;
  }

  /** When the token was first seen (on any node). */
  get createdMs(): number {
    return this.#createdMs;
  }

  /** Time of the last check (or of creation). */
  get lastMs(): number {
    return this.#lastMs;
  }

  /** The GCRA theoretical arrival time: at or before now, the bucket is full (nothing to remember). */
  get tat(): number {
    return this.#gcra.tat;
  }

  /** The latest forecast with the time it was made; undefined until the first one. */
  get forecast(): TokenForecast | undefined {
    return this.#forecast;
  }

  /**
   * Keeps `forecast` as the latest (an older one than held is ignored).
   * @throws InputError when the quantile lists do not match the horizons.
   */
  setForecast(forecast: TokenForecast): void {
    const n = forecast.horizonsMs.length;
    if (!Number.isFinite(forecast.madeMs)) throw invalidField('forecast.madeMs', 'a time', forecast.madeMs);
    for (const q of ['p10', 'p50', 'p90'] as const) {
      if (!Array.isArray(forecast[q]) || forecast[q].length !== n) {
        throw invalidField(`forecast.${q}`, `a list of ${n} numbers`, forecast[q]);
      }
    }
    if (this.#forecast !== undefined && forecast.madeMs < this.#forecast.madeMs) return;
    this.#forecast = forecast;
  }

  /** The capacity lease held, with its terms; undefined when none was granted. */
  get lease(): { lease: Lease; terms: LeaseTerms } | undefined {
    return this.#lease;
  }

  /**
   * Holds `lease` (undefined drops it): while valid, the limit is the
   * lease's rate converted to the rule's period; after expiry it decays back
   * to the rule's own limit over `terms.decayMs` (lib `effectiveLimit`).
   * @throws InputError when the rate or the terms are not usable.
   */
  setLease(lease: Lease | undefined, terms: LeaseTerms): void {
    if (lease === undefined) {
      this.#lease = undefined;
      return;
    }
    checkLease(lease, terms);
    this.#lease = { lease: { ...lease }, terms: { decayMs: terms.decayMs, stepMs: terms.stepMs } };
  }

  /** The GCRA limit in force at `now`: the rule's, or the lease-adjusted one. */
  #limit(now: number): CompiledRule['limit'] {
    return this.#lease === undefined ? this.rule.limit : leasedLimit(this.rule.limit, this.#lease, now);
  }

  /** Replaces the rule (e.g. its rate changed); the GCRA state and the window are kept. */
  setRule(rule: CompiledRule): void {
    if (rule.id !== this.rule.id) throw invalidField('rule.id', `rule ${this.rule.id}`, rule.id);
    this.rule = rule;
  }

  /**
   * Takes `cost` at the clock's now and records the request in the window.
   * Shadow rules decide exactly as enforce ones (so `allow` is what enforcing
   * would have answered); letting the request through is the caller's job.
   *
   * @param nowMs the time of the check, when the caller read the clock
   *   already (one read for a batch's items). @default the clock's now
   */
  check(cost: number, nowMs = this.#clock.now()): RuleDecision {
    return this.#take(cost, true, nowMs);
  }

  /**
   * Takes `cost` as {@link check} does but records no request: budget moved
   * into a client's leased slice, whose checks the client reports later
   * (services/check/lease-demand.ts).
   */
  takeBudget(cost: number): RuleDecision {
    return this.#take(cost, false, this.#clock.now());
  }

  #take(cost: number, record: boolean, now: number): RuleDecision {
    const limit = this.#limit(now);
    // A raised limit carries no debt beyond an empty bucket (lib gcraCapDebt).
    if (this.#lease !== undefined) this.#gcra = gcraCapDebt(this.#gcra, limit, now);
    const d = gcraTake(this.#gcra, limit, now, cost);
    if (record) this.window.record(now, d.allow, cost);
    if (now > this.#lastMs) this.#lastMs = now;
    return this.#decision(limit.rate, d.allow, d.remaining, d.retryAfterMs, d.resetAfterMs);
  }

  /** What {@link check} would answer now; changes nothing and records nothing. */
  peek(cost: number): RuleDecision {
    const now = this.#clock.now();
    const limit = this.#limit(now);
    const d = gcraPeek(this.#gcra, limit, now, cost);
    return this.#decision(limit.rate, d.allow, d.remaining, d.retryAfterMs, d.resetAfterMs);
  }

  /**
   * Gives back an allowed check of `cost` (another rule denied the request):
   * the budget is returned and the window counts the request as denied.
   *
   * @param checkedAtMs when that check happened, to find its bucket. @default the clock's now
   */
  refund(cost: number, checkedAtMs?: number): void {
    const now = this.#clock.now();
    gcraRefund(this.#gcra, this.#limit(now), now, cost);
    this.window.recordRefund(checkedAtMs ?? now);
  }

  /** Gives `cost` back to the bucket and records nothing: a leased slice's unused units. */
  returnBudget(cost: number): void {
    const now = this.#clock.now();
    gcraRefund(this.#gcra, this.#limit(now), now, cost);
  }

  /**
   * Assumes the bucket was emptied at `atMs` (another node may have granted
   * from this token until then, services/cluster/ownership.ts): TAT becomes
   * at least `atMs` plus the burst tolerance, or plus `capMs` when that is
   * shorter (a rule of 1 per hour is not shut for an hour: at most one burst
   * may pass twice). Only ever makes the token stricter; a fence long past
   * changes nothing.
   */
  fence(atMs: number, capMs = Number.POSITIVE_INFINITY): void {
    const floor = atMs + Math.min(capMs, gcraToleranceMs(this.#limit(this.#clock.now())));
    if (this.#gcra.tat + (this.#gcra.lo ?? 0) < floor) this.#gcra = { tat: floor };
  }

  /**
   * Folds in state handed over from the token's previous owner after this
   * actor had already started serving (requests overtook the hand-off). The
   * stricter GCRA state wins (the later TAT: a limit is never loosened by a
   * hand-off), window counts add up, and the earliest creation and latest
   * check times are kept.
   *
   * @throws InputError when the snapshot is malformed or for another token or rule.
   */
  merge(snapshot: TokenActorSnapshot): void {
    const other = new TokenActor(this.token, this.rule, this.#clock, snapshot, this.window.options);
    const mine = this.#gcra.tat + (this.#gcra.lo ?? 0);
    if (other.#gcra.tat + (other.#gcra.lo ?? 0) > mine) this.#gcra = { ...other.#gcra };
    this.window.merge(other.window);
    this.#createdMs = Math.min(this.#createdMs, other.#createdMs);
    this.#lastMs = Math.max(this.#lastMs, other.#lastMs);
  }

  snapshot(): TokenActorSnapshot {
    return {
      token: this.token,
      ruleId: this.rule.id,
      gcra: { ...this.#gcra },
      window: this.window.toJSON(),
      createdMs: this.#createdMs,
      lastMs: this.#lastMs,
    };
  }

  /** JSON for the REPL and the admin API. */
  describe(): TokenDescription {
    const now = this.#clock.now();
    const limit = this.#limit(now);
    const d = gcraPeek(this.#gcra, limit, now, 0);
    const s = this.window.series('1s', Math.min(60, this.window.options.fineBuckets), now);
    return {
      token: this.token,
      ruleId: this.rule.id,
      mode: this.rule.mode,
      limit: { rate: this.rule.limit.rate, period: this.rule.spec.period, burst: this.rule.limit.burst },
      tat: this.#gcra.tat,
      remaining: d.remaining,
      resetAfterMs: d.resetAfterMs,
      createdMs: this.createdMs,
      lastMs: this.#lastMs,
      last60s: {
        startMs: s.startMs,
        requests: s.buckets.map((b) => b.requests),
        denied: s.buckets.map((b) => b.denied),
      },
      totals: this.window.totals(),
      ...(this.#forecast === undefined ? {} : { forecast: this.#forecast }),
      ...(this.#lease === undefined ? {} : { lease: { ...this.#lease.lease, ...this.#lease.terms } }),
      effectiveLimit: { rate: limit.rate, periodMs: limit.periodMs, burst: limit.burst },
    };
  }

  #decision(
    rate: number,
    allow: boolean,
    remaining: number,
    retryAfterMs: number,
    resetAfterMs: number,
  ): RuleDecision {
    const rule = this.rule;
    return {
      token: this.token,
      ruleId: rule.id,
      mode: rule.mode,
      allow,
      limit: rate,
      remaining,
      retryAfterMs,
      resetAfterMs,
    };
  }
}
