/**
 * Rebuild throughput: `npx tsx test/int/projections/bench-rebuild.ts [grants=20000]` starts a
 * nats-server, appends `grants` grants with an access + refresh pair each (2 messages per grant),
 * and times `buildCopy` of the tokens projection into a new file from sequence 1.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCopy, projectionDigest } from "../../../projections/runner/index.js";
import { TOKENS_PROJECTION } from "../../../projections/tokens/index.js";
import { connectEventLog } from "../../../services/eventlog/index.js";
import { clientRegistered, grantCreated, issued, LogWriter, tokenIssued } from "../../support/envelopes.js";
import { startNatsServer } from "../../support/nats-server.js";

const grants = Number(process.argv[2] ?? 20_000);
const nats = await startNatsServer();
const dir = await mkdtemp(join(tmpdir(), "gl-bench-rebuild-"));
const log = await connectEventLog({ servers: nats.url, stream: "BENCH", subjectRoot: "bench" });
try {
  const writer = new LogWriter(log, Date.now());
  const expiresAt = Date.now() + 86_400_000;
  await writer.append(clientRegistered("c"));
  for (let start = 0; start < grants; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, grants - start) }, async (_, i) => {
        const g = `g-${start + i}`;
        await writer.append(grantCreated(g, { clientId: "c" }));
        await writer.append(tokenIssued(g, [issued(`${g}-a`, { expiresAt }), issued(`${g}-r`, { expiresAt, kind: "refresh_token" })]));
      }),
    );
  }
  const head = await log.headSequence();
  const started = performance.now();
  const runner = await buildCopy({ log, projection: TOKENS_PROJECTION, file: join(dir, `tokens.v${TOKENS_PROJECTION.version}.g1.db`), signal: new AbortController().signal });
  const seconds = (performance.now() - started) / 1000;
  const digestStarted = performance.now();
  const digest = projectionDigest(runner.db, "tokens");
  const digestSeconds = (performance.now() - digestStarted) / 1000;
  await runner.stop();
  console.log(
    `rebuilt ${head} messages (${grants * 2} tokens) in ${seconds.toFixed(2)} s: ${Math.round(head / seconds)} messages/s; ` +
      `digest over ${Object.values(digest.rows).reduce((a, b) => a + b, 0)} rows in ${digestSeconds.toFixed(2)} s`,
  );
} finally {
  await log.close();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
