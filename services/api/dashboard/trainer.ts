/**
 * The trainer on the dashboard: `trainer.status` (wherever the cluster's
 * trainer runs) gives the serving version and the last run, each with its
 * validation scores; every version seen is remembered (at most
 * {@link MAX_VERSIONS}, newest kept), so the page lists the versions put in
 * service or rejected since this node's API started.
 */
import type { ServiceBroker } from 'moleculer';

/** Trainer versions remembered (newest kept). */
const MAX_VERSIONS = 50;
const CALL_TIMEOUT_MS = 2000;

export interface TrainerVersion {
  version: string;
  kind: string | null;
  status: string;
  createdMs: number | null;
  promotedMs: number | null;
  reason: string | null;
  /** Validation WAPE (and the rest) by model: candidate, current, baselines. */
  scores: Record<string, { wape: number; pinball: number; coverage80: number; n: number }>;
  serving: boolean;
}

interface TrainerStatusReply {
  training?: boolean;
  current?: MetaLike | null;
  lastRun?: {
    version?: string;
    promoted?: boolean;
    reason?: string;
    scores?: MetaLike['scores'];
    startedMs?: number;
  } | null;
  recentWape?: number | null;
  runs?: number;
  promotions?: number;
  nextRunMs?: number | null;
}

interface MetaLike {
  version: string;
  kind?: string;
  status?: string;
  createdMs?: number;
  promotedMs?: number;
  reason?: string;
  scores?: Record<string, { wape: number; pinball: number; coverage80: number; n: number }>;
}

export class TrainerVersions {
  readonly #versions = new Map<string, TrainerVersion>();

  /** The trainer's status and every version seen since this API started (newest first); null without a trainer. */
  async read(broker: ServiceBroker): Promise<Record<string, unknown> | null> {
    let s: TrainerStatusReply;
    try {
      s = await broker.call<TrainerStatusReply, Record<string, never>>(
        'trainer.status',
        {},
        { timeout: CALL_TIMEOUT_MS },
      );
    } catch {
      return null;
    }
    const current = s.current ?? null;
    if (current !== null) this.#remember(current, true);
    const last = s.lastRun;
    if (last?.version !== undefined && last.version !== current?.version) {
      this.#remember(
        {
          version: last.version,
          status: last.promoted === true ? 'promoted' : 'rejected',
          ...(last.reason === undefined ? {} : { reason: last.reason }),
          ...(last.scores === undefined ? {} : { scores: last.scores }),
          ...(last.startedMs === undefined ? {} : { createdMs: last.startedMs }),
        },
        false,
      );
    }
    return {
      training: s.training ?? false,
      runs: s.runs ?? 0,
      promotions: s.promotions ?? 0,
      recentWape: s.recentWape ?? null,
      nextRunMs: s.nextRunMs ?? null,
      versions: [...this.#versions.values()].sort((a, b) => b.version.localeCompare(a.version)),
    };
  }

  #remember(m: MetaLike, serving: boolean): void {
    if (serving) for (const v of this.#versions.values()) v.serving = false;
    this.#versions.set(m.version, {
      version: m.version,
      kind: m.kind ?? null,
      status: m.status ?? 'candidate',
      createdMs: m.createdMs ?? null,
      promotedMs: m.promotedMs ?? null,
      reason: m.reason ?? null,
      scores: m.scores ?? {},
      serving,
    });
    while (this.#versions.size > MAX_VERSIONS) {
      const oldest = [...this.#versions.keys()].sort()[0]!;
      this.#versions.delete(oldest);
    }
  }
}
