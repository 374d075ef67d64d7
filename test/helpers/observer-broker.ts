// A Moleculer broker that only watches a test's cluster (calls its actions,
// sees its nodes) over the test's nats-server; heartbeats as fast as the
// nodes' so it notices a node leaving within seconds.
import { ServiceBroker } from 'moleculer';

export function observerBroker(natsUrl: string, namespace: string): ServiceBroker {
  return new ServiceBroker({
    nodeID: `observer-${process.pid}`,
    namespace,
    transporter: { type: 'NATS', options: { url: natsUrl } },
    logLevel: 'warn',
    heartbeatInterval: 1,
    heartbeatTimeout: 3,
    skipProcessEventRegistration: true,
    tracing: false,
  });
}
