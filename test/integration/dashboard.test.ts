// The dashboard, end to end: a real node (embedded, with a simulated pool,
// forecasts every 200 ms and bearer tokens), checks that throttle one user,
// then the page at GET / opened in headless Chromium (Debian's, through
// puppeteer-core). The charts must draw the live node's data (uPlot canvases
// with points), the top-tokens tables must list the throttled token, rules
// are edited through the page with the admin token only, and the page is
// saved as a screenshot (docs/dashboard.png with HEADROOM_SCREENSHOT). The
// JSON routes behind it are checked too: their data, their token, and coded
// errors for bad queries; and in a
// cluster of two node processes, one node's routes show both nodes and the
// tokens the other owns.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { ErrorCode } from '../../lib/index.ts';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import type { HeadroomNode } from '../../services/index.ts';
import type { NatsConnection } from 'nats';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

const CHROMIUM = process.env['HEADROOM_CHROMIUM'] ?? '/usr/bin/chromium';
/**
 * Where the screenshot goes: the temp folder, so a test run leaves the
 * checkout as it was; `HEADROOM_SCREENSHOT=docs/dashboard.png` refreshes the
 * README's picture.
 */
const SCREENSHOT = process.env['HEADROOM_SCREENSHOT'] ?? join(tmpdir(), 'headroom-dashboard.png');
const READ = 'read-token-dashboard-test';
const ADMIN = 'admin-token-dashboard-test';
const U1 = 'per-user|user=u1';

interface Ctx {
  dir: string;
  node: HeadroomNode;
  base: string;
  driving: { on: boolean; done: Promise<void> };
}
const test = anyTest as TestFn<Ctx>;

async function get(base: string, path: string, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: res.status, json: await res.json() };
}

