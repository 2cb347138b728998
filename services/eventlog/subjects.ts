import { decodeSubjectToken, encodeSubjectToken } from "../domain/shared/ids.js";
import type { AggregateKind, AggregateRef } from "./types.js";

/** Default subject root: messages live on `ledger.<kind>.<encoded id>`. */
export const DEFAULT_SUBJECT_ROOT = "ledger";

const AGGREGATE_KINDS: readonly AggregateKind[] = ["client", "grant", "subject", "checkpoint"];
/**
 * Encodes an id into one subject token: ids matching `/^[A-Za-z0-9_-]{1,128}$/` pass unchanged, any
 * other becomes `"~" + base64url(utf8(id))`. The domain owns the rule
 * (services/domain/shared/ids.ts); re-exported here so adapters need not reach into the domain.
 */
export const encodeIdToken = (id: string): string => encodeSubjectToken(id);

/** Inverse of {@link encodeIdToken}; undefined for a token that no id encodes to (canonically). */
export function decodeIdToken(token: string): string | undefined {
  try {
    return decodeSubjectToken(token);
  } catch {
    return undefined;
  }
}

const isAggregateKind = (kind: string): kind is AggregateKind => (AGGREGATE_KINDS as readonly string[]).includes(kind);

/** The subject of one aggregate instance: `<root>.<kind>.<encoded id>`. */
export function subjectFor(ref: AggregateRef, root: string = DEFAULT_SUBJECT_ROOT): string {
  return `${root}.${ref.kind}.${encodeIdToken(ref.id)}`;
}

/** The aggregate a subject belongs to; undefined when the subject is not `<root>.<kind>.<encoded id>`. */
export function aggregateFromSubject(subject: string, root: string = DEFAULT_SUBJECT_ROOT): AggregateRef | undefined {
  const prefix = `${root}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length).split(".");
  if (rest.length !== 2) return undefined;
  const [kind, token] = rest as [string, string];
  if (!isAggregateKind(kind)) return undefined;
  const id = decodeIdToken(token);
  return id === undefined ? undefined : { kind, id };
}

/** The wildcard covering every aggregate subject under `root`, for the stream's subject list. */
export const streamSubjects = (root: string = DEFAULT_SUBJECT_ROOT): string => `${root}.>`;
