/**
 * Sources from their configuration.
 *
 * @module
 */

import { IslUdpSource } from "../sources/isl/udp_adapter.ts";
import { OpticalHttpSource } from "../sources/optical/http_adapter.ts";
import { RadarTcpSource } from "../sources/radar/tcp_adapter.ts";
import type { Source } from "../sources/source.ts";
import type { SourceConfig } from "./config.ts";
import type { StateStore } from "./state_store.ts";

/**
 * The source a configuration describes. Optical cursors and ISL watermarks
 * are kept in `state` under `optical.<name>` and `isl.<name>.<host>:<port>`.
 * An optical token is read from the environment variable named by
 * `tokenEnv` here, once, and never logged; its `caFile` is read here too.
 */
export function createSource(config: SourceConfig, state: StateStore): Source {
  switch (config.kind) {
    case "radar":
      return new RadarTcpSource({
        // SPEC §15: the files were checked readable when the configuration was loaded.
        tls: config.tls === undefined ? undefined : {
          cert: Deno.readTextFileSync(config.tls.certFile),
          key: Deno.readTextFileSync(config.tls.keyFile),
          clientCa: config.tls.clientCaFile === undefined
            ? undefined
            : Deno.readTextFileSync(config.tls.clientCaFile),
        },
        allow: config.allow,
        sensors: config.sensors,
        clients: config.clients,
        name: config.name,
        hostname: config.hostname,
        port: config.port,
        maxLineBytes: config.maxLineBytes,
        groupIdleMs: config.groupIdleMs,
        maxConnections: config.maxConnections,
        idleTimeoutMs: config.idleTimeoutMs,
      });
    case "optical":
      return new OpticalHttpSource({
        name: config.name,
        url: config.url,
        accept: config.accept,
        pageSize: config.pageSize,
        pollIntervalMs: config.pollIntervalMs,
        timeoutMs: config.timeoutMs,
        token: config.tokenEnv === undefined ? undefined : Deno.env.get(config.tokenEnv),
        startTime: config.startTime,
        maxPageBytes: config.maxPageBytes,
        caCerts: config.caFile === undefined ? undefined : [Deno.readTextFileSync(config.caFile)],
        sensors: config.sensors,
        checkpoint: state.checkpoint(`optical.${config.name}`),
      });
    case "isl":
      return new IslUdpSource({
        name: config.name,
        gateways: config.gateways,
        pollIntervalMs: config.pollIntervalMs,
        timeoutMs: config.timeoutMs,
        maxPackets: config.maxPackets,
        maxLossJump: config.maxLossJump,
        sensors: config.sensors,
        checkpoint: (gateway) => state.checkpoint(`isl.${config.name}.${gateway}`),
      });
  }
}