test.before(async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-dashboard-'));
  await writeFile(join(dir, 'read.token'), `${READ}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'admin.token'), `${ADMIN}\n`, { mode: 0o600 });
  const poolsFile = join(dir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: 'api',
          rules: ['per-user'],
          kind: 'simulated',
          // Small: a raise-only lease lifts u1 by at most the pool's spare 10/s, so it stays throttled.
          unitCapacity: 5,
          minUnits: 1,
          maxUnits: 2,
          stepMs: 500,
          leadMs: 0,
        },
      ],
    }),
  );
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        dataDir: join(dir, 'data'),
        nodeId: 'dash-1',
        httpPort: 0,
        httpTokenFile: join(dir, 'read.token'),
        httpAdminTokenFile: join(dir, 'admin.token'),
        logLevel: 'error',
        forecastEveryMs: '200ms',
        forecastHorizonsMs: '1s,3s,5s',
        trainer: 'false',
        poolsFile,
      },
    ),
  );
  await node.api.handle(
    'rules.put',
    JSON.stringify({ id: 'per-user', key: ['user'], rate: 5, period: '1s', burst: 5 }),
    ROOT_CONTEXT,
  );
  // Demand until the test ends: u1 well over its limit (throttled), u2 under its rule (about 3/s
  // against 5/s), whatever the pool's lease does.
  const driving = { on: true, done: Promise.resolve() };
  driving.done = (async () => {
    for (let round = 0; driving.on; round++) {
      for (let i = 0; i < 3; i++) {
        await node.api.handle('check', JSON.stringify({ params: { user: 'u1' } }), ROOT_CONTEXT);
      }
      if (round % 3 === 0) {
        await node.api.handle('check', JSON.stringify({ params: { user: 'u2' } }), ROOT_CONTEXT);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.context = { dir, node, base: node.httpUrl!, driving };
});

test.after.always(async (t) => {
  if (t.context.driving !== undefined) {
    t.context.driving.on = false;
    await t.context.driving.done;
  }
  await t.context.node?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

test.serial('dashboard - JSON routes: the read token, live data, coded errors for bad queries', async (t) => {
  const { base } = t.context;
  // The page holds no data and needs no token; its data does.
  const page = await fetch(`${base}/`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type')!, /^text\/html/);
  t.regex(await page.text(), /<script src="\/dashboard\/app\.js"/);
  t.is((await fetch(`${base}/dashboard/uplot.js`)).status, 200);
  const head = await fetch(`${base}/dashboard/app.js`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
  for (const path of ['/v1/dashboard/overview', '/v1/dashboard/pools', '/v1/dashboard/token?token=x']) {
    const r = await get(base, path);
    t.is(r.status, 401, path);
    t.like(r.json.error, { code: ErrorCode.Unauthorized });
  }
  const post = await fetch(`${base}/v1/dashboard/overview`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');

  // Overview: this node, its live actors, u1 on top by rate and by throttled share.
  await waitUntil(
    async () => {
      const o = (await get(base, '/v1/dashboard/overview', READ)).json;
      return o.topTokens?.byThrottled.some((x: any) => x.token === U1) && o.actors.t.length >= 2;
    },
    20_000,
    'u1 throttled in the overview, two samples',
  );
  const o = (await get(base, '/v1/dashboard/overview', READ)).json;
  t.deepEqual(
    o.nodes.map((n: any) => n.id),
    ['dash-1'],
  );
  t.true(o.nodes[0].actors >= 2);
  t.true(o.actors.lines['dash-1'].some((v: number | null) => v !== null && v >= 2));
  t.is(o.topTokens.byRate[0].token, U1);
  const u1 = o.topTokens.byThrottled.find((x: any) => x.token === U1);
  t.true(u1.throttledShare > 0.3 && u1.throttledShare < 1, `u1 throttled share ${u1.throttledShare}`);
  t.false(o.topTokens.byThrottled.some((x: any) => x.token === 'per-user|user=u2'));
  t.is(o.rules, 1);
  t.is(o.trainer, null);
  t.is(o.pools[0].name, 'api');

  // A token by its request's params: demand, denials, the limit and a forecast band.
  await waitUntil(
    async () =>
      (await get(base, `/v1/dashboard/token?params=${encodeURIComponent('{"user":"u1"}')}`, READ)).json
        .tokens?.[0]?.forecast != null,
    20_000,
    'a forecast for u1',
  );
  const tok = (await get(base, `/v1/dashboard/token?params=${encodeURIComponent('{"user":"u1"}')}`, READ))
    .json.tokens[0];
  t.like(tok, { token: U1, owner: 'dash-1', state: 'live', rule: 'per-user', stepMs: 1000 });
  t.true(tok.requests.length > 0 && tok.requests.some((v: number) => v > 5));
  t.true(tok.denied.some((v: number) => v > 0));
  t.true(tok.limitPerSecond >= 5);
  t.deepEqual(tok.forecast.horizonsMs, [1000, 3000, 5000]);
  t.true(tok.forecast.p10.every((v: number, i: number) => v <= tok.forecast.p90[i]));
  const byKey = (await get(base, `/v1/dashboard/token?token=${encodeURIComponent(U1)}`, READ)).json;
  t.is(byKey.tokens[0].token, U1);

  // Pools over time: units, ready units, demand (once the pool's owner has measured a step).
  let pools: any;
  await waitUntil(
    async () => {
      pools = (await get(base, '/v1/dashboard/pools', ADMIN)).json;
      return pools.pools[0]?.lines.demand.some((v: number | null) => v !== null && v > 0) === true;
    },
    20_000,
    'pool demand in the history',
  );
  t.is(pools.pools[0].name, 'api');
  t.true(pools.pools[0].t.length >= 2);
  t.true(pools.pools[0].lines.units.some((v: number | null) => v !== null && v >= 1));
  t.true(pools.pools[0].lines.demand.some((v: number | null) => v !== null && v > 0));

  // Bad queries: coded errors naming the parameter.
  for (const [path, code, field] of [
    ['/v1/dashboard/overview?x=1', ErrorCode.UnknownField, 'x'],
    ['/v1/dashboard/pools?pool=a&pool=b', ErrorCode.UnknownField, 'pool'],
    ['/v1/dashboard/token', ErrorCode.MissingField, 'token'],
    ['/v1/dashboard/token?token=', ErrorCode.InvalidField, 'token'],
    ['/v1/dashboard/token?token=a&params=%7B%7D', ErrorCode.InvalidField, 'token'],
    ['/v1/dashboard/token?params=%7Bnope', ErrorCode.InvalidJson, 'params'],
    ['/v1/dashboard/token?params=%5B1%5D', ErrorCode.InvalidField, 'params'],
    ['/v1/dashboard/token?params=%7B%22u%22%3A%7B%7D%7D', ErrorCode.InvalidField, 'params.u'],
    ['/v1/dashboard/token?token=a&token=b', ErrorCode.InvalidField, 'token'],
  ] as const) {
    const r = await get(base, path, READ);
    t.is(r.status, 400, path);
    t.like(r.json.error, { code, field, retryable: false }, path);
  }
});

test.serial(
  'dashboard - the page in headless Chromium draws the live node, edits rules with the admin token, screenshot',
  async (t) => {
    t.timeout(90_000);
    t.true(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run ops/install-test-deps.sh`);
    const { base } = t.context;
    let browser: Browser | undefined;
    try {
      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
      });
      const page: Page = await browser.newPage();
      // Browser-side code as strings: the tests compile without the DOM's types.
      const inPage = async <T>(expr: string): Promise<T> => (await page.evaluate(expr)) as T;
      const text = (sel: string): Promise<string> =>
        inPage(`document.querySelector(${JSON.stringify(sel)})?.textContent ?? ''`);
      const setValue = (sel: string, v: string): Promise<unknown> =>
        inPage(`document.querySelector(${JSON.stringify(sel)}).value = ${JSON.stringify(v)}`);
      const failed: string[] = [];
      page.on('pageerror', (err) => failed.push(String(err)));
      page.on('requestfailed', (req) => failed.push(`${req.url()} ${req.failure()?.errorText}`));
      // A refused script or style (the page's CSP) shows as a console error; the 401s and 403s it is shown are not.
      page.on('console', (m) => {
        if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) failed.push(m.text());
      });
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(`${base}/`, { waitUntil: 'load' });
      // Without a token the page says so instead of drawing.
      await page.waitForFunction(`!document.querySelector('#problem').hidden`, { timeout: 10_000 });
      t.regex(await text('#problem'), /needs a token/);

      await page.type('#api-token', READ);
      await page.click('#token-form button');
      // Every chart drawn from the node's data: points on the actors, token and pool charts.
      await page.waitForFunction(
        `['#chart-actors', '#chart-token', '#chart-pool-api'].every(
         (s) => Number(document.querySelector(s)?.dataset.points ?? 0) > 0,
       ) && document.querySelector('#chart-token').textContent.includes('forecast p50')`,
        { timeout: 30_000 },
      );
      for (const sel of ['#chart-actors', '#chart-token', '#chart-pool-api']) {
        t.truthy(await page.$(`${sel} canvas`), `${sel} has a uPlot canvas`);
      }
      const drawn = await inPage<{
        actors: number;
        tokenRequests: number;
        poolUnits: number;
        charts: string[];
      }>(
        `(() => {
        const s = window.headroomDashboard;
        return {
          actors: s.overview.actors.t.length,
          tokenRequests: s.token.tokens[0].requests.length,
          poolUnits: s.pools.pools[0].lines.units.filter((v) => v !== null).length,
          charts: Object.keys(s.charts).sort(),
        };
      })()`,
      );
      t.true(drawn.actors >= 1 && drawn.tokenRequests > 0 && drawn.poolUnits > 0, JSON.stringify(drawn));
      t.deepEqual(drawn.charts, ['chart-actors', 'chart-pool-api', 'chart-token']);
      t.regex(await text('#top-rate tbody'), /per-user\|user=u1/);
      t.regex(await text('#top-throttled tbody'), /per-user\|user=u1/);
      t.regex(await text('#nodes-table tbody'), /dash-1/);
      t.regex(await text('#rules-table tbody'), /per-user/);
      t.regex(await text('#trainer-info'), /No trainer/);

      // Rules from the page: the read token may not change them, the admin token may.
      const putFromPage = async (rule: unknown): Promise<string> => {
        await setValue('#rule-json', JSON.stringify(rule));
        await inPage(`document.querySelector('#rule-result').textContent = ''`);
        await page.click('#rule-form button[type=submit]');
        await page.waitForFunction(`document.querySelector('#rule-result').textContent !== ''`, {
          timeout: 10_000,
        });
        return await text('#rule-result');
      };
      const rule = { id: 'per-op', key: ['op'], rate: 50, period: '1s' };
      t.regex(await putFromPage(rule), /admin token is needed/);
      t.is(t.context.node.rules.get('per-op'), undefined);
      await setValue('#api-token', '');
      await page.type('#api-token', ADMIN);
      await page.click('#token-form button');
      t.is(await putFromPage(rule), 'saved per-op');
      t.like(t.context.node.rules.get('per-op'), { rate: 50 });
      await page.waitForFunction(
        `document.querySelector('#rules-table tbody').textContent.includes('per-op')`,
        {
          timeout: 10_000,
        },
      );
      // The token lives in the tab's sessionStorage only, never in the page.
      t.is(await inPage<string | null>(`sessionStorage.getItem('headroom.token')`), ADMIN);
      t.false((await page.content()).includes(ADMIN));
      t.deepEqual(failed, []);

      // The page keeps polling: its history grows past what it first drew. For the README
      // (HEADROOM_SCREENSHOT set), the screenshot waits until it holds 20 s (ten samples).
      const samples = Math.max(drawn.actors + 1, process.env['HEADROOM_SCREENSHOT'] === undefined ? 0 : 10);
      await page.waitForFunction(`window.headroomDashboard.overview.actors.t.length >= ${samples}`, {
        timeout: 40_000,
      });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      t.true(existsSync(SCREENSHOT));
    } finally {
      await browser?.close();
    }
  },
);

