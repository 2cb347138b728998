import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCopy, projectionDigest, type CopyProgress } from "../../../projections/runner/index.js";
import { TOKENS_PROJECTION } from "../../../projections/tokens/index.js";
import { connectEventLog, type JetStreamEventLog } from "../../../services/eventlog/index.js";
import { clientRegistered, grantCreated, issued, LogWriter, tokenIssued } from "../../support/envelopes.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";

describe("buildCopy: a projection built into a new file up to the log's head", () => {
  let nats: NatsServer;
  let dir: string;
  const logs: JetStreamEventLog[] = [];
  const newLog = async (): Promise<JetStreamEventLog> => {
    const id = randomUUID().replaceAll("-", "");
    const log = await connectEventLog({ servers: nats.url, stream: `R_${id}`, subjectRoot: `r${id}` });
    logs.push(log);
    return log;
  };
  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "gl-copy-"));
  });
  afterAll(async () => {
    for (const log of logs) await log.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("on an empty stream returns at once, and its runner stops at once (no wait for a next message)", async () => {
    const log = await newLog();
    const started = Date.now();
    const runner = await buildCopy({ log, projection: TOKENS_PROJECTION, file: join(dir, "empty.db"), signal: new AbortController().signal });
    await runner.stop();
    expect(runner.appliedSeq).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("reports progress, resumes an interrupted copy from its checkpoint, and ends at the head", async () => {
    const log = await newLog();
    const writer = new LogWriter(log, Date.now());
    await writer.append(clientRegistered("c"));
    for (let g = 0; g < 300; g++) {
      await writer.append(grantCreated(`g-${g}`, { clientId: "c" }));
      await writer.append(tokenIssued(`g-${g}`, [issued(`t-${g}`, { expiresAt: Date.now() + 86_400_000 })]));
    }
    const head = await log.headSequence();
    const file = join(dir, "copy.db");
    const progress: CopyProgress[] = [];
    const first = await buildCopy({ log, projection: TOKENS_PROJECTION, file, signal: new AbortController().signal, progressEveryMs: 50, onProgress: (p) => progress.push(p) });
    expect(first.appliedSeq).toBe(head);
    const full = projectionDigest(first.db, "tokens");
    await first.stop();
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ appliedSeq: head, head, etaSeconds: 0 });

    // More messages, then the same file again: it resumes where it stopped.
    await writer.append(grantCreated("g-late", { clientId: "c" }));
    const resumed = await buildCopy({ log, projection: TOKENS_PROJECTION, file, signal: new AbortController().signal });
    expect(resumed.appliedSeq).toBe(head + 1);
    expect(projectionDigest(resumed.db, "tokens").rows["grants"]).toBe((full.rows["grants"] ?? 0) + 1);
    await resumed.stop();
  });

  it("an aborted build rejects and leaves what it committed", async () => {
    const log = await newLog();
    const writer = new LogWriter(log, Date.now());
    await writer.append(clientRegistered("c"));
    const controller = new AbortController();
    controller.abort(new Error("operator pressed Ctrl-C"));
    await expect(buildCopy({ log, projection: TOKENS_PROJECTION, file: join(dir, "aborted.db"), signal: controller.signal })).rejects.toThrow(/Ctrl-C/);
  });
});
