import type { Decider } from "../shared/decider.js";
import type { SubjectCommand } from "./commands.js";
import { decideSubject } from "./decide.js";
import type { SubjectEvent } from "./events.js";
import { evolveSubject, initialSubjectState, type SubjectState } from "./state.js";

/** A user's "revoked before" watermark: signing a user out of every app is one event. */
export const subjectDecider: Decider<SubjectCommand, SubjectEvent, SubjectState> = {
  initialState: initialSubjectState,
  decide: decideSubject,
  evolve: evolveSubject,
};
