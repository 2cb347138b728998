import { assertNever } from "../shared/decider.js";
import type { SubjectEvent } from "./events.js";

export interface SubjectState {
  readonly subject: string | null;
  /** "Revoked before" watermark, epoch milliseconds: grants created at or before it are inactive. */
  readonly revokedAt: number | null;
  readonly revocations: number;
}

export const initialSubjectState: SubjectState = { subject: null, revokedAt: null, revocations: 0 };

export function evolveSubject(state: SubjectState, event: SubjectEvent): SubjectState {
  switch (event.type) {
    case "subject.revoked":
      return {
        subject: event.data.subject,
        // Never backwards, even for an event written before that rule existed: a lower watermark would revive tokens.
        revokedAt: Math.max(state.revokedAt ?? Number.NEGATIVE_INFINITY, event.data.revokedAt),
        revocations: state.revocations + 1,
      };
    default:
      return assertNever(event.type, "subject event");
  }
}
