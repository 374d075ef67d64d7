/**
 * Serves the dashboard page: `GET /` (index.html) and `/dashboard/*` (its
 * script and style beside this file, and uPlot's build from node_modules),
 * all from the package, no network at run time. The page and its assets hold
 * no data, so they need no token (a browser cannot send a bearer token when
 * it opens a URL); every number on the page comes from the data routes,
 * which do. Files are read once, when the API starts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const here = (name: string): string => fileURLToPath(new URL(`./page/${name}`, import.meta.url));
const uplot = (name: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

/** Path, file and content type of every asset. */
const ASSETS: ReadonlyArray<readonly [string, string, string]> = [
  ['/', here('index.html'), 'text/html; charset=utf-8'],
  ['/dashboard/app.js', here('app.js'), 'text/javascript; charset=utf-8'],
  ['/dashboard/app.css', here('app.css'), 'text/css; charset=utf-8'],
  ['/dashboard/uplot.js', uplot('uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  ['/dashboard/uplot.css', uplot('uPlot.min.css'), 'text/css; charset=utf-8'],
];

/** The page's paths (GET and HEAD, no token). */
export const PAGE_PATHS: readonly string[] = ASSETS.map(([path]) => path);

/** Registers the page's routes on `app`. */
export function registerPage(app: FastifyInstance): void {
  for (const [path, file, type] of ASSETS) {
    const body = readFileSync(file);
    app.get(path, (_req, reply) =>
      reply
        .code(200)
        .header('content-type', type)
        // The page runs only its own files: no inline script, nothing from elsewhere.
        .header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
        )
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }
}
