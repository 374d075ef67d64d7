/**
 * The check path's one router: which node runs each take item. A gateway
 * routes a check's items, and an owner whose placement moved on routes the
 * items a stale gateway sent it, with the same two calls: {@link routeItems}
 * groups items into this node's and each other owner's (by the placement
 * view, tokens this node still holds staying here), and {@link gather} runs
 * each group and puts the answers back in the items' order. Pure: no
 * Moleculer, no NATS.
 */
import type { TokenKey } from '../../lib/index.ts';

/** Who owns a token, as this node sees it (a Placement). */
export interface PlacementView {
  owner(token: TokenKey): string | undefined;
}

/** Where each item goes, by index into the routed list. */
export interface Routing {
  /** Items this node's actors run. */
  local: number[];
  /** Items each other owner runs, owners in the order their first item came. */
  remote: Map<string, number[]>;
  /** Items no live node owns (an empty placement). */
  unowned: number[];
}

/**
 * Groups `items` by owner: `self`'s go to {@link Routing.local}, tokens
 * `resident` here too (an owner keeps serving what it still holds until
 * its hand-off), the others by owner.
 */
export function routeItems(
  items: ReadonlyArray<{ readonly token: TokenKey }>,
  placement: PlacementView,
  self: string,
  resident?: (token: TokenKey) => boolean,
): Routing {
  const routing: Routing = { local: [], remote: new Map(), unowned: [] };
  for (let i = 0; i < items.length; i++) {
    const token = items[i]!.token;
    if (resident?.(token) === true) {
      routing.local.push(i);
      continue;
    }
    const owner = placement.owner(token);
    if (owner === undefined) routing.unowned.push(i);
    else if (owner === self) routing.local.push(i);
    else {
      const g = routing.remote.get(owner);
      if (g === undefined) routing.remote.set(owner, [i]);
      else g.push(i);
    }
  }
  return routing;
}

/** The one other node that owns every item, if there is one (a gateway hands such a check over whole). */
export function soleRemoteOwner(routing: Routing): string | undefined {
  if (routing.local.length > 0 || routing.unowned.length > 0 || routing.remote.size !== 1) return undefined;
  return routing.remote.keys().next().value;
}

/**
 * Runs every group (`self` for the local one, when it has items) and
 * returns the answers in the order of `items`; `run` answers a group's items
 * in their order. Rejects with the first group's failure.
 */
export async function gather<T, D>(
  items: readonly T[],
  groups: Iterable<readonly [owner: string, idx: readonly number[]]>,
  run: (owner: string, part: T[]) => Promise<D[]>,
): Promise<D[]> {
  const out = new Array<D>(items.length);
  const calls: Array<Promise<void>> = [];
  for (const [owner, idx] of groups) {
    if (idx.length === 0) continue;
    // One group of every item in order (a batch for one owner): its answers are the answers.
    if (calls.length === 0 && isIdentity(idx, items.length)) return await run(owner, [...items]);
    calls.push(
      (async () => {
        const res = await run(
          owner,
          idx.map((i) => items[i]!),
        );
        idx.forEach((i, k) => (out[i] = res[k]!));
      })(),
    );
  }
  await Promise.all(calls);
  return out;
}

/** A routing's groups for {@link gather}: the local one under `self`, then each remote owner's. */
export function groupsOf(routing: Routing, self: string): Array<readonly [string, readonly number[]]> {
  return [[self, routing.local], ...routing.remote];
}

/** Whether `idx` is 0, 1, ..., n - 1. */
function isIdentity(idx: readonly number[], n: number): boolean {
  if (idx.length !== n) return false;
  for (let k = 0; k < n; k++) if (idx[k] !== k) return false;
  return true;
}
