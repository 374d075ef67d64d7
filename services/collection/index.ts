// Entry file of services/collection: collection wired into a node. The
// `collection` and `events` Moleculer services, the collection worker thread
// (collection-worker.ts, loaded by URL: it runs the store adapter and the
// node's collectors, see collection/) and the CollectorPort that feeds it from
// the check path's thread, the events feed and hub (external events as
// signals), and the node's privacy, key and profile files. Runs in the node's
// process and its collection worker. Depends on lib/, store/, collection/ and
// services/runtime. Values first, then types.
export { COLLECTION_SERVICE, LOST_METRIC, createCollection } from './collection.ts';
export {
  CollectorPort,
  compileCollectorPortOptions,
  defaultCollectorPortOptions,
  openCollectionWorker,
} from './collector-port.ts';
export { initOnUse } from './collector-store.ts';
export { EventHub, SIGNAL_EVENT, eventsService, noEvents, parseSignalRow } from './events.ts';
export { EventsFeed, compileEventsFeedOptions, defaultEventsFeedOptions } from './events-feed.ts';
export {
  GENERATED_KEY_FILE,
  defaultNodePrivacy,
  loadIpRegions,
  loadKeyFile,
  loadPrivacyFile,
  storeTokenHasher,
} from './privacy-config.ts';
export { loadProfileFile } from './profile-file.ts';

export type { Collection, CollectionStats } from './collection.ts';
export type { CollectionWorkerData, CollectorConfig, CollectorWorkerStats } from './collection-worker.ts';
export type { CollectorPortDeps, CollectorPortOptions } from './collector-port.ts';
export type { EventHubDeps, EventLevelReply, EventReply, EventsApi, EventsServiceOptions } from './events.ts';
export type { EventsFeedDeps, EventsFeedOptions, EventsFeedStats } from './events-feed.ts';
export type { KeyFile } from './privacy-config.ts';
