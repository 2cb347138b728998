import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  candidatePath,
  claimedPath,
  fileBytes as bytesOf,
  openProjectionDatabase,
  readCheckpoint,
  readProgress,
  resolveActive,
} from "../../projections/runner/index.js";
import type { JetStreamEventLog } from "../../services/eventlog/index.js";
import { auditConfig, openStream, UsageError, withUsage } from "./audit-common.js";
import { PROJECTIONS, projectionsDir } from "./projections-common.js";

/**
 * `grant-ledger projections status [--json]`: for each projection, its version in this build, its
 * active file in `<dataDir>/projections` (the `<name>.current.json` pointer) and generation, a
 * rebuild in progress (`projections rebuild`, or automatic) or a copy waiting for the projector, the applied sequence and version stored in the file, its lag
 * behind the log (events, and the age of the oldest unapplied message) and its size (file + WAL);
 * plus files of other versions left in the folder. Exit 0; 1 when the log cannot be read (lag
 * unknown, the rest is printed); 2 on bad usage.
 */
export function projectionsStatus(args: string[]): Promise<number> {
  return withUsage(async () => {
    let json: boolean;
    try {
      json = parseArgs({ args, options: { json: { type: "boolean" } }, strict: true }).values.json ?? false;
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const config = auditConfig();
    const dir = projectionsDir(config);
    let log: JetStreamEventLog | undefined;
    let head: number | undefined;
    let logError: string | undefined;
    try {
      log = await openStream(config);
      head = await log.headSequence();
    } catch (error) {
      logError = error instanceof Error ? error.message : String(error);
    }
    try {
      const rows = [];
      for (const projection of PROJECTIONS) {
        const active = resolveActive(dir, projection.name, projection.version);
        const file = join(dir, active.file);
        const row: Record<string, unknown> = {
          name: projection.name,
          version: projection.version,
          file,
          generation: active.generation,
          activeSince: active.since === 0 ? null : new Date(active.since).toISOString(),
          exists: existsSync(file),
        };
        const progress = readProgress(dir, projection.name);
        row["rebuild"] = progress === undefined || progress.phase === "done" ? null : progress;
        row["pendingHandover"] = existsSync(candidatePath(dir, projection.name)) || existsSync(claimedPath(dir, projection.name));
        if (row["exists"] === true) {
          const db = openProjectionDatabase(file, { readonly: true });
          try {
            const checkpoint = readCheckpoint(db, projection.name);
            row["fileVersion"] = checkpoint?.version ?? null;
            row["appliedSeq"] = checkpoint?.seq ?? 0;
            row["committedAt"] = checkpoint === undefined ? null : new Date(checkpoint.updatedAt).toISOString();
          } finally {
            db.close();
          }
          row["bytes"] = bytesOf(file);
          if (head !== undefined && log !== undefined) {
            const applied = row["appliedSeq"] as number;
            row["lagEvents"] = Math.max(0, head - applied);
            const oldest = applied < head ? await log.get(applied + 1).catch(() => undefined) : undefined;
            row["lagMs"] = oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.storedAt);
          }
        }
        rows.push(row);
      }
      const current = new Set(rows.map((r) => String(r["file"])));
      const others = existsSync(dir)
        ? readdirSync(dir)
            .filter((name) => name.endsWith(".db") && !current.has(join(dir, name)))
            .map((name) => ({ file: join(dir, name), bytes: bytesOf(join(dir, name)) }))
        : [];
      if (json) process.stdout.write(`${JSON.stringify({ head: head ?? null, logError: logError ?? null, projections: rows, otherFiles: others }, null, 2)}\n`);
      else {
        const out = [`log head   ${head ?? `unknown (${logError ?? "?"})`}`];
        for (const r of rows) {
          out.push(`${String(r["name"])} v${String(r["version"])}  ${String(r["file"])}  generation ${String(r["generation"])}`);
          const rebuild = r["rebuild"] as { generation: number; appliedSeq: number; head: number; eventsPerSecond: number; etaSeconds: number | null; phase: string; file: string } | null;
          if (rebuild !== null) {
            out.push(`  rebuild g${rebuild.generation} ${rebuild.phase}: ${rebuild.appliedSeq}/${rebuild.head} at ${rebuild.eventsPerSecond}/s, ETA ${rebuild.etaSeconds === null ? "?" : `${Math.ceil(rebuild.etaSeconds)} s`} (${rebuild.file})`);
          }
          if (r["pendingHandover"] === true) out.push("  a rebuilt copy is waiting for the projector to switch to it");
          if (r["exists"] !== true) {
            out.push("  no file yet (no projector has run on this data dir)");
            continue;
          }
          const lag = r["lagEvents"] === undefined ? "lag unknown" : `lag ${r["lagEvents"] as number} events / ${r["lagMs"] as number} ms`;
          out.push(`  applied seq ${String(r["appliedSeq"])} (committed ${String(r["committedAt"])}), ${lag}, ${String(r["bytes"])} bytes`);
        }
        for (const o of others) out.push(`other file  ${o.file} (${o.bytes} bytes): not active; \`projections prune\` removes it`);
        process.stdout.write(`${out.join("\n")}\n`);
      }
      return head === undefined ? 1 : 0;
    } finally {
      await log?.close();
    }
  });
}
