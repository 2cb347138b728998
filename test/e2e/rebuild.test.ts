import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectionFileDigest, readPointer, writePointer, type ActiveFile } from "../../projections/runner/index.js";
import { connectEventLog, type JetStreamEventLog } from "../../services/eventlog/index.js";
import { clientAndGrant, issue, rid, startE2E, type E2E } from "../support/e2e-harness.js";
import { clientRegistered, grantCreated, issued, LogWriter, tokenIssued } from "../support/envelopes.js";
import { actor } from "../support/grpc-clients.js";
import { runCli } from "../support/security.js";
import { IntrospectionServiceClient, type IntrospectResponse } from "../../services/gen/grantledger/v1/introspection_service.js";

const say = (line: string): void => console.log(`[rebuild] ${line}`);
const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const TEN_YEARS_S = 10 * 365 * 86_400;

/** Introspect with the `gl-sequence` trailer: the sequence the answer reflects. */
function introspectAt(client: IntrospectionServiceClient, token: string, minSequence: number): Promise<{ answer: IntrospectResponse; seq: number }> {
  return new Promise((done, fail) => {
    let answer: IntrospectResponse | undefined;
    const call = client.introspect({ token, tokenTypeHint: undefined, minSequence }, new Metadata(), { deadline: Date.now() + 10_000 }, (error: ServiceError | null, response) => {
      if (error !== null) fail(error);
      else answer = response;
    });
    call.on("status", (status) => {
      if (answer === undefined) return;
      const seq = Number(status.metadata.get("gl-sequence")[0]);
      if (Number.isInteger(seq)) done({ answer, seq });
      else fail(new Error("no gl-sequence trailer"));
    });
  });
}

/** Appends `grants` synthetic grants with a few tokens each straight to the log: bulk for the rebuild to chew on. */
async function appendFiller(log: JetStreamEventLog, grants: number, prefix = "filler"): Promise<void> {
  const writer = new LogWriter(log, Date.now());
  const expiresAt = Date.now() + 86_400_000;
  await writer.append(clientRegistered(`${prefix}-client`));
  for (let start = 0; start < grants; start += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, grants - start) }, async (_, i) => {
        const g = `${prefix}-${start + i}`;
        await writer.append(grantCreated(g, { clientId: `${prefix}-client`, subject: `${prefix}-user-${start + i}` }));
        await writer.append(tokenIssued(g, [1, 2, 3].map((t) => issued(`${g}-t${t}`, { expiresAt, issuedAt: Date.now() }))));
      }),
    );
  }
}

