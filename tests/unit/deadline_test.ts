// The one deadline helper, timed by a global timer or (unref) by
// AbortSignal.timeout: the same outcomes either way.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startDeadline, withDeadline } from "../../src/shared/deadline.ts";

for (const unref of [false, true]) {
  describe(`withDeadline() timed ${unref ? "by AbortSignal.timeout (unref)" : "by a timer"}`, () => {
    it("ends a wait that never settles with the reason, for a delay that is not a whole number of ms", async () => {
      const reason = new Error("over");
      // An unref deadline does not keep the process alive: in use the wait
      // does (files, sockets); here an interval stands in for it.
      const alive = setInterval(() => {}, 1_000);
      try {
        await assert.rejects(
          withDeadline(2.5, () => new Promise<never>(() => {}), { reason: () => reason, unref }),
          (error) => error === reason,
        );
      } finally {
        clearInterval(alive);
      }
    });

    it("returns what the wait resolves to, and its signal stays unaborted once cleared", async () => {
      let seen: AbortSignal | undefined;
      const value = await withDeadline(60_000, (signal) => {
        seen = signal;
        return Promise.resolve(42);
      }, { unref });
      assert.equal(value, 42);
      assert.equal(seen?.aborted, false);
    });

    it("aborts with the parent signal's reason, and says the time did not run out", async () => {
      const parent = new AbortController();
      const deadline = startDeadline(60_000, { signal: parent.signal, unref });
      const waiting = deadline.race(new Promise<never>(() => {}));
      parent.abort(new Error("parent"));
      await assert.rejects(waiting, /parent/);
      assert.equal(deadline.expired, false);
      deadline.clear();
    });
  });
}
