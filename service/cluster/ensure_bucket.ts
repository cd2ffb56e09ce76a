/**
 * A JetStream KV bucket of the cluster, created or bound to (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { jetstream, JetStreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";

const log = getLogger(["sda-ingest", "cluster"]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates bucket `name` (one value per key) or binds to it when it exists.
 * With `ttl` (the lease bucket) its entries expire that long after their
 * last write: a bucket made with another ttl is brought to this one, with
 * a duplicate window no longer than it (JetStream refuses a longer one, and
 * a bucket keeps the window of its first ttl).
 */
export async function ensureBucket(
  js: ReturnType<typeof jetstream>,
  jsm: JetStreamManager,
  name: string,
  options: { replicas: number; ttl?: number; storage: "file" | "memory"; timeout?: number },
): Promise<KV> {
  const kvm = new Kvm(js);
  let kv: KV;
  try {
    kv = await kvm.create(name, { history: 1, ...options });
  } catch (error) {
    // Another instance created it at the same moment: bind to it.
    log.debug("Creating bucket {name} failed ({error}); binding to it", {
      name,
      error: message(error),
    });
    kv = await kvm.open(name, { timeout: options.timeout });
  }
  if (options.ttl !== undefined) {
    const stream = `KV_${name}`;
    const info = await jsm.streams.info(stream);
    const ttl = Math.round(info.config.max_age / 1_000_000);
    if (ttl !== options.ttl) {
      // Lease expiry is the bucket's max_age: every instance must agree on it.
      log.warn("Lease bucket {name} expired entries after {ttl} ms; now nats.leaseMs = {leaseMs}", {
        name,
        ttl,
        leaseMs: options.ttl,
      });
      // JetStream refuses a duplicate window longer than max_age, and a
      // bucket keeps the one it was made with (its first ttl): a shorter
      // leaseMs was refused for ever, read as "NATS not ready".
      const maxAge = options.ttl * 1_000_000;
      await jsm.streams.update(stream, {
        ...info.config,
        max_age: maxAge,
        duplicate_window: Math.min(info.config.duplicate_window, maxAge),
      });
    }
  }
  return kv;
}
