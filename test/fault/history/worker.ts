/**
 * One client process of the cluster fault test: runs a mixed load (register, grant, issue, refresh,
 * revoke, introspect) against every ledger replica it is given, until its time is up, and records
 * each operation into its history file (history.ts). Retries keep the request id, so a retry is the
 * same command; a command whose retries run out is recorded as `unknown`, never as failed.
 *
 * Run: node --import tsx test/fault/history/worker.ts '<json WorkerConfig>'
 */
import { randomUUID } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import { sleep } from "../../support/fault-kit.js";
import { actor, connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { HistoryWriter, type CommandName, type Outcome } from "./history.js";

export interface WorkerConfig {
  readonly worker: number;
  readonly addresses: readonly string[];
  readonly file: string;
  readonly durationMs: number;
  /** Retry budget of one command across replicas, ms. */
  readonly retryBudgetMs: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const history = new HistoryWriter(config.file);
const replicas: LedgerClients[] = config.addresses.map((a) => connectClients(a, 3_000));
const md = actor(`fault-worker-${config.worker}`);
const RETRYABLE: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.ABORTED]);
const retryable = (code: number): boolean => RETRYABLE.has(code);
const codeOf = (error: unknown): number => (typeof (error as Partial<ServiceError>).code === "number" ? (error as ServiceError).code : status.UNKNOWN);
const pickReplica = (): number => Math.floor(Math.random() * replicas.length);

interface Result<T> {
  outcome: Outcome;
  value?: T;
  code?: string;
  detail?: string;
  tries: number;
  replica: number;
}

/** Calls `call` on one replica after another (same request) until it succeeds, fails for good, or the budget runs out. */
async function retrying<T>(call: (api: LedgerClients) => Promise<T>, budgetMs = config.retryBudgetMs, first = pickReplica()): Promise<Result<T>> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    const replica = (first + tries - 1) % replicas.length;
    try {
      return { outcome: "ok", value: await call(replicas[replica] as LedgerClients), tries, replica };
    } catch (error) {
      const code = codeOf(error);
      const lastCode = status[code] ?? String(code);
      const detail = String((error as Partial<ServiceError>).details ?? "").slice(0, 160);
      if (!retryable(code)) return { outcome: "fail", code: lastCode, detail, tries, replica };
      if (Date.now() - started > budgetMs) return { outcome: "unknown", code: lastCode, detail, tries, replica };
      await sleep(Math.min(1_000, 25 * 2 ** Math.min(tries, 6)) * (0.5 + Math.random() / 2));
    }
  }
}

/** `grantOf`: the grant a command created, known only from its answer (CreateGrant). */
async function command<T extends { sequence: number }>(
  name: CommandName,
  known: string | undefined,
  call: (api: LedgerClients, requestId: string) => Promise<T>,
  grantOf?: (value: T) => string,
): Promise<T | undefined> {
  const requestId = randomUUID();
  const invokedAt = Date.now();
  const r = await retrying((api) => call(api, requestId));
  const grantId = known ?? (r.value === undefined ? undefined : grantOf?.(r.value));
  history.record({
    kind: "command",
    worker: config.worker,
    command: name,
    requestId,
    ...(grantId === undefined ? {} : { grantId }),
    outcome: r.outcome,
    ...(r.value === undefined ? {} : { seq: Number(r.value.sequence) }),
    ...(r.code === undefined ? {} : { code: r.code }),
    ...(r.detail === undefined ? {} : { detail: r.detail }),
    tries: r.tries,
    invokedAt,
    completedAt: Date.now(),
  });
  return r.value;
}

async function introspect(token: string, grantId: string, tokenSeq: number, minSequence: number | undefined, replica = pickReplica()): Promise<boolean | undefined> {
  const invokedAt = Date.now();
  // Only this replica: a read is about what this replica answers, so no failing over.
  const r = await retrying((api) => api.introspection.introspect({ token, tokenTypeHint: undefined, minSequence }), 5_000, replica);
  history.record({
    kind: "introspect",
    worker: config.worker,
    replica: r.replica,
    grantId,
    tokenSeq,
    ...(minSequence === undefined ? {} : { minSequence }),
    outcome: r.outcome,
    ...(r.value === undefined ? {} : { active: r.value.active }),
    ...(r.code === undefined ? {} : { code: r.code }),
    invokedAt,
    completedAt: Date.now(),
  });
  return r.value?.active;
}

