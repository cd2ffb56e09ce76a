# workerd configuration of the edge worker (SPEC §13): the module that
# `deno task build:edge` writes to dist/worker.js, served on 127.0.0.1:8787.
#
#   deno task build:edge
#   ./node_modules/.bin/workerd serve edge/workerd.capnp      (or: npx workerd serve …)
#   curl --data-binary @fixtures/radar/tdm2_azel_xsye.kvn http://127.0.0.1:8787/ingest/radar
#
# `--socket-addr http=HOST:PORT` serves elsewhere without editing this file.

using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  # V8 sizes its young generation by the allocation rate, up to 3 × 16 MiB
  # here, and a decoder allocates fast: with the default, 100 MB of radar
  # grew the process by ~100 MB of garbage not yet collected. Capped like an
  # edge isolate's memory (128 MB), it grows by a few MB (tests/edge/workerd_test.ts),
  # and the `edge` benchmark measured it no slower.
  v8Flags = [ "--max-semi-space-size=4" ],
  services = [ (name = "ingest", worker = .ingestWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "ingest") ],
);

const ingestWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "../dist/worker.js") ],
  compatibilityDate = "2026-11-17",
  bindings = [
    # Largest request body read, bytes (bodies stream: memory does not grow with it).
    (name = "MAX_BODY_BYTES", text = "1073741824"),
  ],
);
