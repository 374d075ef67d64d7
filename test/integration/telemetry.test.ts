// OpenTelemetry: a check is one trace from the node that took the request to
// the owner's actor on another node. Once with an in-memory exporter (two
// nodes in this process), once with real node processes exporting over
// OTLP/HTTP to a receiver on loopback.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { headers as natsHeaders } from 'nats';
import { ownerOf } from '../../lib/index.ts';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import type { HeadroomNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import { ruleOnEveryNode } from '../helpers/node-latches.ts';

const test = anyTest as TestFn<{ nats: NatsServer }>;

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const traceparent = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;

test.before(async (t) => {
  t.context.nats = await startNatsServer();
});
test.after.always(async (t) => {
  await t.context.nats?.stop();
});

/** A user whose token under `rule` is owned by `owner` among `nodes`. */
function userOwnedBy(rule: string, owner: string, nodes: string[]): string {
  for (let i = 0; ; i++) if (ownerOf(`${rule}|user=u${i}`, nodes) === owner) return `u${i}`;
}

test.serial(
  'telemetry - in-memory exporter: gateway span, route span and the owner actor span form one trace',
  async (t) => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    const nodes: HeadroomNode[] = [];
    try {
      const url = t.context.nats.url;
      for (const [id, httpPort] of [
        ['ta', 0],
        ['tb', null],
      ] as const) {
        nodes.push(
          await startNode(
            compileNodeOptions(
              undefined,
              {},
              { natsUrl: url, nodeId: id, httpPort, logLevel: 'error', rulesBucket: 'otel_mem' },
            ),
          ),
        );
      }
      const [a] = nodes;
      // Both nodes must see each other, or each places every token on itself.
      // And settled: no hand-off awaited, no learning time left (services/cluster/ownership.ts).
      await waitUntil(
        async () =>
          (await Promise.all(nodes.map((n) => n.api.status()))).every(
            (l) =>
              l.length === 2 &&
              l.every((s) => s.ownership?.pendingHandoffs === 0 && s.ownership.learningUntilMs === null),
          ),
        10_000,
        'two settled nodes',
      );
      await a!.rules.put({
        id: 'per-user',
        match: {},
        key: ['user'],
        rate: 10,
        period: '1s',
        burst: 10,
        priority: 0,
        mode: 'enforce',
      });
      const user = userOwnedBy('per-user', 'tb', ['ta', 'tb']);
      const res = await fetch(`${a!.httpUrl}/v1/check`, {
        method: 'POST',
        headers: { traceparent },
        body: JSON.stringify({ params: { user } }),
      });
      t.like(await res.json(), { allow: true, rule: 'per-user' });
      // A span is exported when it ends, and the check span may end after the reply went out:
      // wait for all three of this trace, whatever order they end in.
      const ofTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === TRACE_ID);
      const names = ['headroom.check', 'headroom.route.take', 'headroom.actor.take'];
      await waitUntil(
        () => names.every((n) => ofTrace().some((s) => s.name === n)),
        5000,
        'the check, route and actor spans',
      );
      const spans = ofTrace();
      const byName = new Map(spans.map((s) => [s.name, s]));
      const check = byName.get('headroom.check');
      const route = byName.get('headroom.route.take');
      const actor = byName.get('headroom.actor.take');
      t.truthy(check && route && actor, `spans: ${spans.map((s) => s.name).join(', ')}`);
      t.is(check!.parentSpanContext?.spanId, CLIENT_SPAN);
      t.is(route!.parentSpanContext?.spanId, check!.spanContext().spanId);
      t.is(actor!.parentSpanContext?.spanId, route!.spanContext().spanId);
      t.is(check!.attributes['headroom.node'], 'ta');
      t.is(actor!.attributes['headroom.owner'], 'tb');
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      trace.disable();
      await provider.shutdown();
    }
  },
);

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  status?: { code?: number };
}

test.serial(
  'telemetry - OTLP/HTTP: node processes export one linked trace to a receiver on loopback',
  async (t) => {
    const received: Array<{ service: string; span: OtlpSpan }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          const doc = JSON.parse(body) as {
            resourceSpans: Array<{
              resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
              scopeSpans: Array<{ spans: OtlpSpan[] }>;
            }>;
          };
          for (const rs of doc.resourceSpans) {
            const service =
              rs.resource.attributes.find((a) => a.key === 'service.instance.id')?.value.stringValue ?? '';
            for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    const url = t.context.nats.url;
    // Data dirs of this run only: another run of this file at the same time must not share their stores.
    const dir = await mkdtemp(join(tmpdir(), 'headroom-otel-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const procs = await Promise.all(
      ['oa', 'ob'].map((id) =>
        startNodeProcess({
          nodeId: id,
          args: [
            ...['--nats', url, '--data-dir', join(dir, id), '--rules-bucket', 'otel_http'],
            ...['--http-port', '0'], // the rule latch below asks each node itself
          ],
          env,
        }),
      ),
    );
    const nc = await client(url);
    try {
      await settle(nc, ['oa', 'ob']);
      const put = await request(nc, 'headroom.v1.rules.put', {
        id: 'per-user',
        key: ['user'],
        rate: 10,
        period: '1s',
      });
      t.is(put.error, undefined);
      await ruleOnEveryNode(procs, put.rule, 5000);
      // Checks for users owned by each node: whichever node takes the request, one crosses nodes.
      // 16 checks, 8 per owner: the queue group picks the gateway at random, so some
      // checks cross nodes (all of them staying local has a chance of 2^-16).
      for (const owner of Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 'oa' : 'ob'))) {
        const h = natsHeaders();
        h.set('traceparent', traceparent);
        const msg = await nc.request(
          'headroom.v1.check',
          JSON.stringify({ params: { user: userOwnedBy('per-user', owner, ['oa', 'ob']) } }),
          { timeout: 5000, headers: h },
        );
        t.like(JSON.parse(msg.string()), { allow: true });
      }
      // Each process exports on its own schedule: wait for every actor span and its ancestors.
      const complete = (): boolean => {
        const ids = new Set(received.map((r) => r.span.spanId));
        const actors = received.filter(
          (r) => r.span.traceId === TRACE_ID && r.span.name === 'headroom.actor.take',
        );
        const parentOf = new Map(received.map((r) => [r.span.spanId, r.span.parentSpanId ?? '']));
        return (
          actors.length >= 16 &&
          actors.every(
            (a) =>
              ids.has(a.span.parentSpanId ?? '') && ids.has(parentOf.get(a.span.parentSpanId ?? '') ?? ''),
          )
        );
      };
      await waitUntil(complete, 15_000, 'spans over OTLP');
      const spans = received.filter((r) => r.span.traceId === TRACE_ID);
      const byId = new Map(spans.map((r) => [r.span.spanId, r]));
      const actors = spans.filter((r) => r.span.name === 'headroom.actor.take');
      let crossed = 0;
      for (const actor of actors) {
        const route = byId.get(actor.span.parentSpanId ?? '');
        t.is(route?.span.name, 'headroom.route.take');
        const check = byId.get(route!.span.parentSpanId ?? '');
        t.is(check?.span.name, 'headroom.check');
        t.is(check!.span.parentSpanId, CLIENT_SPAN);
        if (check!.service !== actor.service) crossed++;
      }
      t.true(crossed >= 1, 'one of the checks crossed from the gateway node to the owner node');
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.stop()));
      receiver.close();
    }
  },
);
