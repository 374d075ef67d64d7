/**
 * Where user-profile attributes come from: a pluggable provider, asked once
 * per record (synchronously, off the check path) by the user parameter's
 * value. Two ship: none, and a map of user -> attributes parsed from a file's
 * text (JSON or CSV; services/collection/profile-file.ts reads the file once
 * at start). Attributes pass the privacy pipeline's profile policies and
 * k-anonymity before storage. Pure: no I/O.
 */
import { ErrorCode, InputError, show } from '../lib/index.ts';

/** One user's attributes as the provider knows them. */
export type ProfileAttributes = Readonly<Record<string, string | number | boolean>>;

/** Answers a user's profile attributes; must be cheap (it runs per record). */
export interface ProfileProvider {
  readonly name: string;
  get(userId: string): ProfileAttributes | undefined;
}

/** Knows no profiles. */
export const noProfiles: ProfileProvider = { name: 'none', get: () => undefined };

/** Profiles from a map held in memory (what the file provider loads). */
export class MapProfileProvider implements ProfileProvider {
  readonly name: string;
  readonly #map: ReadonlyMap<string, ProfileAttributes>;

  constructor(map: ReadonlyMap<string, ProfileAttributes>, name = 'map') {
    this.#map = map;
    this.name = name;
  }

  get(userId: string): ProfileAttributes | undefined {
    return this.#map.get(userId);
  }

  get size(): number {
    return this.#map.size;
  }

  /** The profiles themselves (to hand them to another thread). */
  get map(): ReadonlyMap<string, ProfileAttributes> {
    return this.#map;
  }
}

/**
 * Parses a profile file: a JSON object `{"<user>": {"tier": "gold", ...}}`,
 * or CSV whose header names `user` first and then the attributes
 * (`user,tier,segment`); numeric CSV cells become numbers.
 */
export function parseProfiles(text: string, field = 'profileFile'): Map<string, ProfileAttributes> {
  const bad = (msg: string): InputError =>
    new InputError(ErrorCode.InvalidOptions, `${field} ${msg}`, { field });
  const out = new Map<string, ProfileAttributes>();
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw bad(`is not valid JSON: ${(err as Error).message}`);
    }
    for (const [user, attrs] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
        // The user id is personal: never in a message.
        throw bad(`entry ${out.size + 1} must be an object of attributes, got ${show(attrs)}`);
      }
      for (const [k, v] of Object.entries(attrs)) {
        if (!['string', 'number', 'boolean'].includes(typeof v)) {
          throw bad(
            `entry ${out.size + 1} attribute ${k} must be a string, number or boolean, got ${show(v)}`,
          );
        }
      }
      out.set(user, attrs as ProfileAttributes);
    }
    return out;
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((s) => s.trim());
  if (header.length < 2 || header[0] !== 'user') {
    throw bad(
      `must be a JSON object or CSV with a header "user,<attribute>,...", got header ${show(header.join(','))}`,
    );
  }
  lines.forEach((line, i) => {
    const cells = line.split(',').map((s) => s.trim());
    if (cells.length !== header.length) {
      throw bad(`line ${i + 2} has ${cells.length} cells, the header ${header.length}`);
    }
    const attrs: Record<string, string | number> = {};
    header.slice(1).forEach((name, j) => {
      const cell = cells[j + 1]!;
      if (cell === '') return;
      const n = Number(cell);
      attrs[name] = /^-?\d+(\.\d+)?$/.test(cell) && Number.isFinite(n) ? n : cell;
    });
    out.set(cells[0]!, attrs);
  });
  return out;
}
