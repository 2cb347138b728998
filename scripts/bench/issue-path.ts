/**
 * The IssueTokens command path alone: `issueTokens` called in-process against a real nats-server
 * (idempotency claim, client and subject reads, append, answer record), without gRPC, the
 * projections or the checkpointer that share the ledger process in `npm run bench -- issue`. Prints
 * this process's CPU per call and the NATS messages it sent and received per call (exact: the
 * round-trip count). One grant per in-flight lane, as the issue benchmark does.
 *
 *   npx tsx scripts/bench/issue-path.ts [calls=8000] [in-flight=64]
 *
 * To compare two commits, run it from a `git archive` export of each, alternating.
 */
import { join } from "node:path";
import { AggregateStore, createGrant, Idempotency, issueTokens, registerClient, type LedgerCommandDeps } from "../../services/commands/index.js";
import { loadScopeCatalog } from "../../services/config/scope-catalog.js";
import { createKeyring } from "../../services/crypto/keys.js";
import { connectEventLog, createKvOutcomeStore } from "../../services/eventlog/index.js";
import { startNatsServer } from "../nats-server.js";
import { repoRoot } from "./lib/proc.js";

const calls = Number(process.argv[2] ?? 8000);
const inFlight = Number(process.argv[3] ?? 64);

const server = await startNatsServer();
const log = await connectEventLog({ servers: server.url });
try {
  const keyring = createKeyring({ id: "k1", secret: Buffer.alloc(32, 7) });
  const deps: LedgerCommandDeps = {
    log,
    aggregates: new AggregateStore(log),
    retries: 8,
    idempotency: new Idempotency(await createKvOutcomeStore(log, { ttlMs: 120_000 }), keyring.outcomeKey, keyring.requestKey),
    keyring,
    catalog: loadScopeCatalog(join(repoRoot, "config/scopes.json")),
    tokens: { accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 86_400 },
    lookup: { catchUpToHead: async () => undefined, findToken: () => undefined },
  };
  let requests = 0;
  const ctx = () => ({ actor: "bench", requestId: `r${++requests}`, now: () => Date.now() });
  const client = await registerClient(deps, ctx(), {
    ownerAccount: "acct",
    name: "bench",
    redirectUris: ["https://app.example/cb"],
    allowedScopes: ["zone:read", "offline_access"],
    clientType: "public",
  });
  const grants: string[] = [];
  for (let i = 0; i < inFlight; i++) {
    const grant = await createGrant(deps, ctx(), { subject: `user-${i}`, clientId: client.clientId, scopes: ["zone:read"], resources: [], expiresAt: null });
    grants.push(grant.grantId);
  }
  const run = async (count: number): Promise<void> => {
    let started = 0;
    await Promise.all(
      grants.map(async (grantId) => {
        while (started++ < count) await issueTokens(deps, ctx(), { grantId, scopes: [], includeRefreshToken: true });
      }),
    );
  };
  await run(Math.ceil(calls / 4)); // warm-up: JIT, caches
  const stats = log.nc.stats();
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  await run(calls);
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - startedAt) / 1000;
  const after = log.nc.stats();
  const perCall = (n: number): number => Math.round((n / calls) * 100) / 100;
  console.log(
    JSON.stringify({
      calls,
      inFlight,
      cpuPerCallUs: perCall(used.user + used.system),
      callsPerSecond: Math.round(calls / seconds),
      natsMessagesOutPerCall: perCall(after.outMsgs - stats.outMsgs),
      natsMessagesInPerCall: perCall(after.inMsgs - stats.inMsgs),
    }),
  );
} finally {
  await log.close();
  await server.stop();
}
