/**
 * The `process` resource provider: each unit is a real worker process, a
 * Moleculer node serving the pool's backend service (worker-main.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServiceBroker } from 'moleculer';
import { ErrorCode, StateError, SystemClock, invalidField } from '../../../lib/index.ts';
import type { Clock, HeadroomError, TimerHandle } from '../../../lib/index.ts';
import type { ResourceProvider } from '../../../actors/index.ts';
import { startupStats } from './startup-stats.ts';
import { waitUntil } from './wait-until.ts';
import type { StartupStats } from './startup-stats.ts';
import type { ProcessProviderOptions } from './process-options.ts';
import type { WorkerConfig } from './worker-main.ts';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
// Resolved here, so the worker starts whatever the caller's working directory.
const TSX_LOADER = import.meta.resolve('tsx');

/** A unit's life: spawned, visible in the registry, told to stop. */
export const WorkerState = { Starting: 'starting', Ready: 'ready', Stopping: 'stopping' } as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

/** One worker process, as {@link ProcessProvider.workers} lists it. */
export interface WorkerInfo {
  nodeID: string;
  pid: number | undefined;
  state: WorkerState;
  spawnedAtMs: number;
  /** Spawn to service visible, once ready. */
  startupMs: number | null;
}

interface Worker extends WorkerInfo {
  child: ChildProcess;
  exited: Promise<void>;
  output: string;
  timer: TimerHandle | null;
}

export interface ProcessProviderDeps {
  /**
   * A started broker on the same NATS and namespace: its registry tells when
   * a worker's service is visible, and callers route through it.
   */
  broker: ServiceBroker;
  /** @default SystemClock */
  clock?: Clock;
  /** A worker that failed to start, crashed, or had to be killed. @default none (still counted) */
  onError?: (err: HeadroomError) => void;
  /**
   * Variables added to the workers' environment: how the node hands them its
   * NATS credentials (HEADROOM_NATS_*), never on a command line. @default none
   */
  env?: Readonly<Record<string, string>>;
}

/**
 * Starts and stops worker processes (`process.execPath --import tsx
 * worker-main.ts`), nodes `worker-<pool>-<n>`. `readyUnits` counts workers
 * whose service the broker's registry lists as available, `startingUnits`
 * those spawned but not yet visible; start-up (spawn to visible) is
 * measured per worker. Shrinking stops the newest starting workers first,
 * then the newest ready ones: SIGTERM, then SIGKILL after `stopTimeoutMs`.
 * Only processes this provider spawned are ever signalled.
 *
 * Orchestrators implement the same three calls: a Kubernetes provider's
 * `setUnits` patches the Deployment's `scale` subresource (`spec.replicas`),
 * `readyUnits` reads `status.readyReplicas` (or, as here, the pods' nodes in
 * the registry), `startingUnits` is `spec.replicas - readyReplicas`; a cloud
 * autoscaling group sets its desired capacity (AWS `SetDesiredCapacity`, GCP
 * `instanceGroupManagers.resize`) and counts `InService` against `Pending`
 * instances. Both are asynchronous: keep `setUnits` non-blocking and let a
 * background reconcile loop carry the call, as the spawns do here.
 */
export class ProcessProvider implements ResourceProvider {
  readonly options: Readonly<ProcessProviderOptions>;
  readonly #broker: ServiceBroker;
  readonly #env: Readonly<Record<string, string>>;
  readonly #clock: Clock;
  readonly #onError: (err: HeadroomError) => void;
  readonly #workers: Worker[] = [];
  readonly #samples: number[] = [];
  #next = 1;
  #failures = 0;
  #closed = false;
  readonly #onChange = (): void => this.#refresh();

  constructor(options: Readonly<ProcessProviderOptions>, deps: ProcessProviderDeps) {
    this.options = options;
    this.#broker = deps.broker;
    this.#env = deps.env ?? {};
    this.#clock = deps.clock ?? new SystemClock();
    this.#onError = deps.onError ?? (() => {});
    this.#broker.localBus.on('$services.changed', this.#onChange);
    this.#broker.localBus.on('$node.disconnected', this.#onChange);
  }

