import { invalidField } from '../../lib/index.ts';

/**
 * Mean and peak of the last `size` demands, in O(1) amortised per step
 * (a running sum and a monotone deque of candidate maxima).
 */
export class RecentLoad {
  readonly #values: number[] = [];
  #head = 0;
  #sum = 0;
  readonly #maxIdx: number[] = [];
  #maxHead = 0;
  /** Values pushed so far; indices in the deque are absolute, `#base` is the first one kept. */
  #pushed = 0;
  #base = 0;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1))
      throw invalidField('recentLoad.size', 'an integer >= 1', size);
  }

  push(x: number): void {
    const i = this.#pushed++;
    this.#values.push(x);
    this.#sum += x;
    if (this.#values.length - this.#head > this.size) this.#sum -= this.#values[this.#head++]!;
    while (this.#maxIdx.length > this.#maxHead && this.#at(this.#maxIdx[this.#maxIdx.length - 1]!) <= x)
      this.#maxIdx.pop();
    this.#maxIdx.push(i);
    while (this.#maxIdx[this.#maxHead]! <= i - this.size) this.#maxHead++;
    // Compact now and then, so memory stays O(size).
    if (this.#head > 4 * this.size + 64) {
      const drop = this.#head;
      this.#values.splice(0, drop);
      this.#head = 0;
      this.#base += drop;
      this.#maxIdx.splice(0, this.#maxHead);
      this.#maxHead = 0;
    }
  }

  #at(i: number): number {
    return this.#values[i - this.#base]!;
  }

  get count(): number {
    return this.#values.length - this.#head;
  }

  get mean(): number {
    return this.count > 0 ? this.#sum / this.count : 0;
  }

  get peak(): number {
    return this.#maxIdx.length > this.#maxHead ? this.#at(this.#maxIdx[this.#maxHead]!) : 0;
  }
}
