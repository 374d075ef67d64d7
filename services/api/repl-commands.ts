/**
 * Headroom's commands in the Moleculer REPL (`headroom start --repl`):
 *   hr-rules                        the rules, as the cluster holds them
 *   hr-actors                       live token actors on every node
 *   hr-token user=u1 op=GetItem     the actors of the tokens these parameters form:
 *                                   owner node, GCRA state, recent window
 *   hr-token '<token key>'          one actor by its token key
 *   hr-check user=u1 op=GetItem [cost=2]   a real check, as a client would send it
 *   hr-collector                    collection counters per node: decisions collected,
 *                                   rows and batches written, spool depth, drops, last error
 */
import type { ReplOptions, ServiceBroker } from 'moleculer';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { RuleSet, compileRule, parseParams, tokenKeyOf } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { Api } from './handlers.ts';
import { ACTOR_SERVICE } from '../cluster/index.ts';
import type { PlacementTracker } from '../cluster/index.ts';
import type { RuleStore } from '../rules/index.ts';

/** moleculer-repl reads `allowUnknownOptions`; Moleculer's typings call it `allowUnknownParams`. */
type ReplCustomCommand = NonNullable<ReplOptions['customCommands']>[number] & {
  allowUnknownOptions?: boolean;
};

interface NodeParts {
  api: Api;
  rules: RuleStore;
  tracker: PlacementTracker;
}

const parts = (broker: ServiceBroker): NodeParts => (broker as unknown as { headroom: NodeParts }).headroom;

/** `a=1 b=x` after the command word, as a params object (strings; the check treats 1 and "1" alike). */
export function parseKeyValues(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of raw.trim().split(/\s+/).slice(1)) {
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

const print = (v: unknown): void => console.log(JSON.stringify(v, null, 2));

/** The commands; `clock` is the node's (rules apply at its time, as on the check path). */
export function replCommands(clock: Clock): NonNullable<ReplOptions['customCommands']> {
  const commands: ReplCustomCommand[] = [
    {
      command: 'hr-rules',
      description: 'List the rules',
      action: async (broker: ServiceBroker) => {
        print(await parts(broker).api.handle('rules.list', '{}', ROOT_CONTEXT));
      },
    },
    {
      command: 'hr-actors',
      description: 'Live token actors per node',
      action: async (broker: ServiceBroker) => {
        const { tracker } = parts(broker);
        for (const id of tracker.liveNodes) {
          try {
            print(await broker.call(`${ACTOR_SERVICE}.actors`, { limit: 20 }, { nodeID: id, timeout: 2000 }));
          } catch (err) {
            print({ id, error: (err as Error).message });
          }
        }
      },
    },
    {
      command: 'hr-token',
      description: 'Show the token actors for key=value parameters, or one token key',
      allowUnknownOptions: true,
      action: async (broker: ServiceBroker, args: unknown) => {
        const raw = (args as unknown as { rawCommand: string }).rawCommand;
        const { rules, tracker } = parts(broker);
        const kv = parseKeyValues(raw);
        let tokens: string[];
        if (Object.keys(kv).length > 0) {
          const params = parseParams(kv);
          const set = new RuleSet(rules.list().map(compileRule));
          tokens = set.matching(params, clock.now()).map((r) => tokenKeyOf(r, params));
        } else {
          tokens = raw
            .trim()
            .split(/\s+/)
            .slice(1)
            .map((t) => t.replace(/^'|'$/g, ''));
        }
        if (tokens.length === 0) console.log('no rule matches these parameters');
        for (const token of tokens) {
          const owner = tracker.owner(token);
          const state =
            owner === undefined
              ? null
              : await broker.call(`${ACTOR_SERVICE}.describe`, { token }, { nodeID: owner, timeout: 2000 });
          print({
            token,
            owner: owner ?? null,
            actor: state ?? 'not live (no request since it was passivated)',
          });
        }
      },
    },
    {
      command: 'hr-check',
      description: 'Send a check: hr-check user=u1 op=GetItem [cost=2]',
      allowUnknownOptions: true,
      action: async (broker: ServiceBroker, args: unknown) => {
        const kv = parseKeyValues((args as unknown as { rawCommand: string }).rawCommand);
        const cost = kv['cost'] === undefined ? undefined : Number(kv['cost']);
        delete kv['cost'];
        print(await parts(broker).api.handle('check', JSON.stringify({ params: kv, cost }), ROOT_CONTEXT));
      },
    },
    {
      command: 'hr-collector',
      description: 'Collection counters per node (collector, batcher, spool)',
      action: async (broker: ServiceBroker) => {
        const nodes = await parts(broker).api.status();
        print(
          nodes.map(({ id, collection, error }) => ({
            id,
            collection,
            ...(error === undefined ? {} : { error }),
          })),
        );
      },
    },
  ];
  return commands;
}
