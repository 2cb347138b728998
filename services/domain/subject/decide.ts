import { assertNever } from "../shared/decider.js";
import { validationError } from "../shared/errors.js";
import type { SubjectCommand } from "./commands.js";
import type { SubjectEvent } from "./events.js";
import type { SubjectState } from "./state.js";

export function decideSubject(command: SubjectCommand, state: SubjectState): SubjectEvent[] {
  switch (command.type) {
    case "RevokeSubject": {
      if (command.subject.trim() === "") throw validationError("subject is required", { field: "subject", oauthCode: "invalid_request" });
      // Command services' clocks may disagree; a watermark that moved backwards would revive tokens
      // the earlier revocation already killed, so the event itself never goes below the last one.
      const revokedAt = Math.max(command.now, state.revokedAt ?? Number.NEGATIVE_INFINITY);
      return [{ type: "subject.revoked", data: { subject: command.subject, reason: command.reason, revokedAt } }];
    }
    default:
      return assertNever(command.type, "subject command");
  }
}
