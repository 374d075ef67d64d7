/** Reading a profile file (option `profileFile`) into a profile provider, once at start. */
import { MapProfileProvider, parseProfiles } from '../../collection/index.ts';
import { readOptionsFile } from '../runtime/index.ts';

/** Loads a profile file (see {@link parseProfiles}). */
export async function loadProfileFile(path: string, field = 'profileFile'): Promise<MapProfileProvider> {
  return new MapProfileProvider(parseProfiles(await readOptionsFile(path, field), field), `file:${path}`);
}
