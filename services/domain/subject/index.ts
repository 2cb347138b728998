export { decideSubject } from "./decide.js";
export { subjectDecider } from "./decider.js";
export { subjectEventSchemas } from "./events.js";
export { evolveSubject, initialSubjectState } from "./state.js";

export type { RevokeSubject, SubjectCommand } from "./commands.js";
export type { SubjectEvent, SubjectEventType } from "./events.js";
export type { SubjectState } from "./state.js";
