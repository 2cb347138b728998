import { describe, expect, it } from "vitest";
import type { RecordedEnvelope } from "../../../services/eventlog/types.js";
import { checkHistory, percentiles, type ReplicaView } from "../../fault/history/checker.js";
import type { CommandOp, IntrospectOp, Op } from "../../fault/history/history.js";
import { EnvelopeBuilder, grantRevoked, issued, T0, tokenIssued } from "../../support/envelopes.js";

/** A log of: token t1 issued under g1 (seq 1), g1 revoked (seq 2). */
function story(): { log: RecordedEnvelope[]; ops: Op[]; replica: ReplicaView } {
  const b = new EnvelopeBuilder();
  const log = [b.next(tokenIssued("g1", [issued("t1")])), b.next(grantRevoked("g1"))];
  const cmd = (command: CommandOp["command"], e: RecordedEnvelope): CommandOp => ({
    kind: "command", worker: 0, command, requestId: e.requestId, grantId: "g1", outcome: "ok", seq: e.seq, tries: 1, invokedAt: e.at - 5, completedAt: e.at + 5,
  });
  const read = (minSequence: number, active: boolean, invokedAt: number): IntrospectOp => ({
    kind: "introspect", worker: 0, replica: 0, grantId: "g1", tokenSeq: 1, minSequence, outcome: "ok", active, invokedAt, completedAt: invokedAt + 1,
  });
  const ops: Op[] = [cmd("IssueTokens", log[0] as RecordedEnvelope), read(1, true, T0 + 1500), cmd("RevokeGrant", log[1] as RecordedEnvelope), read(2, false, T0 + 2500)];
  const replica: ReplicaView = { name: "A", checkpoint: 2, digest: "d", tokenIds: new Set(["t1"]), revokedGrants: new Set(["g1"]) };
  return { log, ops, replica };
}

describe("fault history checker", () => {
  it("given a clean history, finds nothing", () => {
    const { log, ops, replica } = story();
    const report = checkHistory(ops, log, [replica, { ...replica, name: "B" }]);
    expect(report.violations).toEqual([]);
    expect(report.readYourWritesChecked).toBe(1);
  });

  it("given an active answer at min_sequence past the revocation, reports it", () => {
    const { log, ops, replica } = story();
    const bad: Op[] = [...ops, { ...(ops[3] as IntrospectOp), active: true }];
    expect(checkHistory(bad, log, [replica]).violations).toEqual([expect.stringContaining("said active for grant g1 with min_sequence 2")]);
  });

  it("given an acknowledged command missing from the log or appended twice, reports it", () => {
    const { log, ops, replica } = story();
    const lost: Op[] = [...ops, { ...(ops[0] as CommandOp), requestId: "r-lost", seq: 9 }];
    expect(checkHistory(lost, log, [replica]).violations).toEqual([expect.stringContaining("no such message")]);
    const twice = [...log, { ...(log[1] as RecordedEnvelope), seq: 3, prev: (log[1] as RecordedEnvelope).hash, hash: "sha-3" }];
    expect(checkHistory(ops, twice, [{ ...replica, checkpoint: 3 }]).violations).toEqual([expect.stringContaining("appended 2 times")]);
  });

  it("given replicas that lag, lack effects or differ, reports each", () => {
    const { log, ops, replica } = story();
    const report = checkHistory(ops, log, [replica, { name: "B", checkpoint: 1, digest: "e", tokenIds: new Set(), revokedGrants: new Set() }]);
    expect(report.violations).toEqual([
      expect.stringContaining("replica B stopped at seq 1"),
      expect.stringContaining("replica B lacks 1 issued tokens"),
      expect.stringContaining("replica B does not show 1 revoked grants"),
      expect.stringContaining("replica digests differ"),
    ]);
  });

  it("given two messages appended against the same prior version of an aggregate, reports it", () => {
    const { log, ops, replica } = story();
    const forked = [log[0] as RecordedEnvelope, { ...(log[1] as RecordedEnvelope), prev: null }];
    expect(checkHistory(ops, forked, [replica]).violations).toEqual([expect.stringContaining("seq 2 (grant:g1) was appended against nothing")]);
  });

  it("computes nearest-rank percentiles", () => {
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ count: 5, p50: 3, p99: 5, max: 5 });
    expect(percentiles([])).toEqual({ count: 0, p50: 0, p99: 0, max: 0 });
  });
});

describe("fault history checker: stale reads on the write side", () => {
  it("given NOT_FOUND for a grant whose creation was acknowledged before, reports it", () => {
    const { log, ops, replica } = story();
    const created: CommandOp = { kind: "command", worker: 0, command: "CreateGrant", requestId: "c1", grantId: "g1", outcome: "ok", seq: 1, tries: 1, invokedAt: T0, completedAt: T0 + 10 };
    const stale: CommandOp = { kind: "command", worker: 0, command: "IssueTokens", requestId: "i9", grantId: "g1", outcome: "fail", code: "NOT_FOUND", tries: 1, invokedAt: T0 + 20, completedAt: T0 + 30 };
    const violations = checkHistory([...ops, created, stale], log, [replica]).violations;
    expect(violations).toContainEqual(expect.stringContaining("IssueTokens i9 was told grant g1 does not exist"));
  });
});
