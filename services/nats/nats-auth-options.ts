/**
 * The NATS authentication options as `headroom start` (services/runtime/node-options.ts)
 * and `headroom call` take them, and the helpers that report a bad one by its
 * name (option, flag, variable) and never by its value.
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, InputError, optNullableString } from '../../lib/index.ts';
import type { OptionParser, OptionProblem, OptionSchema } from '../../lib/index.ts';

/** The authentication options, as services/runtime/node-options.ts and `headroom call` name them. */
export interface NatsAuthOptions {
  /** NATS user (with `natsPassword`); a `user:pass@` in the URL works too. @default null */
  natsUser: string | null;
  /** NATS password for `natsUser`. A secret: never logged or reported. @default null */
  natsPassword: string | null;
  /** NATS authentication token. A secret. @default null */
  natsToken: string | null;
  /** File holding an NKey seed (`SU...`) to authenticate with. @default null */
  natsNkeySeedFile: string | null;
  /** NATS credentials file (JWT and NKey seed, as `nsc` writes it). @default null */
  natsCredsFile: string | null;
  /** PEM file of the CA that signed the NATS server's certificate; turns TLS on. @default null */
  natsTlsCa: string | null;
  /** PEM client certificate for mutual TLS (with `natsTlsKey`). @default null */
  natsTlsCert: string | null;
  /** PEM private key of `natsTlsCert`. @default null */
  natsTlsKey: string | null;
}

/** The defaults of {@link NatsAuthOptions} (none given), as a fresh object. */
export function defaultNatsAuthOptions(): NatsAuthOptions {
  return {
    natsUser: null,
    natsPassword: null,
    natsToken: null,
    natsNkeySeedFile: null,
    natsCredsFile: null,
    natsTlsCa: null,
    natsTlsCert: null,
    natsTlsKey: null,
  };
}

/** The flag of each option (`headroom start`, `headroom call`); its env variable is HEADROOM_<KEY>. */
export const NATS_AUTH_FLAGS = {
  natsUser: 'nats-user',
  natsPassword: 'nats-password',
  natsToken: 'nats-token',
  natsNkeySeedFile: 'nats-nkey-seed',
  natsCredsFile: 'nats-creds',
  natsTlsCa: 'nats-tls-ca',
  natsTlsCert: 'nats-tls-cert',
  natsTlsKey: 'nats-tls-key',
} as const satisfies Record<keyof NatsAuthOptions, string>;

/** Like optNullableString, but a bad value is described by its type, never echoed (it is a secret). */
export const optNullableSecret: OptionParser<string | null> = (v, field) => {
  if (v === null || v === '') return null;
  if (typeof v !== 'string') {
    throw new InputError(ErrorCode.InvalidOptions, `${field} must be a string, got a ${typeof v}`, {
      field,
    });
  }
  return v;
};

/** How a node's options (services/runtime/node-options.ts) parse each auth option; secrets are never echoed. */
export const NATS_AUTH_SCHEMA: OptionSchema<NatsAuthOptions> = {
  natsUser: optNullableString,
  natsPassword: optNullableSecret,
  natsToken: optNullableSecret,
  natsNkeySeedFile: optNullableString,
  natsCredsFile: optNullableString,
  natsTlsCa: optNullableString,
  natsTlsCert: optNullableString,
  natsTlsKey: optNullableString,
};

/** The environment variable of an option: `natsUser` -> `HEADROOM_NATS_USER`. */
export function authEnvName(key: keyof NatsAuthOptions | 'natsUrl'): string {
  return `HEADROOM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `options.natsUser (--nats-user, HEADROOM_NATS_USER)`: how messages name an option. */
export function label(key: keyof NatsAuthOptions | 'natsUrl'): string {
  const flag = key === 'natsUrl' ? 'nats' : NATS_AUTH_FLAGS[key];
  return `options.${key} (--${flag}, ${authEnvName(key)})`;
}

/** Each auth option from its flag (in `flags`, by flag name), else its HEADROOM_* variable, else null. */
export function natsAuthFromEnv(
  env: NodeJS.ProcessEnv,
  flags: Readonly<Record<string, unknown>> = {},
): NatsAuthOptions {
  const out = {} as Record<keyof NatsAuthOptions, string | null>;
  for (const [key, flag] of Object.entries(NATS_AUTH_FLAGS) as Array<[keyof NatsAuthOptions, string]>) {
    out[key] = optNullableSecret(flags[flag] ?? env[authEnvName(key)] ?? null, `options.${key}`);
  }
  return out;
}

/**
 * The HEADROOM_* variables that hand `opts`' authentication to a child
 * process (a `process` pool's workers): the environment, never argv, which
 * `ps` shows.
 */
export function natsAuthEnv(opts: Readonly<NatsAuthOptions>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(NATS_AUTH_FLAGS) as Array<keyof NatsAuthOptions>) {
    const v = opts[key];
    if (v !== null) env[authEnvName(key)] = v;
  }
  return env;
}

/** Reads an option's file once; a problem names the option and the path (never the content). */
export function readOptionFile(
  key: keyof NatsAuthOptions,
  path: string,
  problems: OptionProblem[],
): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    problems.push({
      field: `options.${key}`,
      message: `${label(key)} names a file that cannot be read (${why}): ${JSON.stringify(path)}`,
    });
    return undefined;
  }
}

/** Adds a problem about option `key`. */
export function problem(problems: OptionProblem[], key: keyof NatsAuthOptions, message: string): void {
  problems.push({ field: `options.${key}`, message: `${label(key)} ${message}` });
}
