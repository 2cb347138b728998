import { z } from "zod";
import { checkpointEventSchemas, type CheckpointEvent } from "./checkpoint/events.js";
import { clientEventSchemas, type ClientEvent } from "./client/events.js";
import { grantEventSchemas, type GrantEvent } from "./grant/events.js";
import { subjectEventSchemas, type SubjectEvent } from "./subject/events.js";

export type LedgerEvent = ClientEvent | GrantEvent | SubjectEvent | CheckpointEvent;
export type LedgerEventType = LedgerEvent["type"];
export type EventOf<T extends LedgerEventType> = Extract<LedgerEvent, { type: T }>;

/** Every event's current schema. A published schema is never edited: a new version gets an upcaster. */
export const eventSchemas = {
  ...clientEventSchemas,
  ...grantEventSchemas,
  ...subjectEventSchemas,
  ...checkpointEventSchemas,
} as const;

/** The schema version new events are written with, per type. */
export const CURRENT_SCHEMA_VERSION: { readonly [K in LedgerEventType]: number } = {
  "client.registered": 1,
  "client.suspended": 1,
  "client.reinstated": 1,
  "client.deleted": 1,
  "client.updated": 1,
  "client.secret_rotated": 1,
  "client.tokens_revoked": 1,
  "grant.created": 1,
  "grant.revoked": 1,
  "token.issued": 1,
  "token.revoked": 1,
  "grant.created_for_client": 1,
  "grant.scopes_updated": 1,
  "code.issued": 1,
  "code.redeemed": 1,
  "refresh.rotated": 1,
  "refresh.reuse_detected": 1,
  "subject.revoked": 1,
  "checkpoint.signed": 1,
};

/**
 * Upcasters from an older schema version of a type to the next one, keyed `<type>@<version>`.
 * Empty while every type is at version 1.
 */
export const upcasters: Readonly<Record<string, (data: unknown) => unknown>> = {};

export const isLedgerEventType = (type: string): type is LedgerEventType => Object.hasOwn(eventSchemas, type);

/** Validates raw event data of `type` written with `version`, upcasting it to the current version. */
export function parseEvent(type: string, version: number, data: unknown): LedgerEvent {
  if (!isLedgerEventType(type)) throw new Error(`unknown event type "${type}"`);
  const current = CURRENT_SCHEMA_VERSION[type];
  if (!Number.isInteger(version) || version < 1 || version > current) {
    throw new Error(`event "${type}" has schema version ${version}; this build knows 1..${current}`);
  }
  let upcast = data;
  for (let v = version; v < current; v++) {
    const step = upcasters[`${type}@${v}`];
    if (step === undefined) throw new Error(`no upcaster for "${type}" from version ${v}`);
    upcast = step(upcast);
  }
  const schema: z.ZodType = eventSchemas[type];
  return { type, data: schema.parse(upcast) } as LedgerEvent;
}
