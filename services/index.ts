// Entry file of services/: the Moleculer wiring that puts the domain folders
// (lib/, actors/, collection/, models/, store/) on a cluster over NATS, one
// folder per capability: node/ (startNode, the top), check/ (gateway, owner
// link, token actors' service), cluster/ (placement, hand-off), wire/ (the
// messages between nodes and their validation), collection/, forecasting/,
// pools/, api/ (NATS, HTTP, REPL), rules/ (rule stores), nats/ (connecting),
// runtime/ (node options, telemetry, process guard). Each folder has its own
// entry file; this one names what cli/, bench/ and tests use. Runs in the
// node's process. Values first, then types.
export { startNode } from './node/index.ts';
export {
  ForecastBackend,
  LogLevel,
  ProcessGuard,
  StoreKind,
  compileNodeOptions,
  defaultNodeOptions,
  envName,
  extractContext,
  initTelemetry,
  injectContext,
  tracer,
} from './runtime/index.ts';
export {
  NATS_AUTH_FLAGS,
  NODE_INBOX_PREFIX,
  NatsAuthMethod,
  NatsConnectSpec,
  compileNatsConnect,
  connectError,
  connectNats,
  natsAuthEnv,
  natsAuthFromEnv,
  optNullableSecret,
  redactUrl,
} from './nats/index.ts';
export {
  API_PREFIX,
  API_QUEUE,
  Api,
  HttpAuth,
  NatsApi,
  Operation,
  isLoopbackHost,
  parseKeyValues,
  replCommands,
  startHttpApi,
} from './api/index.ts';
export { Gateway, ThrottleNode, throttleService } from './check/index.ts';
export { ACTOR_SERVICE, HANDOFF_WAIT_MS, Handoff, PlacementTracker } from './cluster/index.ts';
export { refOf } from './wire/index.ts';
export { FileRuleStore, KvRuleStore, RULE_HISTORY, kvKeyOf } from './rules/index.ts';
export {
  CHECK_BUCKETS,
  NodeMetrics,
  nodeSources,
  otlpMetricsEndpoint,
  startMetricsServer,
  startOtlpPush,
} from './metrics/index.ts';
export {
  EventHub,
  EventsFeed,
  GENERATED_KEY_FILE,
  LOST_METRIC,
  SIGNAL_EVENT,
  createCollection,
  defaultNodePrivacy,
  eventsService,
  initOnUse,
  loadIpRegions,
  loadKeyFile,
  loadPrivacyFile,
  loadProfileFile,
  noEvents,
  storeTokenHasher,
} from './collection/index.ts';
export {
  ForecastCadence,
  ForecastHub,
  Trainer,
  bayesQuery,
  bayesService,
  checkPredictParams,
  forecastService,
  holdoutOf,
  liveTrainingSource,
  minTrainingSlots,
  parseCurrentModel,
  registryDirOf,
  setupForecasting,
  setupTrainerCluster,
  SharedModels,
  sinceFirstDemand,
  storeTrainingSource,
  TrainerElection,
  trainerBuckets,
  trainerService,
} from './forecasting/index.ts';
export {
  DbProvider,
  PoolClient,
  PoolKind,
  PoolPolicyName,
  PoolRunner,
  Pools,
  ProcessProvider,
  TrafficRouter,
  WorkerLogLevel,
  WorkerState,
  checkWantParams,
  compileDbProviderOptions,
  compilePools,
  compileProcessProviderOptions,
  defaultDbProviderOptions,
  defaultProcessProviderOptions,
  loadPoolsFile,
  poolKey,
  poolsService,
  setupPools,
  startupStats,
  wantOf,
} from './pools/index.ts';

export type { HeadroomNode, StartNodeExtras, StopReport } from './node/index.ts';
export type {
  NodeOptions,
  ProcessGuardLog,
  ProcessGuardOptions,
  TelemetryHandle,
  UnexpectedErrorCounts,
} from './runtime/index.ts';
export type { NatsAuthOptions } from './nats/index.ts';
export type { HttpApi, HttpApiOptions, HttpAuthOptions, StatusNode } from './api/index.ts';
export type { ThrottleDeps } from './check/index.ts';
export type { HandoffItem, HandoffParams, RuleRef, TakeItem, TakeParams } from './wire/index.ts';
export type { RuleChange, RuleRevision, RuleStore } from './rules/index.ts';
export type { MetricSources, MetricsServer, MetricsServerOptions, NodeParts } from './metrics/index.ts';
export type {
  Collection,
  CollectionStats,
  EventHubDeps,
  EventReply,
  EventLevelReply,
  EventsApi,
  EventsFeedDeps,
  EventsFeedStats,
  KeyFile,
} from './collection/index.ts';
export type {
  BayesQueryParams,
  BayesQueryReply,
  ForecastCadenceDeps,
  ForecastConfig,
  Forecasting,
  ModelsModule,
  PredictParams,
  PredictReply,
  TrainRunSummary,
  TrainerCluster,
  TrainerDeps,
  TrainerOptions,
  TrainerStatus,
  TrainingData,
  TrainingSource,
  CurrentModel,
  ElectionView,
} from './forecasting/index.ts';
export type {
  DbProviderDeps,
  DbProviderOptions,
  PoolClientDeps,
  PoolSpec,
  PoolStatus,
  PoolRunStatus,
  PoolsDeps,
  PoolsSetup,
  ProcessProviderDeps,
  ProcessProviderOptions,
  Routed,
  StartupStats,
  TrafficRouterDeps,
  TrafficRouterOptions,
  WireWant,
  WorkerConfig,
  WorkerInfo,
} from './pools/index.ts';
