/**
 * TLS options for nats.js from the CA, certificate and key files, read and
 * checked once (PEM, key matches certificate); the key stays in memory only.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import type { TlsOptions } from 'nats';
import type { OptionProblem } from '../../lib/index.ts';
import { label, problem, readOptionFile } from './nats-auth-options.ts';
import type { NatsAuthOptions } from './nats-auth-options.ts';

/** TLS options, or undefined when TLS is off (no file, no `tls://` URL). */
export function compileTls(
  auth: Readonly<NatsAuthOptions>,
  schemeTls: boolean,
  problems: OptionProblem[],
): TlsOptions | undefined {
  const { natsTlsCa: caFile, natsTlsCert: certFile, natsTlsKey: keyFile } = auth;
  if ((certFile === null) !== (keyFile === null)) {
    problem(
      problems,
      certFile === null ? 'natsTlsCert' : 'natsTlsKey',
      `is required with ${label(certFile === null ? 'natsTlsKey' : 'natsTlsCert')} (mutual TLS takes both)`,
    );
    return undefined;
  }
  if (caFile === null && certFile === null) return schemeTls ? {} : undefined;
  const tls: TlsOptions = {};
  if (caFile !== null) {
    const ca = readOptionFile('natsTlsCa', caFile, problems);
    if (ca !== undefined) {
      try {
        new X509Certificate(ca);
        tls.ca = ca.toString('utf8');
      } catch {
        problem(problems, 'natsTlsCa', `must be a PEM certificate, ${JSON.stringify(caFile)} is not`);
      }
    }
  }
  if (certFile !== null && keyFile !== null) {
    const cert = readOptionFile('natsTlsCert', certFile, problems);
    const key = readOptionFile('natsTlsKey', keyFile, problems);
    let x509: X509Certificate | undefined;
    if (cert !== undefined) {
      try {
        x509 = new X509Certificate(cert);
      } catch {
        problem(problems, 'natsTlsCert', `must be a PEM certificate, ${JSON.stringify(certFile)} is not`);
      }
    }
    if (key !== undefined) {
      try {
        const keyObject = createPrivateKey(key);
        if (x509 !== undefined && !x509.checkPrivateKey(keyObject)) {
          problem(problems, 'natsTlsKey', `is not the private key of ${label('natsTlsCert')}`);
        }
      } catch {
        problem(
          problems,
          'natsTlsKey',
          `must be an unencrypted PEM private key, ${JSON.stringify(keyFile)} is not`,
        );
      }
    }
    if (cert !== undefined && key !== undefined) {
      tls.cert = cert.toString('utf8');
      tls.key = key.toString('utf8');
    }
  }
  return tls;
}

/**
 * nats.js v2 gives Node no server name when a server is an IP address, so
 * Node checks the certificate against "localhost" (nats.js issue #303). When
 * that check fails, the certificate is checked against the configured IPs.
 */
export function withIpIdentity(tls: TlsOptions, servers: readonly string[]): void {
  const ips = servers.map((s) => s.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')).filter((h) => isIP(h) !== 0);
  if (ips.length === 0) return;
  const check = (host: string, cert: PeerCertificate): Error | undefined => {
    const direct = checkServerIdentity(host, cert);
    if (direct === undefined) return undefined;
    return ips.some((ip) => checkServerIdentity(ip, cert) === undefined) ? undefined : direct;
  };
  // Passed through to tls.connect by nats.js (it copies every key of `tls`).
  Object.assign(tls, { checkServerIdentity: check });
}
