// The real demand traces in data/traces/ (see its README for what each is and
// its licence), found from the repository root rather than the working
// directory, so tests and benches run from anywhere. HEADROOM_TRACES_DATA
// points them at another copy.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const TRACES_DATA =
  process.env['HEADROOM_TRACES_DATA'] ?? fileURLToPath(new URL('../../data/traces', import.meta.url));

export const tracePath = (...parts: string[]): string => join(TRACES_DATA, ...parts);
