/**
 * CPU per call of the in-process Introspect handler, without grpc-js's transport: the caller gate
 * (insecure-dev, rate limiter), zod, the service, the active-answer cache and a real SQLite tokens
 * read model (a WAL file built by the tokens projection, one verifying key), with LedgerMetrics
 * observing. Calls go one at a time over 10,000 active tokens drawn in a fixed scattered order;
 * each repetition prints CPU µs per call (process.cpuUsage, GC included). What the ledger adds on
 * top of grpc-js, measured without the network or a load generator sharing the cores.
 *
 *   npx tsx scripts/bench/introspect-handler.ts [calls=100000] [repetitions=4]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, type ServerUnaryCall } from "@grpc/grpc-js";
import BetterSqlite3 from "better-sqlite3";
import pino from "pino";
import { createTokensProjection, TokensReadModel } from "../../projections/tokens/index.js";
import { createKeyring, hashToken } from "../../services/crypto/keys.js";
import { mintToken } from "../../services/crypto/mint.js";
import type { LedgerEvent } from "../../services/domain/index.js";
import type { IntrospectRequest, IntrospectResponse } from "../../services/gen/grantledger/v1/introspection_service.js";
import { CallerGate } from "../../services/grpc/auth.js";
import { guardRpcs, observeRpcs } from "../../services/grpc/handler.js";
import { introspectionService } from "../../services/grpc/introspection-service.js";
import type { GrpcDeps } from "../../services/grpc/services.js";
import { LedgerMetrics } from "../../services/metrics/ledger-metrics.js";
import { clientRegistered, EnvelopeBuilder, grantCreated, HOUR, issued, tokenIssued } from "../../test/support/envelopes.js";

const calls = Number(process.argv[2] ?? 100_000);
const repetitions = Number(process.argv[3] ?? 4);

const dir = mkdtempSync(join(tmpdir(), "gl-introspect-handler-"));
const db = new BetterSqlite3(join(dir, "tokens.db"));
db.pragma("journal_mode = WAL");
const projection = createTokensProjection();
projection.migrate(db);
const envelopes = new EnvelopeBuilder();
const apply = (events: LedgerEvent[]): void => {
  const envelope = envelopes.next(events);
  db.transaction(() => projection.apply(db, envelope))();
};

const key = { id: "k1", secret: Buffer.alloc(32, 1) };
const later = Date.now() + 24 * HOUR;
apply([clientRegistered("client-1")]);
for (let g = 0; g < 100; g++) apply([grantCreated(`grant-${g}`, { resources: ["acct:1"], scopes: ["profile:read"] })]);
const tokens: string[] = [];
for (let g = 0; g < 100; g++) {
  const batch = [];
  for (let i = 0; i < 100; i++) {
    const token = mintToken("access_token");
    tokens.push(token);
    batch.push(issued(`at-${g}-${i}`, { hash: hashToken(key, token), expiresAt: later, familyId: `fam-${g}-${i}` }));
  }
  apply([tokenIssued(`grant-${g}`, batch)]);
}

const logger = pino({ level: "warn" });
observeRpcs(logger, new LedgerMetrics());
guardRpcs(
  logger,
  new CallerGate({ insecureDev: true, rates: { introspect: { perSecond: 1e6, burst: 1e7 }, secretChecks: { perSecond: 10, burst: 10 } }, logger }),
);
const deps = {
  logger,
  readModel: new TokensReadModel(db),
  keyring: createKeyring(key),
  freshness: { appliedSeq: () => envelopes.seq, waitFor: () => Promise.resolve(true) },
  minSequenceWaitMs: 1000,
  staleness: { maxStalenessMs: 5000, stalenessMs: () => 1, isFresh: () => true, waitFresh: () => Promise.resolve(true) },
} as unknown as GrpcDeps;
const service = introspectionService(deps);
const metadata = new Metadata();
metadata.set("x-actor", "bench");

const introspect = (token: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const call = { request: { token, tokenTypeHint: "", minSequence: undefined }, metadata, getAuthContext: () => ({}) };
    service.introspect(call as unknown as ServerUnaryCall<IntrospectRequest, IntrospectResponse>, (error, response) => {
      if (error !== null) reject(new Error(`Introspect failed: ${error.details ?? "no details"}`));
      else if (response?.active !== true) reject(new Error("an active token answered inactive"));
      else resolve();
    });
  });

try {
  for (let r = 0; r < repetitions; r++) {
    // Warm-up (JIT, statement cache, the active-answer cache), not counted.
    for (let i = 0; i < 20_000; i++) await introspect(tokens[i % tokens.length] as string);
    const before = process.cpuUsage();
    for (let i = 0; i < calls; i++) await introspect(tokens[(i * 7919) % tokens.length] as string);
    const used = process.cpuUsage(before);
    process.stdout.write(`${((used.user + used.system) / calls).toFixed(2)} µs CPU per Introspect (${calls} calls)\n`);
  }
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
