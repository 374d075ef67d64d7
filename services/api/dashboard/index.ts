// Entry file of services/api/dashboard: the dashboard of a node's HTTP API.
// Its JSON routes (overview, token, pools) built from the cluster's own
// calls and a bounded history ring, and the page (HTML, JS, CSS, uPlot)
// served from the package. Values first, then types.
export { Dashboard } from './data.ts';
export { History, Ring, defaultHistoryOptions, poolPoint } from './history.ts';
export { PAGE_PATHS, registerPage } from './page.ts';
export { DASHBOARD_ROUTES, DashboardRoute, parseNoQuery, parseTokenQuery } from './queries.ts';
export { TOP_ROWS, TOP_SCAN_PER_NODE, tokenSeries, topTokens } from './tokens.ts';
export { TrainerVersions } from './trainer.ts';

export type { DashboardDeps } from './data.ts';
export type { HistoryOptions, HistorySource, PoolPoint, Sample, Series } from './history.ts';
export type { TokenQuery } from './queries.ts';
export type { TokenDeps, TokenSeries, TopToken } from './tokens.ts';
export type { TrainerVersion } from './trainer.ts';
