/**
 * The pretrained global LSTM shipped in `models/pretrained/` (`lstm.json`:
 * its grid, horizons, training data and settings; `lstm.bin`: the weights,
 * float32 little-endian, as the registry stores them). A node serves it
 * until the trainer promotes a model of its own, so the LSTM member of the
 * live zoo is there from the first minute. `npx tsx models/pretrain.ts`
 * rebuilds it from the public traces in data/traces/.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LstmForecaster } from './lstm/index.ts';
import type { LstmState } from './lstm/index.ts';

/** The folder of the shipped weights. */
export const PRETRAINED_DIR = fileURLToPath(new URL('./pretrained/', import.meta.url));

/** `lstm.json` of the pretrained model. */
export interface PretrainedMeta {
  /** Grid step the model was trained for (ms). */
  stepMs: number;
  /** Horizons in grid steps. */
  horizons: number[];
  /** How it was made: command, traces, slots, seconds, loss. */
  trainedWith: { command: string; traces: string[]; slots: number; seconds: number; loss: number };
  state: LstmState;
}

/** The pretrained LSTM, or undefined when the files are absent (selects the backend first). */
export async function loadPretrained(
  dir = PRETRAINED_DIR,
): Promise<{ lstm: LstmForecaster; stepMs: number; horizons: number[]; meta: PretrainedMeta } | undefined> {
  let meta: PretrainedMeta;
  let bin: Buffer;
  try {
    meta = JSON.parse(await readFile(`${dir}/lstm.json`, 'utf8')) as PretrainedMeta;
    bin = await readFile(`${dir}/lstm.bin`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const weights = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const lstm = await LstmForecaster.fromState(meta.state, weights);
  return { lstm, stepMs: meta.stepMs, horizons: [...meta.horizons], meta };
}
