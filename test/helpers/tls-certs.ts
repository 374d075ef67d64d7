// Makes a throwaway CA, a server certificate for 127.0.0.1 and a client
// certificate with openssl, for the TLS tests. Nothing leaves `dir`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  /** CA certificate (PEM) that signed both certificates below. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A key that belongs to no certificate here (for mismatch tests). */
  otherKey: string;
}

const OPENSSL = process.env['OPENSSL_BIN'] ?? 'openssl';

function openssl(args: string[]): void {
  execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', path]);
}

function signed(dir: string, name: string, cn: string, ext: string, ca: string, caKey: string): void {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  newKey(key);
  openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${cn}`]);
  writeFileSync(extFile, ext);
  openssl([
    ...['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial'],
    ...['-out', join(dir, `${name}.pem`), '-days', '2', '-extfile', extFile],
  ]);
}

/** Writes the CA, server and client certificates into `dir` (EC P-256: fast to make). */
export function makeTestCerts(dir: string): TestCerts {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  newKey(caKey);
  openssl(['req', '-x509', '-new', '-key', caKey, '-out', ca, '-days', '2', '-subj', '/CN=headroom-test-ca']);
  signed(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n', ca, caKey);
  signed(dir, 'client', 'headroom-test-client', 'extendedKeyUsage=clientAuth\n', ca, caKey);
  const otherKey = join(dir, 'other.key');
  newKey(otherKey);
  return {
    ca,
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    otherKey,
  };
}
