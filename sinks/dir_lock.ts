/**
 * One writer per log directory: an advisory lock (`flock`) on the directory
 * itself, held for as long as the writer has the directory open and let go
 * by the kernel when the process dies, however it dies — no lock file, so
 * the directory holds nothing but segments and there is no stale lock to
 * clean up after a crash.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["sda-ingest", "log"]);

/** Another writer (a running service, a replay) has the directory open. */
export class DirectoryInUseError extends Error {
  /**
   * @param dir the directory
   * @param what what it holds: a log's segments, or a service's state files
   */
  constructor(readonly dir: string, what: "log" | "state" = "log") {
    super(
      what === "log"
        ? `${dir} is in use by another writer (a running service or replay): only one process may write a log directory`
        : `${dir} is in use by another running service: only one service may keep its cursors and watermarks there (give each its own state.dir)`,
    );
    this.name = "DirectoryInUseError";
  }
}

/** A held lock; {@link release} lets go of it. */
export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the lock of `dir` (created if missing) or throws
 * {@link DirectoryInUseError} at once, without waiting, when another open
 * handle holds it — in this process or any other.
 *
 * @example Only one writer at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { DirectoryInUseError, lockDirectory } from "./dir_lock.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const lock = await lockDirectory(dir);
 * await assert.rejects(lockDirectory(dir), DirectoryInUseError);
 * lock.release();
 * (await lockDirectory(dir)).release();
 * assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
 * await Deno.remove(dir);
 * ```
 */
export async function lockDirectory(
  dir: string,
  what: "log" | "state" = "log",
): Promise<DirectoryLock> {
  await Deno.mkdir(dir, { recursive: true });
  const handle = await Deno.open(dir, { read: true });
  let held = false;
  try {
    held = await handle.tryLock(true);
  } catch (error) {
    // A file system without flock on directories (NFS emulates it with
    // fcntl locks, which want a file open for writing: EBADF): the lock
    // guards against a mistake, so its absence must not stop the writer
    // (the handle is closed below).
    log.warn(
      "Cannot lock {dir} ({error}): a second writer of this directory would not be refused — run one process per directory",
      { dir, error: error instanceof Error ? error.message : String(error) },
    );
    return { release() {} };
  } finally {
    if (!held) handle.close();
  }
  if (!held) throw new DirectoryInUseError(dir, what);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      handle.close();
    },
  };
}
