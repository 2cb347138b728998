import { z } from "zod";

/**
 * Events of the subject aggregate (a user), on subject `ledger.subject.<encoded subject>`.
 * `subject.revoked` is a watermark: every grant and token of the user recorded before it in the log
 * is inactive, so "sign this user out of every app" is one event.
 */
export const subjectEventSchemas = {
  "subject.revoked": z.object({ subject: z.string(), reason: z.string(), /** Epoch milliseconds. */ revokedAt: z.number().int() }),
} as const;

type Schemas = typeof subjectEventSchemas;
export type SubjectEventType = keyof Schemas;
export type SubjectEvent = { [K in SubjectEventType]: { type: K; data: z.infer<Schemas[K]> } }[SubjectEventType];
