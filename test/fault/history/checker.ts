/**
 * Checks a fault run's history against the log and the replicas' read models. Pure: the caller
 * reads the log and the SQLite files. Every check names what broke, so a violation is a bug report.
 */
import { quantile } from "../../../scripts/bench/lib/stats.js";
import type { RecordedEnvelope } from "../../../services/eventlog/types.js";
import type { CommandOp, IntrospectOp, Op, WindowOp } from "./history.js";

/** What one replica's tokens read model holds once caught up. */
export interface ReplicaView {
  readonly name: string;
  readonly checkpoint: number;
  readonly digest: string;
  readonly tokenIds: ReadonlySet<string>;
  readonly revokedGrants: ReadonlySet<string>;
}

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface CheckReport {
  readonly violations: readonly string[];
  readonly commands: Readonly<Record<string, number>>;
  readonly introspections: number;
  readonly readYourWritesChecked: number;
  /** Revocation ack → last active=true without min_sequence, ms. */
  readonly revocationWindow: Percentiles;
  readonly unsettledWindows: number;
  readonly logMessages: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
}

const key = (a: RecordedEnvelope["aggregate"]): string => `${a.kind}:${a.id}`;

export function checkHistory(ops: readonly Op[], log: readonly RecordedEnvelope[], replicas: readonly ReplicaView[]): CheckReport {
  const violations: string[] = [];
  const bySeq = new Map(log.map((e) => [e.seq, e]));
  const byRequest = new Map<string, RecordedEnvelope[]>();
  for (const e of log) byRequest.set(e.requestId, [...(byRequest.get(e.requestId) ?? []), e]);
  const head = log.at(-1)?.seq ?? 0;

  // 1. Every acknowledged command is in the log exactly once, at the sequence it was told; no
  //    command, acknowledged or not, had its effect twice.
  const commands = ops.filter((o): o is CommandOp => o.kind === "command");
  const tally: Record<string, number> = {};
  for (const c of commands) {
    const name = `${c.command}:${c.outcome}${c.code === undefined || c.outcome === "ok" ? "" : `(${c.code})`}`;
    tally[name] = (tally[name] ?? 0) + 1;
    const found = byRequest.get(c.requestId) ?? [];
    if (found.length > 1) violations.push(`${c.command} ${c.requestId} appended ${found.length} times (seqs ${found.map((e) => e.seq).join(", ")})`);
    if (c.outcome !== "ok") continue;
    const at = c.seq === undefined ? undefined : bySeq.get(c.seq);
    if (at === undefined) violations.push(`${c.command} ${c.requestId} acknowledged at seq ${c.seq} but no such message in the log`);
    else if (at.requestId !== c.requestId) violations.push(`${c.command} ${c.requestId} acknowledged at seq ${c.seq}, which holds request ${at.requestId}`);
  }

  // 1b. A command never reads a stale log: once a grant's creation was acknowledged, no later
  //     command on it is told the grant does not exist.
  const createdAt = new Map<string, number>();
  for (const c of commands) if (c.command === "CreateGrant" && c.outcome === "ok" && c.grantId !== undefined) createdAt.set(c.grantId, c.completedAt);
  for (const c of commands) {
    const created = c.grantId === undefined ? undefined : createdAt.get(c.grantId);
    if (c.outcome === "fail" && c.code === "NOT_FOUND" && created !== undefined && created < c.invokedAt) {
      violations.push(`${c.command} ${c.requestId} was told grant ${c.grantId} does not exist, after its creation was acknowledged`);
    }
  }

  // 2. Its effect is in every replica's read model once caught up.
  const revokedAt = new Map<string, number>();
  const issuedTokens: string[] = [];
  for (const e of log) {
    for (const event of e.events) {
      if (event.type === "grant.revoked" && !revokedAt.has(event.data.grantId)) revokedAt.set(event.data.grantId, e.seq);
      if (event.type === "token.issued" || event.type === "refresh.rotated") for (const t of event.data.tokens) issuedTokens.push(t.tokenId);
    }
  }
  for (const r of replicas) {
    if (r.checkpoint !== head) violations.push(`replica ${r.name} stopped at seq ${r.checkpoint}, the log's head is ${head}`);
    const missing = issuedTokens.filter((t) => !r.tokenIds.has(t));
    if (missing.length > 0) violations.push(`replica ${r.name} lacks ${missing.length} issued tokens (first ${missing[0]})`);
    const notRevoked = [...revokedAt.keys()].filter((g) => !r.revokedGrants.has(g));
    if (notRevoked.length > 0) violations.push(`replica ${r.name} does not show ${notRevoked.length} revoked grants as revoked (first ${notRevoked[0]})`);
  }

  // 3. Read-your-writes: with min_sequence at or past a grant's revocation, never active.
  const introspections = ops.filter((o): o is IntrospectOp => o.kind === "introspect");
  let rywChecked = 0;
  for (const i of introspections) {
    const revoked = revokedAt.get(i.grantId);
    if (i.outcome !== "ok" || revoked === undefined || i.minSequence === undefined || i.minSequence < revoked) continue;
    rywChecked++;
    if (i.active === true) violations.push(`replica ${i.replica} said active for grant ${i.grantId} with min_sequence ${i.minSequence} ≥ its revocation at ${revoked}`);
  }
  // And a token read at its own issuing sequence, before any revocation of its grant, is active.
  for (const i of introspections) {
    const revoked = revokedAt.get(i.grantId);
    if (i.outcome !== "ok" || i.minSequence === undefined || i.minSequence < i.tokenSeq || (revoked !== undefined && revoked <= i.minSequence)) continue;
    if (i.active !== true && (revoked === undefined || i.invokedAt < (bySeq.get(revoked)?.storedAt ?? Infinity))) {
      violations.push(`replica ${i.replica} said inactive for a token of grant ${i.grantId} read at min_sequence ${i.minSequence} before any revocation`);
    }
  }

  // 4. All replicas hold the same content.
  const digests = new Set(replicas.map((r) => r.digest));
  if (digests.size > 1) violations.push(`replica digests differ: ${replicas.map((r) => `${r.name}=${r.digest.slice(0, 12)}@${r.checkpoint}`).join(" ")}`);

  // 5. No aggregate has two events appended against the same prior version: each message's `prev`
  //    is the hash of the aggregate's message before it.
  const last = new Map<string, string>();
  for (const e of log) {
    const k = key(e.aggregate);
    const expected = last.get(k) ?? null;
    if (e.prev !== expected) violations.push(`seq ${e.seq} (${k}) was appended against ${e.prev?.slice(0, 12) ?? "nothing"}, not the aggregate's last message ${expected?.slice(0, 12) ?? "(none)"}`);
    last.set(k, e.hash);
  }

  const windows = ops.filter((o): o is WindowOp => o.kind === "window");
  return {
    violations,
    commands: tally,
    introspections: introspections.length,
    readYourWritesChecked: rywChecked,
    revocationWindow: percentiles(windows.map((w) => w.ms)),
    unsettledWindows: windows.filter((w) => !w.settled).length,
    logMessages: log.length,
  };
}
