/**
 * NATS URLs: credentials in `nats://user:password@host` or `nats://token@host`
 * are taken out of the server list (nats.js would ignore them), and
 * {@link redactUrl} is the only form of a URL that logs and errors show.
 */
import type { OptionProblem } from '../../lib/index.ts';
import { label } from './nats-auth-options.ts';

const HOST_PORT = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d{1,5})?\/?$/i;
const SCHEMES = ['nats', 'tls'];

/** `nats://***@host:port` for each comma-separated entry: no credential ever reaches a log line. */
export function redactUrl(url: string): string {
  // Valid URLs carry credentials in every entry or in none: with an '@' anywhere, an entry
  // without one may be the first part of a password that holds a bare ','.
  const anyCredentials = url.includes('@');
  return url
    .split(',')
    .map((raw) => {
      const entry = raw.trim();
      const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(entry)?.[0] ?? '';
      const rest = entry.slice(scheme.length);
      const at = rest.lastIndexOf('@');
      const host = at < 0 ? rest : rest.slice(at + 1);
      // An entry that is not host[:port] may be a fragment of a password with a bare ','.
      if (!HOST_PORT.test(host) || (at < 0 && anyCredentials)) return '***';
      return at < 0 ? entry : `${scheme}***@${host}`;
    })
    .join(',');
}

/** Credentials found in a URL. */
export interface UrlCredentials {
  user?: string;
  pass?: string;
  token?: string;
}

/** Splits a comma-separated URL into `host:port` servers and its credentials; problems never hold them. */
export function parseNatsUrl(
  url: string,
  problems: OptionProblem[],
): { servers: string[]; creds: UrlCredentials; tls: boolean } {
  const field = 'options.natsUrl';
  const servers: string[] = [];
  let creds: UrlCredentials | undefined;
  let tls = false;
  const entries = url.split(',').map((e) => e.trim());
  const shown = redactUrl(url).split(',');
  let withCredentials = 0;
  entries.forEach((entry, i) => {
    const where = entries.length > 1 ? `entry ${i + 1} of ${label('natsUrl')}` : label('natsUrl');
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry);
    const rest = scheme === null ? entry : entry.slice(scheme[0].length);
    const at = rest.lastIndexOf('@');
    const host = (at < 0 ? rest : rest.slice(at + 1)).replace(/\/$/, '');
    if (scheme !== null && !SCHEMES.includes(scheme[1]!.toLowerCase())) {
      problems.push({ field, message: `${where} must use nats:// or tls://, got ${shown[i]}` });
      return;
    }
    if (!HOST_PORT.test(host)) {
      problems.push({
        field,
        message: `${where} must be nats://[user:password@|token@]host[:port], got ${JSON.stringify(shown[i])}`,
      });
      return;
    }
    if (scheme?.[1]!.toLowerCase() === 'tls') tls = true;
    servers.push(host);
    if (at < 0) return;
    withCredentials++;
    const userinfo = rest.slice(0, at);
    let parsed: UrlCredentials;
    try {
      const colon = userinfo.indexOf(':');
      parsed =
        colon < 0
          ? { token: decodeURIComponent(userinfo) }
          : {
              user: decodeURIComponent(userinfo.slice(0, colon)),
              pass: decodeURIComponent(userinfo.slice(colon + 1)),
            };
    } catch {
      problems.push({ field, message: `${where} has credentials that are not valid %-encoding` });
      return;
    }
    if (parsed.token === '' || parsed.user === '') {
      problems.push({ field, message: `${where} has an empty user or token before '@'` });
      return;
    }
    if (
      creds !== undefined &&
      (creds.user !== parsed.user || creds.pass !== parsed.pass || creds.token !== parsed.token)
    ) {
      problems.push({
        field,
        message: `${label('natsUrl')} carries different credentials in different entries`,
      });
      return;
    }
    creds = parsed;
  });
  if (withCredentials > 0 && withCredentials < entries.length) {
    problems.push({
      field,
      message: `${label('natsUrl')} carries credentials in some entries only: give them in every entry (a ',' in a password is written %2C) or use the options`,
    });
  }
  return { servers, creds: creds ?? {}, tls };
}
