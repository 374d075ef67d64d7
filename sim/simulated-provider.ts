import { invalidField } from '../lib/index.ts';
import type { ResourceProvider } from '../actors/index.ts';

/**
 * A provider for replay: units asked for become ready `leadMs` later;
 * releases take effect at once, cancelling units still starting first
 * (newest first), then stopping ready ones.
 */
export class SimulatedProvider implements ResourceProvider {
  readonly leadMs: number;
  #ready: number;
  #starting: { readyAtMs: number; count: number }[] = [];

  constructor(options: { leadMs: number; initialUnits?: number }) {
    if (!(Number.isFinite(options.leadMs) && options.leadMs >= 0))
      throw invalidField('provider.leadMs', 'a finite number >= 0', options.leadMs);
    const init = options.initialUnits ?? 0;
    if (!(Number.isInteger(init) && init >= 0))
      throw invalidField('provider.initialUnits', 'an integer >= 0', init);
    this.leadMs = options.leadMs;
    this.#ready = init;
  }

  #promote(nowMs: number): void {
    while (this.#starting.length > 0 && this.#starting[0]!.readyAtMs <= nowMs)
      this.#ready += this.#starting.shift()!.count;
  }

  setUnits(target: number, nowMs: number): void {
    if (!(Number.isInteger(target) && target >= 0)) throw invalidField('units', 'an integer >= 0', target);
    this.#promote(nowMs);
    let held = this.#ready + this.startingUnits(nowMs);
    if (target > held) {
      this.#starting.push({ readyAtMs: nowMs + this.leadMs, count: target - held });
      return;
    }
    while (held > target && this.#starting.length > 0) {
      const last = this.#starting[this.#starting.length - 1]!;
      const cut = Math.min(last.count, held - target);
      last.count -= cut;
      held -= cut;
      if (last.count === 0) this.#starting.pop();
    }
    this.#ready -= held - target;
  }

  readyUnits(nowMs: number): number {
    this.#promote(nowMs);
    return this.#ready;
  }

  startingUnits(nowMs: number): number {
    this.#promote(nowMs);
    return this.#starting.reduce((s, b) => s + b.count, 0);
  }
}