describe("blue-green rebuild of the tokens projection under introspection load", () => {
  let e2e: E2E;
  let log: JetStreamEventLog;

  beforeAll(async () => {
    // No cleanup during the test: the rebuilt copy must hold exactly the rows of the old one.
    e2e = await startE2E({ expiredTokenGraceSeconds: TEN_YEARS_S });
    log = await connectEventLog({ servers: e2e.nats.url, stream: e2e.ledger.config.stream, subjectRoot: e2e.ledger.config.subjectRoot });
  }, 60_000);
  afterAll(async () => {
    await log?.close();
    await e2e?.stop();
  });

  it("rebuilds into a new file and switches with zero failed or wrong answers; the copy's digest equals the old file's", { timeout: 120_000 }, async () => {
    const { api, ledger } = e2e;
    const dir = join(ledger.dataDir, "projections");
    await appendFiller(log, 2500);
    const fixtures = await Promise.all([0, 1, 2, 3].map(() => clientAndGrant(api)));
    const tokens: string[] = [];
    // One grant's issues in sequence (concurrent ones contend on its subject), grants in parallel.
    await Promise.all(
      fixtures.map(async (f) => {
        for (let n = 0; n < 10; n++) {
          const p = await issue(api, f.grantId);
          tokens.push(p.accessToken, p.refreshToken);
        }
      }),
    );
    let knownSeq = await log.headSequence();
    const before = readPointer(dir, "tokens");
    expect(before?.generation).toBe(0);
    say(`log head ${knownSeq} before the rebuild; ${tokens.length} real tokens under load`);

    // Revocations acknowledged so far (token → sequence), and the ones in flight (either answer is right).
    const revokedAt = new Map<string, number>();
    const inFlight = new Set<string>();
    const failures: string[] = [];
    const wrong: string[] = [];
    /** Every answer with the sequence it reports, checked once every revocation's sequence is known. */
    const answers: Array<{ token: string; active: boolean; seq: number; minSequence: number }> = [];
    let running = true;
    const raw = new IntrospectionServiceClient(ledger.address, credentials.createInsecure());

    const introspector = async (worker: number): Promise<void> => {
      let i = worker;
      while (running) {
        const token = tokens[(i = (i * 7 + 13) % tokens.length)] as string;
        const minSequence = knownSeq;
        const revoked = revokedAt.has(token);
        const uncertain = inFlight.has(token);
        try {
          const { answer, seq } = await introspectAt(raw, token, minSequence);
          answers.push({ token, active: answer.active, seq, minSequence });
          // Read-your-writes: a revocation acknowledged before the request is never answered active.
          if (!uncertain && revokedAt.has(token) === revoked && answer.active === revoked) {
            wrong.push(`${token.slice(0, 8)}… active=${answer.active} at min_sequence ${minSequence}, revoked=${revoked}`);
          }
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
    };
    const revoker = async (): Promise<void> => {
      let n = 0;
      // Writes go on until the switch, not after it: the old file is applied to for the handover
      // grace only, and the digests below compare both files at the same sequence.
      while (running && ledger.ledger.tokens.active.generation === 0 && n < tokens.length / 2) {
        const token = tokens[n * 2] as string;
        n += 1;
        inFlight.add(token);
        try {
          const { sequence } = await api.revocation.revokeToken({ requestId: rid(), token, tokenTypeHint: undefined, clientId: undefined }, actor("rebuild-test"));
          revokedAt.set(token, sequence);
          knownSeq = Math.max(knownSeq, sequence);
        } catch (error) {
          failures.push(`revoke: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          inFlight.delete(token);
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    const load = [...Array.from({ length: 6 }, (_, w) => introspector(w + 1)), revoker()];

    const started = Date.now();
    const rebuilt = await runCli(["projections", "rebuild", "tokens"], {
      NATS_URL: e2e.nats.url,
      GL_DATA_DIR: ledger.dataDir,
      GL_STREAM: ledger.config.stream,
      LOG_LEVEL: "info",
    });
    say(`CLI rebuild exited ${rebuilt.code} after ${Date.now() - started} ms:\n${rebuilt.stdout.trim()}`);
    expect(rebuilt.code).toBe(0);
    const after = readPointer(dir, "tokens");
    expect(after?.generation).toBe(1);
    expect(ledger.ledger.tokens.active.file).toBe(after?.file);
    // Keep the load on the new file for a while, then stop it.
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(load);
    raw.close();
    // Every answer is the right one for the sequence it reports: active exactly when the token's
    // revocation (if any) came after that sequence; and that sequence honours min_sequence.
    for (const a of answers) {
      const revoked = revokedAt.get(a.token);
      const expected = revoked === undefined || revoked > a.seq;
      if (a.active !== expected || a.seq < a.minSequence) wrong.push(`${a.token.slice(0, 8)}… active=${a.active} at seq ${a.seq} (min ${a.minSequence}), revoked at ${revoked ?? "never"}`);
    }
    const seqs = answers.map((a) => a.seq);
    say(`${answers.length} introspections during the rebuild and switch (answers at seq ${Math.min(...seqs)}..${Math.max(...seqs)}), ${revokedAt.size} revocations; ${failures.length} failed, ${wrong.length} wrong`);
    expect(failures).toEqual([]);
    expect(wrong).toEqual([]);
    expect(answers.length).toBeGreaterThan(100);

    // The old file keeps being applied for the handover grace, then stops: both end at the head.
    const head = await log.headSequence();
    expect(await ledger.ledger.tokens.waitFor(head, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 3500));
    const oldFile = join(dir, before?.file ?? "tokens.v2.db");
    const newFile = join(dir, after?.file ?? "");
    expect(existsSync(oldFile)).toBe(true);
    const digestOf = (file: string) => projectionFileDigest(file, "tokens");
    const oldDigest = digestOf(oldFile);
    const newDigest = digestOf(newFile);
    say(`old ${oldDigest.digest.slice(0, 16)}… at ${oldDigest.seq} ${JSON.stringify(oldDigest.rows)}; new ${newDigest.digest.slice(0, 16)}… at ${newDigest.seq}`);
    expect(oldDigest.seq).toBe(head);
    expect(newDigest.seq).toBe(head);
    expect(newDigest).toEqual(oldDigest);

    // The metrics, the CLI's status and digest see the new generation.
    const scrape = await ledger.ledger.metrics.registry.render();
    expect(scrape).toContain('grantledger_projection_generation{projection="tokens"} 1');
    expect(scrape).toContain('grantledger_projection_rebuild_progress_ratio{projection="tokens"} 0');
    const env = { NATS_URL: e2e.nats.url, GL_DATA_DIR: ledger.dataDir, GL_STREAM: ledger.config.stream };
    const status = await runCli(["projections", "status", "--json"], env);
    expect(status.code).toBe(0);
    const tokensStatus = (JSON.parse(status.stdout) as { projections: Array<Record<string, unknown>> }).projections.find((p) => p["name"] === "tokens");
    expect(tokensStatus).toMatchObject({ file: newFile, generation: 1, appliedSeq: head, lagEvents: 0, rebuild: null, pendingHandover: false });
    const digest = await runCli(["projections", "digest", "tokens", "--json"], env);
    expect(digest.code).toBe(0);
    expect(JSON.parse(digest.stdout)).toMatchObject({ digest: newDigest.digest, seq: head, file: newFile });

    // Prune keeps everything right after a switch (readers may still be on the old file), then removes the old file only.
    expect((await runCli(["projections", "prune", "tokens"], env)).stdout).toContain("nothing pruned");
    writePointer(dir, "tokens", { ...(after as ActiveFile), since: Date.now() - 60_000 });
    const pruned = await runCli(["projections", "prune", "tokens"], env);
    say(`prune: ${pruned.stdout.trim()}`);
    expect(pruned.stdout).toContain(`removed ${before?.file ?? "?"}`);
    expect(existsSync(oldFile)).toBe(false);
    expect(existsSync(newFile)).toBe(true);
  });

  it("rebuilds the audit trail in the serving process; SearchEvents answers the same before and after", { timeout: 60_000 }, async () => {
    const { api, ledger } = e2e;
    const audit = ledger.ledger.audit;
    if (audit === undefined) throw new Error("the ledger has no audit read model");
    const head = await log.headSequence();
    const search = () => api.audit.searchEvents({ filter: { subject: "", clientId: "", resource: "", actor: "", eventTypes: ["token.revoked"] }, pageSize: 50, pageToken: "", minSequence: head });
    const before = await search();
    const from = audit.active.file;
    const active = await audit.rebuild();
    expect(active.generation).toBe(1);
    expect(audit.active.file).not.toBe(from);
    expect(await search()).toEqual(before);
    await new Promise((r) => setTimeout(r, 3500));
    const dir = join(ledger.dataDir, "projections");
    const digestOf = (file: string) => projectionFileDigest(join(dir, file), "audit");
    expect(digestOf(active.file)).toEqual(digestOf(from));
    say(`audit rebuilt into ${active.file}; ${before.events.length} token.revoked events found before and after`);
  });

  it("Ctrl-C during a rebuild: exit 130, the active file keeps serving, the partial copy is left for prune", { timeout: 120_000 }, async () => {
    const { api, ledger } = e2e;
    const dir = join(ledger.dataDir, "projections");
    // Enough history that the copy is still being built when the interrupt lands.
    await appendFiller(log, 5000, "more-filler");
    const f = await clientAndGrant(api);
    const token = await issue(api, f.grantId);
    const before = readPointer(dir, "tokens");
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "scripts/cli.ts"), "projections", "rebuild", "tokens"], {
      cwd: repoRoot,
      env: { ...process.env, NATS_URL: e2e.nats.url, GL_DATA_DIR: ledger.dataDir, GL_STREAM: ledger.config.stream, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let interruptedAt = 0;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      if (interruptedAt === 0 && stderr.includes("projection rebuild started")) {
        interruptedAt = Date.now();
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((done) => child.once("exit", (c) => done(c)));
    say(`rebuild interrupted with SIGINT: exit ${code} ${Date.now() - interruptedAt} ms after the signal`);
    expect(code).toBe(130);
    expect(stderr).toContain("rebuild interrupted; the partial file is left for `projections prune`");
    expect(readPointer(dir, "tokens")).toEqual(before);
    const partial = readdirSync(dir).filter((name) => name.startsWith("tokens.") && name.endsWith(".db") && name !== before?.file);
    expect(partial.length).toBeGreaterThan(0);
    const seen = await api.introspection.introspect({ token: token.accessToken, tokenTypeHint: undefined, minSequence: token.sequence });
    expect(seen.active).toBe(true);
  });
});

