import { aggregateFromSubject } from "../eventlog/subjects.js";
import { type AuditFilter, matchesFacts, needsFacts } from "./filter.js";
import type { GrantLookup } from "./records.js";

/** Says from a message's subject and raw body, before any decoding, whether it can hold a match. */
export type MessagePrefilter = (subject: string, body: Uint8Array) => boolean;

const BACKSLASH = 0x5c;
const needle = (value: string): Buffer => Buffer.from(JSON.stringify(value));
const PAYLOAD_FACT_KEYS = ["subject", "clientId", "resources"].map((key) => Buffer.from(`${JSON.stringify(key)}:`));
const GRANT_ID_KEY = Buffer.from(`${JSON.stringify("grantId")}:`);

/** Every `"grantId":` in `body` is followed by exactly `"<grantId>"` (events of this grant only). */
function onlyGrant(body: Buffer, grantId: string): boolean {
  const value = needle(grantId);
  for (let at = body.indexOf(GRANT_ID_KEY); at !== -1; at = body.indexOf(GRANT_ID_KEY, at + 1)) {
    const start = at + GRANT_ID_KEY.length;
    if (start + value.length > body.length || body.compare(value, 0, value.length, start, start + value.length) !== 0) return false;
  }
  return true;
}

/**
 * A filtered replay's shortcut past messages that cannot match, so it reads them at raw speed
 * instead of parsing and validating each (JSON.parse + zod is ~2/3 of a replay's cost per message).
 *
 * Exact, never a guess: it says false only when no record of the message can match.
 * - A body with no backslash holds every string value literally, so an event of type T contains
 *   the bytes `"T"` and an envelope by actor A the bytes `"A"`: without them, no type or actor match.
 *   Any backslash (an escape could spell the same string differently) and the message is decoded.
 * - A message of a grant whose creation was already seen, whose payloads name no user, client or
 *   resource of their own (no `"subject":`, `"clientId":`, `"resources":` in the body) and no grant
 *   but this one, concerns exactly that grant's user, client and resources: if those fail the
 *   filter, nothing matches.
 *
 * Skipped messages are not decoded, so a damaged message that cannot match is not reported by a
 * filtered replay; proving the log intact is `audit verify`'s job, which reads every byte.
 * Undefined when the filter has nothing to check this way.
 */
export function messagePrefilter(filter: AuditFilter, subjectRoot: string, grants: GrantLookup): MessagePrefilter | undefined {
  const types = filter.types !== undefined && filter.types.length > 0 ? filter.types.map(needle) : undefined;
  const actor = filter.actor === undefined ? undefined : needle(filter.actor);
  const facts = needsFacts(filter);
  if (types === undefined && actor === undefined && !facts) return undefined;
  return (subject, bytes) => {
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (body.includes(BACKSLASH)) return true;
    if (actor !== undefined && !body.includes(actor)) return false;
    if (types !== undefined && !types.some((t) => body.includes(t))) return false;
    if (facts) {
      const aggregate = aggregateFromSubject(subject, subjectRoot);
      if (aggregate?.kind !== "grant") return true;
      const grant = grants(aggregate.id);
      if (grant === undefined || PAYLOAD_FACT_KEYS.some((key) => body.includes(key)) || !onlyGrant(body, aggregate.id)) return true;
      return matchesFacts(filter, { subject: grant.subject, clientId: grant.clientId, grantId: aggregate.id, resources: grant.resources });
    }
    return true;
  };
}