  setUnits(target: number, _nowMs: number): void {
    if (!(Number.isInteger(target) && target >= 0)) throw invalidField('units', 'an integer >= 0', target);
    if (this.#closed) throw new StateError(ErrorCode.Unavailable, 'process provider is closed');
    const want = Math.min(target, this.options.maxUnits);
    const held = this.#workers.filter((w) => w.state !== WorkerState.Stopping);
    for (let i = held.length; i < want; i++) this.#spawn();
    // Newest first, starting before ready: the cheapest to give up.
    const victims = [
      ...held.filter((w) => w.state === WorkerState.Starting).reverse(),
      ...held.filter((w) => w.state === WorkerState.Ready).reverse(),
    ].slice(0, Math.max(0, held.length - want));
    for (const w of victims) this.#stop(w);
  }

  readyUnits(_nowMs: number): number {
    this.#refresh();
    return this.#count(WorkerState.Ready);
  }

  startingUnits(_nowMs: number): number {
    this.#refresh();
    return this.#count(WorkerState.Starting);
  }

  /** Node ids of the ready workers (the traffic router's units). */
  readyNodeIDs(): string[] {
    this.#refresh();
    return this.#workers.filter((w) => w.state === WorkerState.Ready).map((w) => w.nodeID);
  }

  /** Every live worker this provider started (stopping ones until they exit). */
  workers(): WorkerInfo[] {
    return this.#workers.map(({ nodeID, pid, state, spawnedAtMs, startupMs }) => ({
      nodeID,
      pid,
      state,
      spawnedAtMs,
      startupMs,
    }));
  }

  /** Measured start-up, spawn to service visible. */
  startup(): StartupStats {
    return startupStats(this.#samples);
  }

  /** Workers that failed to start, crashed or were killed. */
  get failures(): number {
    return this.#failures;
  }

  /** Resolves once `readyUnits` equals the held target and none is starting or stopping. */
  whenReady(timeoutMs: number): Promise<void> {
    return waitUntil(
      this.#clock,
      timeoutMs,
      25,
      () => {
        this.#refresh();
        return this.#workers.every((w) => w.state === WorkerState.Ready);
      },
      () =>
        `process provider: workers not settled after ${timeoutMs} ms: ${this.#workers
          .map((w) => `${w.nodeID}=${w.state}`)
          .join(', ')}`,
    );
  }

  /** Stops every worker and waits for them to exit. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#broker.localBus.off('$services.changed', this.#onChange);
    this.#broker.localBus.off('$node.disconnected', this.#onChange);
    const all = [...this.#workers];
    for (const w of all) this.#stop(w);
    await Promise.all(all.map((w) => w.exited));
  }

  #count(state: WorkerState): number {
    return this.#workers.filter((w) => w.state === state).length;
  }

  #visible(nodeID: string): boolean {
    const list = this.#broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{
      name: string;
      nodeID?: string;
    }>;
    return list.some((s) => s.name === this.options.service && s.nodeID === nodeID);
  }

  /** Promotes workers whose service became visible; demotes ready ones that vanished. */
  #refresh(): void {
    const now = this.#clock.now();
    for (const w of this.#workers) {
      if (w.state === WorkerState.Starting && this.#visible(w.nodeID)) {
        w.state = WorkerState.Ready;
        if (w.startupMs === null) {
          w.startupMs = now - w.spawnedAtMs;
          this.#samples.push(w.startupMs);
        }
        if (w.timer !== null) this.#clock.clearTimeout(w.timer);
        w.timer = null;
      } else if (w.state === WorkerState.Ready && !this.#visible(w.nodeID)) {
        // Alive but gone from the registry (missed heartbeats, lost its NATS
        // link): not routable, so not ready, until it is seen again.
        w.state = WorkerState.Starting;
      }
    }
  }

  #fail(w: Worker, what: string): void {
    this.#failures += 1;
    const tail = w.output.trim().split('\n').slice(-5).join('\n');
    this.#onError(
      new StateError(ErrorCode.Unavailable, `worker ${w.nodeID} ${what}${tail === '' ? '' : `:\n${tail}`}`),
    );
  }

  #spawn(): void {
    const o = this.options;
    const nodeID = `worker-${o.pool}-${this.#next++}`;
    const config: WorkerConfig = {
      nodeID,
      natsUrl: o.natsUrl!,
      namespace: this.#broker.namespace ?? '',
      service: o.service,
      workRounds: o.workRounds,
      heartbeatS: Math.max(1, Math.round(o.heartbeatMs / 1000)),
      logLevel: o.logLevel,
    };
    const spawnedAtMs = this.#clock.now();
    const child = spawn(process.execPath, ['--import', TSX_LOADER, WORKER_MAIN, JSON.stringify(config)], {
      // The IPC channel closes when this process dies, and the worker then
      // stops itself: no orphan outlives a crashed parent.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...this.#env },
    });
    const w: Worker = {
      nodeID,
      pid: child.pid,
      state: WorkerState.Starting,
      spawnedAtMs,
      startupMs: null,
      child,
      output: '',
      timer: null,
      exited: Promise.resolve(),
    };
    const keep = (b: Buffer): void => {
      w.output = (w.output + b.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    w.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        w.output += `\n${String(err)}`;
        if (child.pid === undefined) this.#gone(w, resolve);
      });
      child.once('exit', () => this.#gone(w, resolve));
    });
    w.timer = this.#clock.setTimeout(() => {
      w.timer = null;
      if (w.state !== WorkerState.Starting) return;
      this.#fail(w, `not visible in the registry after ${o.startTimeoutMs} ms; killed`);
      this.#stop(w);
    }, o.startTimeoutMs);
    this.#workers.push(w);
  }

  #gone(w: Worker, resolve: () => void): void {
    if (w.timer !== null) this.#clock.clearTimeout(w.timer);
    w.timer = null;
    const i = this.#workers.indexOf(w);
    if (i >= 0) this.#workers.splice(i, 1);
    if (w.state !== WorkerState.Stopping)
      this.#fail(w, `exited unasked (code ${w.child.exitCode}, signal ${w.child.signalCode})`);
    resolve();
  }

  #stop(w: Worker): void {
    if (w.state === WorkerState.Stopping) return;
    w.state = WorkerState.Stopping;
    if (w.timer !== null) this.#clock.clearTimeout(w.timer);
    if (w.child.exitCode !== null || w.child.signalCode !== null) return;
    w.child.kill('SIGTERM');
    w.timer = this.#clock.setTimeout(() => {
      w.timer = null;
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      this.#fail(w, `did not exit ${this.options.stopTimeoutMs} ms after SIGTERM; killed`);
      w.child.kill('SIGKILL');
    }, this.options.stopTimeoutMs);
  }
}
