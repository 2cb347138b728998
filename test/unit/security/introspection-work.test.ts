import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INACTIVE_KINDS, introspectionRig, type IntrospectionRig, type WorkCounts } from "../../support/introspection-bench.js";

/**
 * RFC 7662 privacy: an inactive answer must not say why, in its body or in its cost. Timing itself
 * is measured by scripts/bench/introspect-inactive.ts (never asserted here); this test pins the
 * work that timing comes from: keyed hashes and read-model lookups per call.
 */
describe("Introspect: every inactive token costs the same work", () => {
  let rig: IntrospectionRig;
  beforeAll(() => {
    rig = introspectionRig();
  });
  afterAll(() => rig.close());

  const measure = async (token: string): Promise<{ work: WorkCounts; active: boolean; body: unknown }> => {
    const before = { ...rig.counts };
    const answer = await rig.introspect(token);
    return { work: { hmacs: rig.counts.hmacs - before.hmacs, lookups: rig.counts.lookups - before.lookups }, active: answer.active, body: answer };
  };

  it("the fixture's active token (hashed with the older key) is active: the rig works", async () => {
    const answer = await measure(rig.tokens.active);
    expect(answer.active).toBe(true);
    expect(answer.work).toEqual({ hmacs: 2, lookups: 2 });
  });

  it("malformed, unknown, revoked and resource-hidden tokens: one HMAC and one lookup per verifying key, the same frozen answer", async () => {
    const verifying = rig.keyring.verifying.length;
    expect(verifying).toBe(2);
    const results: Array<readonly [string, Awaited<ReturnType<typeof measure>>]> = [];
    // One at a time: the counters are shared.
    for (const kind of INACTIVE_KINDS) results.push([kind, await measure(rig.tokens[kind])]);
    const first = results[0]?.[1];
    for (const [kind, result] of results) {
      expect(result.active, kind).toBe(false);
      expect(result.work, kind).toEqual({ hmacs: verifying, lookups: verifying });
      // The very same object: no field can differ.
      expect(result.body, kind).toBe(first?.body);
    }
  });

  it("IntrospectBatch does the same work per token: one HMAC and one lookup per verifying key each, the same frozen answers", async () => {
    const batch = [...INACTIVE_KINDS.map((kind) => rig.tokens[kind]), rig.tokens.active, ...INACTIVE_KINDS.map((kind) => rig.tokens[kind])];
    const single = await measure(rig.tokens.unknown);
    const before = { ...rig.counts };
    const { results } = await rig.introspectBatch(batch);
    // The active token (introspected above, hashed with the older key) is answered from the
    // active-answer cache for that key: one lookup fewer, for the one token answered active.
    expect({ hmacs: rig.counts.hmacs - before.hmacs, lookups: rig.counts.lookups - before.lookups }).toEqual({ hmacs: 2 * batch.length, lookups: 2 * batch.length - 1 });
    expect(results.map((r) => r.active)).toEqual([false, false, false, false, true, false, false, false, false]);
    for (const [i, r] of results.entries()) if (!r.active) expect(r, `tokens[${i}]`).toBe(single.body);
  });

  it("repeated and interleaved calls do not change the count (no cache short-cuts one kind)", async () => {
    for (let round = 0; round < 3; round++) {
      for (const kind of [...INACTIVE_KINDS].reverse()) {
        expect((await measure(rig.tokens[kind])).work, `${kind} round ${round}`).toEqual({ hmacs: 2, lookups: 2 });
      }
    }
  });
});
