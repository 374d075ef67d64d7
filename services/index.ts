// Entry file of services/: Moleculer wiring of the domain pieces.
export { startNode } from './node.ts';
export { compileNodeOptions, defaultNodeOptions, envName, LogLevel } from './node-options.ts';
export { Api, Operation } from './api/handlers.ts';
export { NatsApi, API_PREFIX, API_QUEUE } from './api/nats-api.ts';
export { startHttpApi } from './api/http-api.ts';
export { Gateway } from './gateway.ts';
export { PlacementTracker, ACTOR_SERVICE } from './placement-tracker.ts';
export { ThrottleNode } from './throttle-node.ts';
export { throttleService } from './throttle-service.ts';
export { Handoff, HANDOFF_WAIT_MS } from './handoff.ts';
export { DormantTokens } from './dormant-tokens.ts';
export { refOf } from './wire.ts';
export { FileRuleStore } from './rules/file-rule-store.ts';
export { KvRuleStore, kvKeyOf } from './rules/kv-rule-store.ts';
export { initTelemetry, extractContext, injectContext, tracer } from './telemetry.ts';
export { replCommands, parseKeyValues } from './repl-commands.ts';

export type { HeadroomNode, StartNodeExtras } from './node.ts';
export type { NodeOptions } from './node-options.ts';
export type { StatusNode } from './api/handlers.ts';
export type { HttpApi } from './api/http-api.ts';
export type { RuleStore } from './rules/rule-store.ts';
export type { TelemetryHandle } from './telemetry.ts';
export type { RuleRef, TakeItem, TakeParams, HandoffItem, HandoffParams } from './wire.ts';
