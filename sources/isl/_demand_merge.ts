/**
 * A merge of readables that reads its inputs only on demand.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Merges `inputs` into one readable that reads an input only when its own
 * reader asks for a chunk — unlike `MergeStream`, which keeps a read pending
 * on every input. For the ISL source, a read is a poll: no demand, no poll.
 * On demand every idle input is read at once and the first chunk to arrive
 * is delivered; the others wait (one per input), oldest first.
 */
export function demandMerge<T>(inputs: ReadableStream<T>[]): ReadableStream<T> {
  const readers = inputs.map((input) => input.getReader());
  const reading = new Set<number>();
  const finished = new Set<number>();
  const ready: T[] = [];
  let deliver: (() => boolean) | undefined;
  let failed = false;
  const cancelAll = (reason: unknown) =>
    Promise.all(readers.map((reader) => reader.cancel(reason).catch(() => {}))).then(() => {});
  return new ReadableStream<T>({
    pull(controller) {
      return new Promise<void>((resolve, reject) => {
        const tryDeliver = (): boolean => {
          if (ready.length > 0) {
            controller.enqueue(ready.shift()!);
            resolve();
            return true;
          }
          if (finished.size === readers.length) {
            controller.close();
            resolve();
            return true;
          }
          return false;
        };
        if (tryDeliver()) return;
        deliver = tryDeliver;
        readers.forEach((reader, i) => {
          if (reading.has(i) || finished.has(i)) return;
          reading.add(i);
          reader.read().then(({ done, value }) => {
            reading.delete(i);
            if (done) finished.add(i);
            else ready.push(value);
            if (deliver?.()) deliver = undefined;
          }, (error) => {
            if (failed) return;
            failed = true;
            deliver = undefined;
            reject(error);
            cancelAll(error);
          });
        });
      });
    },
    cancel: cancelAll,
  }, { highWaterMark: 0 });
}
