/**
 * Stream operators: map, filter, scan, merge, partition, batch, dedupe, line
 * splitting, and the acknowledgement path. Everything here uses web APIs only
 * and runs in an edge worker.
 *
 * @module
 */

export * from "./ack.ts";
export * from "./batch_stream.ts";
export * from "./byte_reader.ts";
export * from "./checkpoint_queue.ts";
export * from "./dedupe_stream.ts";
export * from "./dedupe_window.ts";
export * from "./filter_stream.ts";
export * from "./ingest_batch.ts";
export * from "./line_split_stream.ts";
export * from "./map_stream.ts";
export * from "./merge_stream.ts";
export * from "./partition.ts";
export * from "./scan_stream.ts";
export * from "./sleep.ts";
