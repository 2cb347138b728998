/** Public API of the audit core: records and their facts, filters, replay from the log, point in time. */
export { matchesFacts, matchesRecord, needsFacts, pushdownSubjects } from "./filter.js";
export { auditRecords, factsOf, grantFactsOf, KIND_BY_EVENT_TYPE, ownFacts, recordToJson } from "./records.js";
export { replayEvents } from "./replay.js";
export { deciderFor, getHistory, getStateAt, stateToJson } from "./state-at.js";

export type { AuditFilter } from "./filter.js";
export type { AuditRecord, AuditRecordJson, EventFacts, GrantFacts, GrantLookup } from "./records.js";
export type { ReplayOptions } from "./replay.js";
export type { HistoryCursor, HistoryPage, HistoryStep, PointInTime, StateAt } from "./state-at.js";
