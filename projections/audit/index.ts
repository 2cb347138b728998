export {
  applyAuditEnvelope,
  AUDIT_PROJECTION,
  AUDIT_PROJECTION_NAME,
  AUDIT_PROJECTION_VERSION,
  createAuditProjection,
  prepareAuditStatements,
} from "./handlers.js";
export { AuditReadModel } from "./queries.js";
export { AUDIT_SCHEMA, migrateAudit } from "./schema.js";

export type { AuditStatements } from "./handlers.js";
export type { AuditCursor, AuditRow, SearchOptions, SearchPage } from "./queries.js";
