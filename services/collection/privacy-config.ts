/**
 * The node's privacy configuration from files: the hash key file (generated
 * with 0600 permissions in the data folder on first start when none is
 * configured), the field policies, and the IP-prefix table. Secrets never
 * appear in a message or a log.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HOUR_MS, InputError, show } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { HashKey, IpRegionEntry, PrivacyOptions } from '../../lib/privacy/index.ts';
import { readOptionsFile } from '../runtime/index.ts';

/** What a key file holds. */
export interface KeyFile {
  keys: HashKey[];
  /** How long a rotated-out key stays known. */
  overlapMs?: number;
}

/** Name of the generated key file in the data folder. */
export const GENERATED_KEY_FILE = 'privacy-key.json';

async function readJson(path: string, field: string): Promise<unknown> {
  const text = await readOptionsFile(path, field);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // Not the text: a key file's content is secret.
    throw new InputError(ErrorCode.InvalidOptions, `${field} is not valid JSON: ${show(path)}`, {
      field,
      cause: err,
    });
  }
}

function asKeyFile(v: unknown, field: string): KeyFile {
  const o = (Array.isArray(v) ? { keys: v } : v) as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || !Array.isArray(o['keys'])) {
    throw new InputError(ErrorCode.InvalidOptions, `${field} must hold {"keys": [{"id", "secret"}, ...]}`, {
      field,
    });
  }
  for (const k of Object.keys(o)) {
    if (k !== 'keys' && k !== 'overlapMs') {
      throw new InputError(
        ErrorCode.InvalidOptions,
        `${field}: ${k} is not a known key (known: keys, overlapMs)`,
        {
          field,
        },
      );
    }
  }
  const out: KeyFile = { keys: o['keys'] as HashKey[] };
  if (o['overlapMs'] !== undefined) out.overlapMs = o['overlapMs'] as number;
  return out;
}

/**
 * Reads the key file at `path`; with `path` null, reads (or first creates)
 * `<dataDir>/privacy-key.json` holding one random 256-bit key.
 */
export async function loadKeyFile(
  path: string | null,
  dataDir: string,
): Promise<{ file: KeyFile; path: string; created: boolean }> {
  if (path !== null)
    return {
      file: asKeyFile(await readJson(path, 'privacyKeyFile'), 'privacyKeyFile'),
      path,
      created: false,
    };
  const generated = join(dataDir, GENERATED_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  const file: KeyFile = {
    keys: [
      {
        id: `k${randomBytes(4).toString('hex')}`,
        secret: randomBytes(32).toString('base64url'),
        activeFromMs: 0,
      },
    ],
  };
  try {
    // 'wx': never overwrite a key another start already wrote.
    await writeFile(generated, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return { file, path: generated, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return {
    file: asKeyFile(await readJson(generated, 'privacyKeyFile'), 'privacyKeyFile'),
    path: generated,
    created: false,
  };
}

/** The node's default policies: operation kept, profile tier/segment kept, account age banded; k = 5. */
export function defaultNodePrivacy(): Omit<PrivacyOptions, 'keys' | 'overlapMs' | 'ipRegions'> {
  return {
    params: { op: 'keep' },
    profile: {
      tier: 'keep',
      segment: 'keep',
      plan: 'keep',
      ageBand: 'keep',
      accountAgeDays: { kind: 'generalise', bands: [30, 90, 365, 1095] },
    },
    quasiIdentifiers: ['tier', 'segment', 'plan', 'ageBand', 'accountAgeDays'],
    k: 5,
    kWindowMs: HOUR_MS,
  };
}

/** Reads a policies file: `{"params", "profile", "quasiIdentifiers", "k", "kWindowMs"}` (each optional). */
export async function loadPrivacyFile(path: string): Promise<Partial<PrivacyOptions>> {
  const v = await readJson(path, 'privacyFile');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InputError(ErrorCode.InvalidOptions, `privacyFile must hold a JSON object, got ${show(v)}`, {
      field: 'privacyFile',
    });
  }
  const allowed = ['params', 'profile', 'quasiIdentifiers', 'k', 'kWindowMs'];
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new InputError(
        ErrorCode.InvalidOptions,
        `privacyFile: ${k} is not a known key (known: ${allowed.join(', ')})`,
        {
          field: 'privacyFile',
        },
      );
    }
  }
  return v as Partial<PrivacyOptions>;
}

/** Reads an IP-prefix table: a JSON array of `{prefix, region}` or CSV lines `prefix,region`. */
export async function loadIpRegions(path: string): Promise<IpRegionEntry[]> {
  const t = (await readOptionsFile(path, 'ipRegionsFile')).trim();
  if (t.startsWith('[')) {
    try {
      return JSON.parse(t) as IpRegionEntry[];
    } catch (err) {
      throw new InputError(
        ErrorCode.InvalidOptions,
        `ipRegionsFile is not valid JSON: ${(err as Error).message}`,
        {
          field: 'ipRegionsFile',
        },
      );
    }
  }
  return t
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '' && !/^prefix\s*,/i.test(l))
    .map((l) => {
      const [prefix = '', region = ''] = l.split(',').map((s) => s.trim());
      return { prefix, region };
    });
}

/**
 * How rows written outside the collector (forecasts, allocation decisions)
 * name a token: the keyed hash the collector uses, from the node's key file,
 * so a token's rows join across tables and no raw key is stored.
 */
export async function storeTokenHasher(
  privacyKeyFile: string | null,
  dataDir: string,
): Promise<(token: string, nowMs: number) => string> {
  const keys = await loadKeyFile(privacyKeyFile, dataDir);
  const pipeline = new PrivacyPipeline({
    ...defaultNodePrivacy(),
    keys: keys.file.keys,
    overlapMs: keys.file.overlapMs,
    ipRegions: [],
  });
  return (token, nowMs) => pipeline.hash(token, nowMs);
}
