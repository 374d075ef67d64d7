// TensorFlow.js is loaded on first use (loadTf), never by importing this
// file: models/index.ts and sim/index.ts stay cheap to import anywhere.
import type * as Tf from '@tensorflow/tfjs';

/** The `@tensorflow/tfjs` module, as {@link loadTf} resolves it. */
export type TfModule = typeof Tf;

/** TensorFlow.js backends Headroom can run on. */
export const TfBackend = {
  /** WebAssembly (SIMD where available): the CPU default. */
  Wasm: 'wasm',
  /** Plain JavaScript: always available, slowest. */
  Cpu: 'cpu',
  /** Native libtensorflow via `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node`, when installed. */
  Tensorflow: 'tensorflow',
} as const;
export type TfBackendName = (typeof TfBackend)[keyof typeof TfBackend];

/** What {@link useBackend} ended up with, and why when it fell back. */
export interface BackendChoice {
  requested: TfBackendName;
  active: string;
  note?: string;
}

let loading: Promise<TfModule> | undefined;

/**
 * Loads `@tensorflow/tfjs` and registers the WebAssembly backend, once; later
 * calls resolve to the same module. Code that builds or runs a network awaits
 * this first and hands the module to the synchronous parts.
 *
 * @example
 * const tf = await loadTf();
 * const before = tf.memory().numTensors;
 */
export function loadTf(): Promise<TfModule> {
  loading ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    return tf;
  })().catch((err: unknown) => {
    loading = undefined; // a failed load may be retried
    throw err;
  });
  return loading;
}

// The native packages are optional: import them by a computed name so that
// neither TypeScript nor a bundler requires them to be present.
async function tryImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

let current: BackendChoice | undefined;

/**
 * Selects the TensorFlow.js backend by configuration: `wasm` by default,
 * `cpu` as the fallback, `tensorflow` when the native package is installed
 * (the GPU build is tried first). Falls back to the next one that works and
 * says so in `note`; never throws for a missing optional package.
 */
export async function useBackend(requested: TfBackendName = TfBackend.Wasm): Promise<BackendChoice> {
  if (current && current.requested === requested) return current;
  const tf = await loadTf();
  const order: string[] = [];
  let note: string | undefined;
  if (requested === TfBackend.Tensorflow) {
    const ok =
      (await tryImport(['@tensorflow', 'tfjs-node-gpu'].join('/'))) ||
      (await tryImport(['@tensorflow', 'tfjs-node'].join('/')));
    if (ok) order.push('tensorflow');
    else note = 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed';
  }
  if (requested !== TfBackend.Cpu) order.push('wasm');
  order.push('cpu');
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        if (name !== requested) note = `${note ? `${note}; ` : ''}using ${name} instead of ${requested}`;
        current = { requested, active: name, ...(note ? { note } : {}) };
        return current;
      }
    } catch (err) {
      note = `${note ? `${note}; ` : ''}${name} failed: ${(err as Error).message}`;
    }
  }
  throw new Error(`no TensorFlow.js backend could start (${note ?? 'unknown'})`);
}
