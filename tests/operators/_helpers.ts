/** A readable that counts its pull() calls and produces 0, 1, 2, … up to `limit`. */
export function countingSource(
  limit = Infinity,
  highWaterMark = 1,
): { readable: ReadableStream<number>; pulls: () => number; cancelled: () => unknown } {
  let pulls = 0;
  let cancelReason: unknown = undefined;
  const readable = new ReadableStream<number>({
    pull(controller) {
      if (pulls >= limit) {
        controller.close();
        return;
      }
      controller.enqueue(pulls++);
    },
    cancel(reason) {
      cancelReason = reason ?? "cancelled";
    },
  }, { highWaterMark });
  return { readable, pulls: () => pulls, cancelled: () => cancelReason };
}

/** Lets queued promise callbacks and timers run. */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