test.serial('dashboard - any node of a cluster shows every node, and tokens owned elsewhere', async (t) => {
  t.timeout(90_000);
  const nats = await startNatsServer();
  const nodes: NodeProcess[] = [];
  let nc: NatsConnection | undefined;
  try {
    const lean = ['--nats', nats.url, '--store', 'none', '--forecast', 'false', '--trainer', 'false'];
    // Started side by side; every one that came up is stopped below, also when the other did not.
    const starts = await Promise.allSettled([
      startNodeProcess({ nodeId: 'dash-c1', args: [...lean, '--http-port', '0'] }),
      startNodeProcess({ nodeId: 'dash-c2', args: lean }),
    ]);
    for (const s of starts) if (s.status === 'fulfilled') nodes.push(s.value);
    for (const s of starts) if (s.status === 'rejected') throw s.reason;
    nc = await client(nats.url);
    await settle(nc, ['dash-c1', 'dash-c2']);
    t.falsy(
      (await request(nc, 'headroom.v1.rules.put', { id: 'per-user', key: ['user'], rate: 2, period: '1s' }))
        .error,
    );
    // Fewer than the top lists' 10 rows, so every token is listed.
    const users = Array.from({ length: 8 }, (_, i) => `c${i}`);
    for (let round = 0; round < 4; round++) {
      await Promise.all(users.map((user) => request(nc!, 'headroom.v1.check', { params: { user } })));
    }
    const base = nodes[0]!.httpUrl!;
    let o: any;
    await waitUntil(
      async () => {
        o = (await get(base, '/v1/dashboard/overview')).json;
        // Counted once their second is complete (the one still filling is left out).
        return (
          o.topTokens?.scanned === users.length &&
          o.topTokens.byRate.every((x: any) => x.requests === 4) &&
          o.topTokens.byThrottled.length === users.length
        );
      },
      15_000,
      'every token in the overview',
    );
    t.deepEqual(
      o.nodes.map((n: any) => n.id),
      ['dash-c1', 'dash-c2'],
    );
    t.is(
      o.nodes.reduce((s: number, n: any) => s + n.actors, 0),
      users.length,
    );
    // Tokens from both owners are ranked, each with its owner; 4 requests at once against a burst of 2: some throttled.
    t.deepEqual([...new Set(o.topTokens.byRate.map((x: any) => x.node))].sort(), ['dash-c1', 'dash-c2']);
    t.true(
      o.topTokens.byThrottled.every((x: any) => x.requests === 4 && x.denied >= 1 && x.denied <= 2),
      JSON.stringify(o.topTokens),
    );
    const elsewhere = o.topTokens.byRate.find((x: any) => x.node === 'dash-c2');
    const tok = (await get(base, `/v1/dashboard/token?token=${encodeURIComponent(elsewhere.token)}`)).json
      .tokens[0];
    t.like(tok, {
      token: elsewhere.token,
      owner: 'dash-c2',
      state: 'live',
      rule: 'per-user',
      limitPerSecond: 2,
    });
    t.is(
      tok.requests.reduce((a: number, b: number) => a + b, 0),
      4,
    );
  } finally {
    await nc?.close();
    for (const n of nodes) await n.stop();
    await nats.stop();
  }
});
