/**
 * The ISL source (SPEC §6): CCSDS Space Packets from inter-satellite-link
 * gateways, polled over UDP. Everything re-exported here is portable (web
 * APIs only) and runs in an edge worker; the UDP source itself,
 * `IslUdpSource`, is in `./udp_adapter.ts`.
 *
 * * Codec: {@link crc16}, {@link encodePoll} / {@link decodePoll},
 *   {@link encodeStatus} / {@link decodeStatus}, {@link encodeBeacon},
 *   {@link decodeDatagram}.
 * * Stateless decoding for replay and the edge worker: {@link decodeIslPackets}.
 * * The poll protocol and loss accounting: {@link GatewayPoller},
 *   {@link LinkSequenceTracker}; over any datagram transport:
 *   {@link IslPollSource}.
 *
 * @module
 */

export * from "./beacon.ts";
export * from "./crc16.ts";
export * from "./datagram_channel.ts";
export * from "./decode_datagram.ts";
export * from "./decode_isl_packets.ts";
export * from "./gateway_poller.ts";
export * from "./isl_poll_source.ts";
export * from "./link_sequence_tracker.ts";
export * from "./packet_cuts.ts";
export * from "./poll_request.ts";
export * from "./status_packet.ts";
