import { describe, expect, it } from "vitest";
import { fold, initialSubjectState, type SubjectCommand, subjectDecider, type SubjectEvent } from "../../../services/domain/index.js";
import { decider } from "../../support/decider-spec.js";
import { T0 } from "./fixtures.js";

const spec = decider(subjectDecider);
const revokeSubject = (now: number, reason = "sign out everywhere"): SubjectCommand => ({ type: "RevokeSubject", now, subject: "user 1@example.com", reason });
const revoked = (revokedAt: number, reason = "sign out everywhere"): SubjectEvent => ({
  type: "subject.revoked",
  data: { subject: "user 1@example.com", reason, revokedAt },
});

describe("RevokeSubject", () => {
  it("sets the watermark at now", () => {
    spec.given([]).when(revokeSubject(T0)).then([revoked(T0)]);
  });

  it("moves the watermark on a second revocation", () => {
    spec.given([revoked(T0)]).when(revokeSubject(T0 + 5_000, "again")).then([revoked(T0 + 5_000, "again")]);
  });

  it("never moves the watermark backwards when this clock is behind the last one", () => {
    spec.given([revoked(T0)]).when(revokeSubject(T0 - 5_000)).then([revoked(T0)]);
  });

  it("rejects a blank subject", () => {
    spec.given([]).when({ type: "RevokeSubject", now: T0, subject: " ", reason: "x" }).thenThrows({ kind: "validation", field: "subject" });
  });
});

describe("subject evolve", () => {
  it("starts never revoked", () => {
    expect(subjectDecider.initialState).toEqual({ subject: null, revokedAt: null, revocations: 0 });
    expect(subjectDecider.initialState).toBe(initialSubjectState);
  });

  it("keeps the latest watermark and counts revocations", () => {
    expect(fold(subjectDecider, [revoked(T0), revoked(T0 + 10)])).toEqual({ subject: "user 1@example.com", revokedAt: T0 + 10, revocations: 2 });
  });

  it("keeps the highest watermark even if a lower one was recorded later", () => {
    expect(fold(subjectDecider, [revoked(T0 + 10), revoked(T0)])).toMatchObject({ revokedAt: T0 + 10, revocations: 2 });
  });
});
