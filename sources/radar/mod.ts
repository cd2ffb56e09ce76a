/**
 * The radar source's portable core (SPEC §4): CCSDS Tracking Data Messages
 * (CCSDS 503.0-B-2, versions 1.0 and 2.0, keyword = value notation) from any
 * byte source into observations and dead letters, with web APIs only — so it
 * runs unchanged in an edge worker.
 *
 * The TCP transport, which needs Deno, is `RadarTcpSource` in
 * `./tcp_adapter.ts`; it is not re-exported here so that importing this
 * module never pulls in Deno APIs.
 *
 * @module
 */

export * from "./decode_tdm.ts";
export * from "./tdm_decode_stream.ts";
