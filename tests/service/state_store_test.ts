import assert from "node:assert/strict";
import { StateStore } from "../../service/state_store.ts";
import { removeDir } from "../_observations.ts";

Deno.test("StateStore.load() refuses a state file without a saved value, naming it, rather than starting over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-state-" });
  try {
    const store = new StateStore(dir);
    assert.equal(await store.load("optical.archive"), undefined, "never saved: a first start");
    await store.save("optical.archive", "v1.2989");
    assert.equal(await store.load("optical.archive"), "v1.2989");
    // A failed save of a state file (a disk full for a moment) is tried again.
    assert.equal(store.checkpoint("optical.archive").retryMs, 1000);
    // Where it is, for the errors of a source that cannot use what it holds.
    assert.equal(
      store.checkpoint("optical.archive").where,
      `state file ${store.path("optical.archive")}`,
    );
    for (const text of ["{}", '{"value":null}', "[]", '"v1.2989"', "null"]) {
      await Deno.writeTextFile(store.path("optical.archive"), text);
      await assert.rejects(
        store.load("optical.archive"),
        (error: Error) => {
          assert.equal(
            error.message,
            `State file ${
              store.path("optical.archive")
            } holds no saved value (expected {"value": …}); remove it to start over`,
          );
          return true;
        },
        text,
      );
    }
  } finally {
    await removeDir(dir);
  }
});