/** Polls `replica` without min_sequence until the token reads inactive; records the window. */
async function revocationWindow(token: string, grantId: string, revokeSeq: number, ackAt: number, replica: number): Promise<void> {
  let lastActiveInvokedAt: number | undefined;
  let settled = false;
  while (Date.now() - ackAt < 5_000) {
    const invokedAt = Date.now();
    const r = await retrying((api) => api.introspection.introspect({ token, tokenTypeHint: undefined, minSequence: undefined }), 1_000, replica);
    if (r.outcome === "ok" && r.value?.active === false) {
      settled = true;
      break;
    }
    if (r.outcome === "ok" && r.value?.active === true) lastActiveInvokedAt = invokedAt;
    await sleep(2);
  }
  history.record({ kind: "window", worker: config.worker, replica, grantId, revokeSeq, ackAt, ms: lastActiveInvokedAt === undefined ? 0 : Math.max(0, lastActiveInvokedAt - ackAt), settled });
}

async function main(): Promise<void> {
  const deadline = Date.now() + config.durationMs;
  let client: { clientId: string; clientSecret: string } | undefined;
  while (client === undefined && Date.now() < deadline) {
    const registered = await command("RegisterClient", undefined, (api, requestId) =>
      api.clients.registerClient(
        {
          requestId,
          ownerAccount: `owner-${config.worker}`,
          name: `fault worker ${config.worker}`,
          redirectUris: ["https://app.example.com/callback"],
          allowedScopes: ["account:read", "offline_access"],
          clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
        },
        md,
      ),
    );
    if (registered !== undefined) client = { clientId: registered.clientId, clientSecret: registered.clientSecret };
  }
  while (client !== undefined && Date.now() < deadline) {
    const { clientId, clientSecret } = client;
    // Outside the call: a retry must send the very same request (the ledger refuses a reused
    // request_id with different fields).
    const subject = `user-${randomUUID()}`;
    const grant = await command("CreateGrant", undefined, (api, requestId) =>
      api.grants.createGrant({ requestId, subject, clientId, scopes: ["account:read", "offline_access"], resources: ["acct-1"], expiresAt: undefined }, md),
      (created) => created.grantId,
    );
    if (grant === undefined) continue;
    const grantId = grant.grantId;
    const issued = await command("IssueTokens", grantId, (api, requestId) => api.tokens.issueTokens({ requestId, grantId, scopes: [], includeRefreshToken: true, accessTokenTtlSeconds: undefined }, md));
    if (issued === undefined) continue;
    let access = { token: issued.accessToken, seq: Number(issued.sequence) };
    await introspect(access.token, grantId, access.seq, access.seq);
    if (Math.random() < 0.4) {
      const refreshed = await command("RefreshTokens", grantId, (api, requestId) =>
        api.tokens.refreshTokens({ requestId, refreshToken: issued.refreshToken, clientId, clientSecret, scopes: [] }, md),
      );
      if (refreshed !== undefined) {
        access = { token: refreshed.accessToken, seq: Number(refreshed.sequence) };
        await introspect(access.token, grantId, access.seq, access.seq);
      }
    }
    if (Math.random() < 0.6) {
      const revoked = await command("RevokeGrant", grantId, (api, requestId) => api.revocation.revokeGrant({ requestId, grantId, reason: "fault test" }, md));
      if (revoked !== undefined) {
        const ackAt = Date.now();
        const seq = Number(revoked.sequence);
        await Promise.all([
          // Read-your-writes on any replica: must be inactive.
          introspect(access.token, grantId, access.seq, seq),
          // Without min_sequence on a random replica: how long it may still say active.
          revocationWindow(access.token, grantId, seq, ackAt, pickReplica()),
        ]);
      }
    } else {
      await introspect(access.token, grantId, access.seq, undefined);
    }
  }
  for (const api of replicas) api.close();
}

await main();
