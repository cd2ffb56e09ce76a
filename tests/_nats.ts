/** Real nats-server processes with JetStream on free loopback ports, for tests. */

import { LocalNats } from "../service/cluster/local_nats.ts";

export { LocalNats };

/** A single JetStream server. */
export interface NatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts `nats-server -js` (Debian package nats-server) and waits until JetStream answers. */
export async function startNatsServer(): Promise<NatsServer> {
  const nats = await LocalNats.start();
  return { url: nats.urls[0], port: nats.nodes[0].port, stop: () => nats.stop() };
}

/**
 * Starts a 3-node JetStream cluster on loopback (routes between all, own
 * ports and store directories); resolves once it has a meta leader, within
 * 20 s. `noAdvertise` keeps clients on the servers they were given.
 */
export function startNatsCluster(options: { noAdvertise?: boolean } = {}): Promise<LocalNats> {
  return LocalNats.start({ nodes: 3, noAdvertise: options.noAdvertise });
}
