// The real demand traces of ../shared/data (see its README), found from the
// repository root rather than the working directory, so tests and benches
// run from anywhere. HEADROOM_SHARED_DATA overrides the location.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const SHARED_DATA =
  process.env['HEADROOM_SHARED_DATA'] ?? fileURLToPath(new URL('../../../shared/data', import.meta.url));

export const sharedTrace = (...parts: string[]): string => join(SHARED_DATA, ...parts);
