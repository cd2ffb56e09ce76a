/**
 * The optical source (SPEC §5): UDL-style EO observations pulled from an
 * HTTP archive.
 *
 * This module re-exports the portable page decoder only, so that it stays
 * importable from an edge worker or a browser. The Deno HTTP source is
 * `OpticalHttpSource` in `./http_adapter.ts`.
 *
 * @module
 */

export * from "./decode_optical_page.ts";
