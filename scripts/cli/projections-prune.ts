import { parseArgs } from "node:util";
import {
  candidatePath,
  claimedPath,
  listProjectionFiles,
  readCandidate,
  readProgress,
  removeProjectionFile,
  resolveActive,
  type Projection,
} from "../../projections/runner/index.js";
import { auditConfig, UsageError, withUsage } from "./audit-common.js";
import { PROJECTIONS, projectionNamed, projectionsDir } from "./projections-common.js";

/** A switch younger than this may still have readers on the old file (they poll the pointer). */
const SETTLE_MS = 30_000;

/** Files of `projection` that nothing serves, builds or is about to adopt. */
function prunable(dir: string, projection: Projection, now: number): { files: string[]; skipped?: string } {
  const active = resolveActive(dir, projection.name, projection.version);
  if (now - active.since < SETTLE_MS) return { files: [], skipped: `switched to ${active.file} less than ${SETTLE_MS / 1000} s ago` };
  const keep = new Set([active.file]);
  for (const path of [candidatePath(dir, projection.name), claimedPath(dir, projection.name)]) {
    try {
      const candidate = readCandidate(path);
      if (candidate !== undefined) keep.add(candidate.file);
    } catch {
      // an unreadable offer protects nothing
    }
  }
  const progress = readProgress(dir, projection.name);
  if (progress !== undefined && (progress.phase === "building" || progress.phase === "handing-over") && now - progress.updatedAt < SETTLE_MS) {
    keep.add(progress.file);
  }
  return { files: listProjectionFiles(dir, projection.name).map((f) => f.file).filter((f) => !keep.has(f)) };
}

/**
 * `grant-ledger projections prune [<name>...] [--dry-run]`: deletes the files (with WAL and shm) of
 * earlier generations and versions that no process serves any more: never the active file, a copy
 * offered to the projector, or a rebuild in progress; nothing within 30 s of a switch. Exit 0; 2 on
 * bad usage.
 */
export function projectionsPrune(args: string[]): Promise<number> {
  return withUsage(() => {
    let parsed;
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { "dry-run": { type: "boolean" } }, strict: true });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const projections = parsed.positionals.length === 0 ? PROJECTIONS : parsed.positionals.map((n) => projectionNamed(n));
    const dir = projectionsDir(auditConfig());
    const dryRun = parsed.values["dry-run"] === true;
    const now = Date.now();
    for (const projection of projections) {
      const { files, skipped } = prunable(dir, projection, now);
      if (skipped !== undefined) process.stdout.write(`${projection.name}: nothing pruned (${skipped})\n`);
      else if (files.length === 0) process.stdout.write(`${projection.name}: nothing to prune\n`);
      for (const file of files) {
        if (!dryRun) removeProjectionFile(dir, file);
        process.stdout.write(`${projection.name}: ${dryRun ? "would remove" : "removed"} ${file}\n`);
      }
    }
    return Promise.resolve(0);
  });
}
