/**
 * The client leases' contract with the client (client/leases.ts,
 * headroom-client.ts): what they need of it (its topology and the wire),
 * their settings from the client's options, and their counters.
 */
import type { CheckRequest } from '../lib/index.ts';

/** What the leases need of the client: its topology and the wire. */
export interface LeaseDeps {
  /**
   * The token of the one rule `req` matches; undefined when several or none
   * match, or no topology is fresh. `t`: the leases' clock now ({@link now}),
   * read once per check.
   */
  tokenOf: (req: CheckRequest, t: number) => string | undefined;
  /** The owner of `token`, or undefined to ask any node. */
  ownerOf: (token: string) => string | undefined;
  /** Sends a request (JSON) and resolves the parsed reply; rejects when no node answered. */
  request: (subject: string, body: unknown, timeoutMs: number) => Promise<unknown>;
  /** Subject of `op` on node `node`, or of any node when undefined. */
  subject: (
    node: string | undefined,
    op: 'lease' | 'lease.batch' | 'lease.return' | 'lease.return.batch',
  ) => string;
  /** The clock (ms): performance.now() unless given (tests). */
  now?: () => number;
}

/** The lease options of the client (client-options.ts). */
export interface LeaseSettings {
  /** Lease every token checked at least `minRatePerSec` times a second (not only `{lease: true}` checks). */
  all: boolean;
  minRatePerSec: number;
  /** How long a token whose lease failed is checked without one. */
  backoffMs: number;
  /** How long an ask may take. */
  timeoutMs: number;
}

/** Lease counters, for tests and benchmarks. */
export interface LeaseStats {
  /** Checks decided here from a slice (allowed or denied). */
  local: number;
  /** Of them, denied here (an empty bucket, or past a used-up slice: lease-grant.ts). */
  localDenied: number;
  /** Asks sent (first leases and renewals). */
  asks: number;
  /** Messages they went in (the asks of one turn to one owner go in one `lease.batch`). */
  askMessages: number;
  /** Asks that failed or were refused (the token was then checked without a lease for a while). */
  refused: number;
  /** Units given back. */
  returned: number;
  /** Messages the returns went in (the returns of one turn to one node go in one `lease.return.batch`). */
  returnMessages: number;
}
