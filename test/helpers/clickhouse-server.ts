// Starts a real clickhouse-server (Debian's 18.16, or any newer one) for a test
// suite: random free loopback ports, its own config, users and data folder in
// a temp dir, logs to files there. stop() kills exactly that process;
// restart() starts it again on the same ports and data. Root is fine: the
// server runs as the invoking user when it owns the data folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nats-server.ts';

export interface ClickHouseServer {
  /** HTTP URL, e.g. http://127.0.0.1:41234 */
  url: string;
  httpPort: number;
  dir: string;
  /**
   * Kills the server and waits for it to exit; keeps the data. SIGTERM (the
   * default) escalates to SIGKILL after 10 s; SIGKILL simulates a crash.
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same ports and data folder; resolves when /ping answers. */
  restart(): Promise<void>;
  /**
   * Kills it (SIGKILL: its data goes with the folder, and a clean stop waits
   * seconds for any connection a test left open) and removes its folder.
   */
  dispose(): Promise<void>;
}

/** The server binary: $CLICKHOUSE_SERVER_BIN, Debian's, or the single `clickhouse` binary. */
export function clickHouseCommand(): { bin: string; args: string[] } | undefined {
  const env = process.env['CLICKHOUSE_SERVER_BIN'];
  if (env !== undefined && env !== '') return { bin: env, args: [] };
  for (const p of ['/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server']) {
    if (existsSync(p)) return { bin: p, args: [] };
  }
  if (existsSync('/usr/bin/clickhouse')) return { bin: '/usr/bin/clickhouse', args: ['server'] };
  return undefined;
}

function configXml(dir: string, http: number, tcp: number, inter: number): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog><size>10M</size><count>1</count><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/data/tmp/</tmp_path>
  <user_files_path>${dir}/data/user_files/</user_files_path>
  <format_schema_path>${dir}/data/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

/**
 * Whether the server answers /ping. The connection is closed after it: on SIGTERM the server
 * waits for open connections, and fetch's kept-alive one held every stop ~7 s longer.
 */
async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, {
      signal: AbortSignal.timeout(1000),
      headers: { connection: 'close' },
    });
    return res.ok && (await res.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

/** Starts a fresh server; throws (with its error log) when it does not answer /ping within 60 s. */
export async function startClickHouseServer(): Promise<ClickHouseServer> {
  const cmd = clickHouseCommand();
  if (cmd === undefined) throw new Error('clickhouse-server not found (run ops/install-test-deps.sh)');
  const dir = await mkdtemp(join(tmpdir(), 'headroom-ch-'));
  const [http, tcp, inter] = [await freePort(), await freePort(), await freePort()];
  await writeFile(join(dir, 'config.xml'), configXml(dir, http, tcp, inter));
  await writeFile(join(dir, 'users.xml'), USERS_XML);
  const url = `http://127.0.0.1:${http}`;
  let child: ChildProcess | undefined;
  // If the test process dies without stopping us, take the server down too.
  const onExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', onExit);

  const start = async (): Promise<void> => {
    const proc = spawn(cmd.bin, [...cmd.args, `--config-file=${join(dir, 'config.xml')}`], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    const deadline = Date.now() + 60_000;
    while (!(await ping(url))) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        const errLog = await readFile(join(dir, 'server.err.log'), 'utf8').catch(() => '');
        throw new Error(
          `clickhouse-server did not start (exit ${proc.exitCode}):\n${stderr}\n${errLog.slice(-4000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    const hard = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(hard);
  };

  await start();
  return {
    url,
    httpPort: http,
    dir,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async dispose() {
      await stop('SIGKILL');
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
