import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import {
  buildCopy,
  candidatePath,
  nextGeneration,
  progressPath,
  projectorAlive,
  readPointer,
  writeJsonAtomically,
  writePointer,
  type CopyProgress,
  type RebuildProgress,
} from "../../projections/runner/index.js";
import { createLogger } from "../../services/app/logger.js";
import { auditConfig, openStream, UsageError, withUsage } from "./audit-common.js";
import { projectionNamed, projectionsDir } from "./projections-common.js";

const USAGE = "usage: grant-ledger projections rebuild <name> [--handover-timeout-ms N]";

const bar = (p: CopyProgress): string => {
  const ratio = p.head === 0 ? 1 : Math.min(1, p.appliedSeq / p.head);
  const width = 30;
  const filled = Math.round(ratio * width);
  const eta = p.etaSeconds === null ? "?" : `${Math.ceil(p.etaSeconds)} s`;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.appliedSeq}/${p.head} ${(ratio * 100).toFixed(1)}%  ${p.eventsPerSecond}/s  ETA ${eta}`;
};

/**
 * `grant-ledger projections rebuild <name>`: blue-green rebuild. Builds the projection from sequence 1
 * into a new file `<name>.v<version>.g<generation>.db` next to the active one (which keeps serving),
 * with a progress bar on a terminal and JSON progress lines on stderr otherwise (and in
 * `<name>.rebuild.json` for `projections status` and the serving process's metrics). At the head it
 * stops writing and offers the copy (`<name>.next.json`) to the projector serving this data dir,
 * which resumes it, switches every reader to it once it has caught up, and keeps the old file until
 * `projections prune`. With no projector running, it names the new file in the pointer itself: the
 * next projector to start resumes it.
 *
 * Exit 0 once the copy serves (or, offline, is active); 1 when the build fails or no projector
 * adopts the copy within the timeout (the copy is withdrawn, the old file keeps serving); 2 bad
 * usage; 130 interrupted (the partial file is left for `projections prune`).
 */
export function projectionsRebuild(args: string[]): Promise<number> {
  return withUsage(async () => {
    let parsed;
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { "handover-timeout-ms": { type: "string" } }, strict: true });
    } catch (error) {
      throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    }
    const projection = projectionNamed(parsed.positionals[0]);
    const handoverTimeoutMs = Number(parsed.values["handover-timeout-ms"] ?? 120_000);
    if (!Number.isInteger(handoverTimeoutMs) || handoverTimeoutMs < 0) throw new UsageError(`--handover-timeout-ms: expected a whole number of ms\n${USAGE}`);
    const config = auditConfig();
    const dir = projectionsDir(config);
    mkdirSync(dir, { recursive: true });
    const name = projection.name;
    const tty = process.stderr.isTTY;
    const logger = createLogger(config.logLevel, pino.destination(2));
    const interrupted = new AbortController();
    const onSigint = (): void => interrupted.abort(new Error("interrupted"));
    process.once("SIGINT", onSigint);

    const log = await openStream(config);
    const { file, generation } = nextGeneration(dir, name, projection.version);
    const path = join(dir, file);
    const from = readPointer(dir, name)?.file ?? "(none)";
    logger.info({ projection: name, file: path, generation, from }, "projection rebuild started");
    const writeProgress = (p: CopyProgress, phase: RebuildProgress["phase"]): void =>
      writeJsonAtomically(progressPath(dir, name), {
        file,
        generation,
        pid: process.pid,
        appliedSeq: p.appliedSeq,
        head: p.head,
        eventsPerSecond: p.eventsPerSecond,
        etaSeconds: p.etaSeconds,
        phase,
        updatedAt: Date.now(),
      } satisfies RebuildProgress);
    let last: CopyProgress | undefined;
    const started = Date.now();
    try {
      let runner;
      try {
        runner = await buildCopy({
          log,
          projection,
          file: path,
          signal: interrupted.signal,
          onProgress: (p) => {
            last = p;
            writeProgress(p, "building");
            if (tty) process.stderr.write(`\r\x1b[K${name} g${generation} ${bar(p)}`);
            else logger.info({ projection: name, generation, ...p }, "projection rebuild progress");
          },
        });
      } catch (error) {
        if (tty) process.stderr.write("\n");
        if (last !== undefined) writeProgress(last, "failed");
        if (interrupted.signal.aborted) {
          logger.warn({ projection: name, file: path }, "rebuild interrupted; the partial file is left for `projections prune`");
          return 130;
        }
        logger.error({ err: error, projection: name, file: path }, "projection rebuild failed; the active file keeps serving");
        return 1;
      }
      await runner.stop();
      if (tty) process.stderr.write("\n");
      const seconds = (Date.now() - started) / 1000;
      const appliedSeq = runner.appliedSeq;
      const rate = Math.round(appliedSeq / Math.max(seconds, 0.001));
      logger.info({ projection: name, generation, appliedSeq, seconds, eventsPerSecond: rate }, "projection copy built to the head");
      const candidate = { file, version: projection.version, generation, since: Date.now(), appliedSeq };
      if (last !== undefined) writeProgress({ ...last, appliedSeq, etaSeconds: 0 }, "handing-over");

      if (!projectorAlive(dir, name)) {
        writePointer(dir, name, candidate);
        if (last !== undefined) writeProgress({ ...last, appliedSeq, etaSeconds: 0 }, "done");
        process.stdout.write(`${name}: generation ${generation} (${file}) is active; no projector runs on ${dir}, the next one resumes it. Old file ${from} kept (projections prune).\n`);
        return 0;
      }
      writeJsonAtomically(candidatePath(dir, name), candidate);
      const deadline = Date.now() + handoverTimeoutMs;
      while (readPointer(dir, name)?.file !== file) {
        if (interrupted.signal.aborted || Date.now() > deadline) {
          // Withdraw the offer unless the projector already claimed it (then it switches anyway).
          const withdrawn = existsSync(candidatePath(dir, name));
          rmSync(candidatePath(dir, name), { force: true });
          if (interrupted.signal.aborted) return 130;
          logger.error({ projection: name, withdrawn }, "no projector adopted the rebuilt copy in time; the active file keeps serving");
          return 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (last !== undefined) writeProgress({ ...last, appliedSeq, etaSeconds: 0 }, "done");
      process.stdout.write(
        `${name}: rebuilt ${appliedSeq} messages in ${seconds.toFixed(1)} s (${rate}/s); serving generation ${generation} (${file}). Old file ${from} kept (projections prune).\n`,
      );
      return 0;
    } finally {
      process.off("SIGINT", onSigint);
      await log.close();
    }
  });
}
