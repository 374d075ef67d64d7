/**
 * Configuration read by `headroom start` from the working directory.
 * `headroom`: Headroom's node options (see services/node-options.ts); the
 * environment (HEADROOM_*) and command-line flags override them.
 * `broker`: extra Moleculer broker options (logger, metrics, ...); Headroom
 * sets the transporter, node id, namespace and heartbeat itself.
 */
export default {
  headroom: {},
  broker: {
    logger: { type: 'Console', options: { formatter: 'short', colors: process.stdout.isTTY } },
  },
};
