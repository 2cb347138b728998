export { createMemoryEventLog } from "./memory.js";
export {
  connectEventLog,
  createJetStreamEventLog,
  DEFAULT_STREAM,
  ensureStream,
  streamConfig,
} from "./jetstream.js";
export {
  createKvOutcomeStore,
  createMemoryOutcomeStore,
  DEFAULT_OUTCOME_BUCKET,
  outcomeKey,
} from "./outcomes.js";
export {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeDecodeError,
  ENVELOPE_VERSION,
  hashBody,
  HEADER_EVENT_ID,
  HEADER_EVENT_TYPES,
  HEADER_MSG_ID,
  HEADER_SCHEMA_VERSIONS,
} from "./codec.js";
export {
  aggregateFromSubject,
  decodeIdToken,
  DEFAULT_SUBJECT_ROOT,
  encodeIdToken,
  streamSubjects,
  subjectFor,
} from "./subjects.js";

export type { MemoryEventLog, MemoryEventLogOptions } from "./memory.js";
export type {
  JetStreamEventLog,
  JetStreamEventLogAdapterOptions,
  JetStreamEventLogOptions,
  StreamOptions,
} from "./jetstream.js";
export type { KvOutcomeStoreOptions, MemoryOutcomeStoreOptions, OutcomeStore } from "./outcomes.js";
export type { EncodedEnvelope, StoredMessage } from "./codec.js";
export type {
  AggregateKind,
  AggregateRef,
  AppendRequest,
  AppendResult,
  EnvelopeMeta,
  EventLog,
  RecordedEnvelope,
} from "./types.js";
