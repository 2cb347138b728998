import { describe, expect, it } from "vitest";
import { StalenessGuard } from "../../../services/app/staleness.js";

/** A guard on a hand-driven clock, log head and projection. */
function rig(maxStalenessMs = 1000) {
  const world = { now: 0, head: 0, applied: 0, reachable: true };
  const changes: boolean[] = [];
  const guard = new StalenessGuard({
    headSequence: () => (world.reachable ? Promise.resolve(world.head) : Promise.reject(new Error("no connection"))),
    appliedSeq: () => world.applied,
    maxStalenessMs,
    intervalMs: 100,
    now: () => world.now,
    onChange: (fresh) => changes.push(fresh),
  });
  return { world, guard, changes };
}

describe("StalenessGuard", () => {
  it("is stale until a first head read is applied", async () => {
    const { world, guard } = rig();
    expect(guard.isFresh()).toBe(false);
    world.head = 5;
    await guard.check();
    expect(guard.isFresh()).toBe(false);
    world.applied = 5;
    expect(guard.isFresh()).toBe(true);
  });

  it("confirms a head read at the time it was read, once applied (a busy log is never 'caught up')", async () => {
    const { world, guard } = rig();
    world.head = 10;
    await guard.check(); // read at 0, head 10
    world.now = 600;
    world.head = 20;
    world.applied = 12;
    await guard.check(); // read at 600, head 20: the read at 0 is confirmed
    expect(guard.confirmedAt).toBe(0);
    world.now = 1100;
    expect(guard.isFresh()).toBe(false);
    world.applied = 21;
    expect(guard.isFresh()).toBe(true);
    expect(guard.confirmedAt).toBe(600);
  });

  it("goes stale when the projector is stuck, and fresh again when it moves", async () => {
    const { world, guard, changes } = rig();
    await guard.check();
    expect(guard.isFresh()).toBe(true);
    world.head = 3;
    for (let t = 100; t <= 1500; t += 100) {
      world.now = t;
      await guard.check();
    }
    expect(guard.isFresh()).toBe(false);
    world.applied = 3;
    await guard.check();
    expect(guard.isFresh()).toBe(true);
    expect(changes).toEqual([true, false, true]);
  });

  it("goes stale when the log is unreachable, and recovers when it is back", async () => {
    const { world, guard } = rig();
    await guard.check();
    world.reachable = false;
    world.now = 1001;
    await guard.check();
    expect(guard.isFresh()).toBe(false);
    expect(guard.stalenessMs()).toBe(1001);
    world.reachable = true;
    await guard.check();
    expect(guard.isFresh()).toBe(true);
  });
});
