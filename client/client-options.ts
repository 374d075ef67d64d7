/**
 * The options of {@link HeadroomClient.connect}, compiled once at the edge
 * (STYLE.md): unknown keys rejected, every problem in one
 * `HEADROOM_ERR_INVALID_OPTIONS`, units in the names, a frozen result. The
 * NATS authentication options are the nodes' own (services/nats), so a
 * client authenticates the way `headroom start` and `headroom call` do.
 */
import { compileOptionsObject, optBool, optFiniteAtLeast, optPositiveMs, optString } from '../lib/index.ts';
import type { OptionParser, OptionSchema } from '../lib/index.ts';
import { NATS_AUTH_SCHEMA, defaultNatsAuthOptions } from '../services/nats/index.ts';
import type { NatsAuthOptions } from '../services/nats/index.ts';

export interface HeadroomClientOptions extends NatsAuthOptions {
  /**
   * NATS URL(s): one string (comma-separated for several) or a list; may
   * carry credentials (`nats://user:pass@host:4222`), as a node's `--nats`.
   * @default "nats://127.0.0.1:4222"
   */
  servers: string;
  /** The connection's name, as nats-server's monitoring shows it. @default "headroom-client" */
  name: string;
  /** nats.js inbox prefix (give each application its own where `_INBOX.>` is shared). @default "_INBOX" */
  inboxPrefix: string;
  /**
   * How long a check sent straight to its owner may take before it is sent
   * again through `headroom.v1.check` (a node that does not exist any more
   * answers "no responders" at once, without this wait). @default 500
   */
  ownerTimeoutMs: number;
  /** How long a check may take in all, the fallback included; then it fails (retryable). @default 5000 */
  timeoutMs: number;
  /** How often the topology is asked for again (notices usually come first). @default 2000 */
  topologyRefreshMs: number;
  /**
   * A topology not confirmed for this long is stale: checks go through
   * `headroom.v1.check` (any node) until a fresh one arrives. @default 10000
   */
  topologyMaxAgeMs: number;
  /** How long a node that answered "no responders" is left out of the client's routing. @default 2000 */
  suspectMs: number;
  /** Send checks to their owners; false sends every check through `headroom.v1.check`. @default true */
  routing: boolean;
  /**
   * Lease every token this client checks at least `leaseMinRatePerSec`
   * times a second (client leases, client/leases.ts): its checks are then
   * decided here from a slice of its budget. false: only checks asked with
   * `{ lease: true }` are leased. Needs `routing`. @default false
   */
  leases: boolean;
  /** With `leases`: how often a token must be checked (per second) to be leased. @default 20 */
  leaseMinRatePerSec: number;
  /** How long a token whose owner granted no slice is checked without one (ms). @default 1000 */
  leaseBackoffMs: number;
}

/** The defaults, as a fresh object. */
export function defaultClientOptions(): HeadroomClientOptions {
  return {
    ...defaultNatsAuthOptions(),
    servers: 'nats://127.0.0.1:4222',
    name: 'headroom-client',
    inboxPrefix: '_INBOX',
    ownerTimeoutMs: 500,
    timeoutMs: 5000,
    topologyRefreshMs: 2000,
    topologyMaxAgeMs: 10_000,
    suspectMs: 2000,
    routing: true,
    leases: false,
    leaseMinRatePerSec: 20,
    leaseBackoffMs: 1000,
  };
}

/** A URL string, or a non-empty list of them (joined as `--nats` takes them). */
const optServers: OptionParser<string> = (v, field) =>
  Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '')
    ? v.join(',')
    : optString(v, field);

const SCHEMA: OptionSchema<HeadroomClientOptions> = {
  ...NATS_AUTH_SCHEMA,
  servers: optServers,
  name: optString,
  inboxPrefix: optString,
  ownerTimeoutMs: optPositiveMs,
  timeoutMs: optPositiveMs,
  topologyRefreshMs: optPositiveMs,
  topologyMaxAgeMs: optPositiveMs,
  suspectMs: optPositiveMs,
  routing: optBool,
  leases: optBool,
  leaseMinRatePerSec: optFiniteAtLeast(0),
  leaseBackoffMs: optPositiveMs,
};

/** What {@link HeadroomClient.connect} takes: any subset of the options; `servers` may be a list. */
export type HeadroomClientInput = Partial<Omit<HeadroomClientOptions, 'servers'>> & {
  servers?: string | readonly string[];
};

/** Compiles `input` over the defaults; throws one InputError (InvalidOptions) naming every bad key. */
export function compileClientOptions(input: unknown): Readonly<HeadroomClientOptions> {
  return compileOptionsObject('options', SCHEMA, defaultClientOptions(), input ?? {});
}
