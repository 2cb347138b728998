import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "better-sqlite3";
import type { Logger } from "pino";
import type { EventLog } from "../eventlog/types.js";
import {
  dataVersion,
  openProjectionDatabase,
  ProjectionVersionError,
  readCheckpoint,
  startProjection,
  type Projection,
  type ProjectionRunner,
} from "../../projections/runner/index.js";
import {
  buildCopy,
  candidatePath,
  claimedPath,
  nextGeneration,
  progressPath,
  projectorPath,
  readCandidate,
  readPointer,
  readProgress,
  resolveActive,
  writeJsonAtomically,
  writePointer,
  type ActiveFile,
  type CopyProgress,
  type RebuildProgress,
} from "../../projections/runner/index.js";
import { delegateTo } from "./delegate.js";
import type { ReadModelSource } from "./read-source.js";

/** A rebuild this process runs or watches (another process's, through its progress file). */
export interface RebuildStatus {
  readonly file: string;
  readonly generation: number;
  readonly appliedSeq: number;
  readonly head: number;
  readonly eventsPerSecond: number;
  readonly etaSeconds: number | null;
}

/**
 * A projection's read side that survives blue-green switches: `readModel`, `db`, `appliedSeq` and
 * `waitFor` always answer from the active file, and a switch replaces it between two calls (all
 * SQLite work is synchronous, so no call ever sees half of one file and half of another).
 */
export interface ProjectionSlot<R extends object> extends ReadModelSource {
  /** Forwards to the active file's read model. */
  readonly readModel: R;
  readonly active: ActiveFile;
  /** The runner writing the active file (projector mode). */
  readonly runner: ProjectionRunner | undefined;
  /** The rebuild in progress, here or (for a reader or a CLI rebuild) as its progress file says. */
  rebuilding(): RebuildStatus | undefined;
  /** Projector mode: rebuilds into a new file from sequence 1 and switches to it; resolves once switched. */
  rebuild(): Promise<ActiveFile>;
  stop(): Promise<void>;
}

interface State<R> {
  readonly active: ActiveFile;
  readonly path: string;
  readonly db: Database;
  readonly readModel: R;
  readonly runner: ProjectionRunner | undefined;
}

/** Options shared by both modes. */
interface SlotOptions<R> {
  readonly projection: Projection;
  /** `<dataDir>/projections`. */
  readonly dir: string;
  readonly makeReadModel: (db: Database) => R;
  readonly logger: Logger;
  /** How often the pointer (reader) or a rebuild's candidate (projector) is looked for, ms. Default 250. */
  readonly watchMs?: number;
}

/** Options of {@link startProjectorSlot}. */
export interface ProjectorSlotOptions<R> extends SlotOptions<R> {
  readonly log: EventLog;
  /** The active runner failed: the process must not keep answering from a frozen copy. */
  readonly onFatal: (error: unknown) => void;
  /**
   * After a switch the old file keeps being written this long (ms, default 3000), so processes
   * that read it (WAL readers) stay fresh until they have noticed the pointer.
   */
  readonly handoverGraceMs?: number;
  /** Called with rebuild progress, and with undefined when a rebuild ends. */
  readonly onRebuildProgress?: (status: RebuildStatus | undefined) => void;
}

const STALE_PROGRESS_MS = 10_000;

/** Whether this build can serve (and apply to) a file of `version`. */
const serves = (projection: Projection, version: number): boolean =>
  version === projection.version || (projection.servesVersions ?? []).includes(version);

/**
 * The projector's slot: runs the projection on the active file (`<name>.current.json`, or the
 * pre-pointer `<name>.v<version>.db`), and switches blue-green to a rebuilt copy:
 * - `rebuild()` builds a new generation in this process;
 * - a copy built by `grant-ledger projections rebuild` (another process) is offered as
 *   `<name>.next.json`: this slot claims it, resumes its runner from the copy's checkpoint and
 *   switches once it has caught up;
 * - on start, an active file of another version is rebuilt: in the background while the old copy
 *   keeps serving when this build lists its version in `servesVersions`, otherwise before serving.
 *
 * A switch happens once the new runner has applied at least what the old one had (so answers never
 * go back in the log), replaces the state in one synchronous step, then rewrites the pointer; the
 * old runner keeps applying for `handoverGraceMs` before it stops, and its file stays for pruning.
 */
export async function startProjectorSlot<R extends object>(options: ProjectorSlotOptions<R>): Promise<ProjectionSlot<R>> {
  const { projection, dir, log, logger } = options;
  const name = projection.name;
  const graceMs = options.handoverGraceMs ?? 3000;
  const stopping = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  let rebuildStatus: RebuildStatus | undefined;
  let busy: Promise<ActiveFile> | undefined;

  const report = (status: RebuildStatus | undefined, phase: RebuildProgress["phase"] = "building"): void => {
    rebuildStatus = status;
    options.onRebuildProgress?.(status);
    if (status === undefined) return;
    try {
      writeJsonAtomically(progressPath(dir, name), { ...status, pid: process.pid, phase, updatedAt: Date.now() } satisfies RebuildProgress);
    } catch (error) {
      logger.warn({ err: error, projection: name }, "could not write rebuild progress");
    }
  };

  const run = (active: ActiveFile): ProjectionRunner => {
    const runner = startProjection({
      log,
      projection,
      file: join(dir, active.file),
      signal: stopping.signal,
      fileVersion: active.version,
    });
    watchRunner(runner);
    return runner;
  };
  // Only the active runner's failure is fatal; a replaced one is merely logged.
  const watchRunner = (runner: ProjectionRunner): void => {
    runner.done.catch((error: unknown) => {
      if (stopping.signal.aborted) return;
      if (state.runner === runner) options.onFatal(error);
      else logger.warn({ err: error, projection: name }, "replaced projection runner stopped with an error");
    });
  };
  const stateOf = (active: ActiveFile, runner: ProjectionRunner): State<R> => ({
    active,
    path: join(dir, active.file),
    db: runner.db,
    readModel: options.makeReadModel(runner.db),
    runner,
  });

  /** Builds (or resumes) `file` to the head, then switches to it. */
  const buildAndSwitch = async (target: ActiveFile, reason: string): Promise<ActiveFile> => {
    const path = join(dir, target.file);
    logger.info({ projection: name, file: path, generation: target.generation, reason }, "projection rebuild started");
    const base = { file: target.file, generation: target.generation };
    const runner = await buildCopy({
      log,
      projection,
      file: path,
      signal: stopping.signal,
      onProgress: (p: CopyProgress) => {
        report({ ...base, appliedSeq: p.appliedSeq, head: p.head, eventsPerSecond: p.eventsPerSecond, etaSeconds: p.etaSeconds });
        logger.info({ projection: name, generation: target.generation, ...p }, "projection rebuild progress");
      },
    });
    await switchTo(runner, target);
    return target;
  };

  const switchTo = async (runner: ProjectionRunner, target: ActiveFile): Promise<void> => {
    // Never answer from less than the old copy had applied.
    while (runner.appliedSeq < state.runner!.appliedSeq) {
      await runner.waitFor(state.runner!.appliedSeq, 1000);
      if (!runner.running) {
        await runner.done;
        throw new Error(`the rebuilt ${name} runner stopped before the switch`);
      }
      if (stopping.signal.aborted) {
        await runner.stop();
        throw new Error("stopping");
      }
    }
    const old = state;
    const active = { ...target, since: Date.now() };
    state = stateOf(active, runner); // the switch: one synchronous assignment
    watchRunner(runner);
    writePointer(dir, name, active);
    report({ file: target.file, generation: target.generation, appliedSeq: runner.appliedSeq, head: runner.appliedSeq, eventsPerSecond: 0, etaSeconds: 0 }, "done");
    report(undefined);
    logger.info(
      { projection: name, from: old.active.file, to: active.file, generation: active.generation, appliedSeq: runner.appliedSeq },
      "projection switched to the rebuilt file; the old file is kept until pruned",
    );
    const timer = setTimeout(() => {
      timers.delete(timer);
      void old.runner?.stop();
    }, graceMs);
    timers.add(timer);
  };

  const rebuild = (reason: string): Promise<ActiveFile> => {
    if (busy !== undefined) return busy;
    const { file, generation } = nextGeneration(dir, name, projection.version);
    busy = buildAndSwitch({ file, version: projection.version, generation, since: 0 }, reason).finally(() => {
      busy = undefined;
    });
    return busy;
  };

  // Start: the active file, or a rebuild first when this build cannot serve it.
  let active = resolveActive(dir, name, projection.version);
  let state: State<R>;
  let upgradeInBackground = false;
  if (active.version !== projection.version && !(serves(projection, active.version) && existsSync(join(dir, active.file)))) {
    logger.warn(
      { projection: name, file: active.file, fileVersion: active.version, codeVersion: projection.version },
      "projection file of another version that this build cannot serve: rebuilding before serving",
    );
    const { file, generation } = nextGeneration(dir, name, projection.version);
    active = { file, version: projection.version, generation, since: Date.now() };
    const runner = await buildCopy({
      log,
      projection,
      file: join(dir, file),
      signal: stopping.signal,
      onProgress: (p) => logger.info({ projection: name, generation, ...p }, "projection rebuild progress"),
    });
    state = stateOf(active, runner);
    watchRunner(runner);
    writePointer(dir, name, active);
  } else {
    upgradeInBackground = active.version !== projection.version;
    state = stateOf(active, run(active));
    // First start with pointers: name the file every earlier build used (since 0: not a switch).
    if (readPointer(dir, name) === undefined) writePointer(dir, name, active);
  }
  if (upgradeInBackground) {
    logger.warn(
      { projection: name, file: active.file, fileVersion: active.version, codeVersion: projection.version },
      "projection file of an older version: serving from it while the new version is rebuilt",
    );
    rebuild(`schema version ${active.version} -> ${projection.version}`).catch((error: unknown) => {
      if (!stopping.signal.aborted) logger.error({ err: error, projection: name }, "automatic projection rebuild failed; still serving the old file");
    });
  }

  writeJsonAtomically(projectorPath(dir, name), { pid: process.pid, since: Date.now() });
  // A copy claimed by a projector that stopped before switching to it: offer it again.
  if (existsSync(claimedPath(dir, name)) && !existsSync(candidatePath(dir, name))) {
    try {
      renameSync(claimedPath(dir, name), candidatePath(dir, name));
    } catch {
      // another projector took it meanwhile
    }
  }

  // A copy built by `projections rebuild` in another process: claim it (the rename makes one
  // projector win), resume it here and switch.
  const watch = setInterval(() => {
    if (busy !== undefined || stopping.signal.aborted || !existsSync(candidatePath(dir, name))) return;
    try {
      renameSync(candidatePath(dir, name), claimedPath(dir, name));
    } catch {
      return; // another projector claimed it
    }
    let adopted: Promise<ActiveFile>;
    try {
      const candidate = readCandidate(claimedPath(dir, name));
      if (candidate === undefined) return;
      if (candidate.version !== projection.version) {
        throw new ProjectionVersionError(name, candidate.version, projection.version, candidate.file);
      }
      adopted = buildAndSwitch({ ...candidate, since: 0 }, "copy rebuilt by the CLI");
    } catch (error) {
      logger.error({ err: error, projection: name }, "could not adopt the rebuilt copy");
      rmSync(claimedPath(dir, name), { force: true });
      return;
    }
    busy = adopted.finally(() => {
      busy = undefined;
      rmSync(claimedPath(dir, name), { force: true });
    });
    busy.catch((error: unknown) => {
      if (!stopping.signal.aborted) logger.error({ err: error, projection: name }, "could not adopt the rebuilt copy");
    });
  }, options.watchMs ?? 250);
  watch.unref();

  return slotApi({
    name,
    state: () => state,
    appliedSeq: () => state.runner!.appliedSeq,
    waitFor: async (seq, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const runner = state.runner!;
        if (runner.appliedSeq >= seq) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        if (await runner.waitFor(seq, left)) return true;
        // Woken false by a runner that was switched away from: wait on the new one.
        if (state.runner === runner) return false;
      }
    },
    rebuilding: () => rebuildStatus ?? externalProgress(dir, name),
    rebuild: () => rebuild("requested"),
    stop: async () => {
      clearInterval(watch);
      for (const timer of timers) clearTimeout(timer);
      stopping.abort();
      await busy?.catch(() => undefined);
      await state.runner?.stop();
      rmSync(projectorPath(dir, name), { force: true });
    },
  });
}

/** Options of {@link openReaderSlot}. */
export interface ReaderSlotOptions<R> extends SlotOptions<R> {
  /** How long to wait for the projector to create the active file (ms). */
  readonly waitForFileMs: number;
  readonly signal?: AbortSignal;
}

/**
 * A process without the projector: reads the active file read-only (a WAL reader) and follows the
 * pointer, switching to a new file as soon as the projector names it (the projector keeps the old
 * file fresh for a grace period longer than the poll). Progress is the checkpoint stored with the
 * rows; `waitFor` polls it.
 */
export async function openReaderSlot<R extends object>(options: ReaderSlotOptions<R>): Promise<ProjectionSlot<R>> {
  const { projection, dir, logger } = options;
  const name = projection.name;
  const open = (active: ActiveFile): State<R> | undefined => {
    const path = join(dir, active.file);
    if (!existsSync(path)) return undefined;
    const db = openProjectionDatabase(path, { readonly: true });
    const checkpoint = readCheckpoint(db, name);
    if (checkpoint === undefined || checkpoint.version !== active.version || !serves(projection, checkpoint.version)) {
      db.close();
      if (checkpoint !== undefined && !serves(projection, checkpoint.version)) {
        throw new ProjectionVersionError(name, checkpoint.version, projection.version, path);
      }
      return undefined;
    }
    return { active, path, db, readModel: options.makeReadModel(db), runner: undefined };
  };

  const deadline = Date.now() + options.waitForFileMs;
  let state: State<R> | undefined;
  for (;;) {
    let error: Error | undefined;
    try {
      state = open(resolveActive(dir, name, projection.version));
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e)); // a version this build cannot read: the projector may be rebuilding; wait for the pointer
    }
    if (state !== undefined) break;
    if (Date.now() > deadline || options.signal?.aborted === true) {
      if (error !== undefined) throw error;
      throw new Error(`no ${name} read model in ${dir} after ${options.waitForFileMs} ms: start a process with the projector role on this data dir`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let current: State<R> = state;

  const watch = setInterval(() => {
    let pointed: ActiveFile | undefined;
    try {
      pointed = readPointer(dir, name);
    } catch (error) {
      logger.warn({ err: error, projection: name }, "unreadable projection pointer; keeping the current file");
      return;
    }
    if (pointed === undefined || pointed.file === current.active.file) return;
    let next: State<R> | undefined;
    try {
      next = open(pointed);
    } catch (error) {
      logger.error({ err: error, projection: name }, "cannot switch to the new projection file");
      return;
    }
    if (next === undefined) return; // not ready: try again on the next tick
    const old = current;
    // Never answer from less than the old file had applied (the projector switches once the new
    // one has caught up, but the old one keeps committing for a grace period).
    if ((readCheckpoint(next.db, name)?.seq ?? 0) < (readCheckpoint(old.db, name)?.seq ?? 0)) {
      next.db.close();
      return;
    }
    current = next;
    logger.info({ projection: name, from: old.active.file, to: next.active.file }, "projection reader switched to the new file");
    // Every use of a connection is synchronous; the delay only covers a caller that kept one.
    setTimeout(() => old.db.open && old.db.close(), 1000).unref();
  }, options.watchMs ?? 250);
  watch.unref();

  // Asked on every HTTP introspection (the caller's verified-secret memo) and by every waitFor
  // poll: the checkpoint SELECT (~5.6 µs) runs only when the projector committed since the last one
  // (data_version, ~2.8 µs). The version is read first, so a commit in between only causes a re-read.
  let known: { readonly db: Database; readonly version: number; readonly seq: number } | undefined;
  const appliedSeq = (): number => {
    const db = current.db;
    const version = dataVersion(db);
    if (known?.db === db && known.version === version) return known.seq;
    const seq = readCheckpoint(db, name)?.seq ?? 0;
    known = { db, version, seq };
    return seq;
  };
  return slotApi({
    name,
    state: () => current,
    appliedSeq,
    waitFor: async (seq, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (appliedSeq() >= seq) return true;
        const left = deadline - Date.now();
        if (left <= 0 || options.signal?.aborted === true) return false;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5, left)));
      }
    },
    rebuilding: () => externalProgress(dir, name),
    rebuild: () => Promise.reject(new Error("only a process with the projector role rebuilds")),
    stop: () => {
      clearInterval(watch);
      if (current.db.open) current.db.close();
      return Promise.resolve();
    },
  });
}

/** A rebuild another process reports in its progress file, while it is recent. */
function externalProgress(dir: string, name: string): RebuildStatus | undefined {
  const progress = readProgress(dir, name);
  if (progress === undefined || progress.phase === "done" || progress.phase === "failed") return undefined;
  if (Date.now() - progress.updatedAt > STALE_PROGRESS_MS) return undefined;
  return progress;
}

interface SlotParts<R> {
  readonly name: string;
  readonly state: () => State<R>;
  readonly appliedSeq: () => number;
  readonly waitFor: (seq: number, timeoutMs: number) => Promise<boolean>;
  readonly rebuilding: () => RebuildStatus | undefined;
  readonly rebuild: () => Promise<ActiveFile>;
  readonly stop: () => Promise<void>;
}

function slotApi<R extends object>(parts: SlotParts<R>): ProjectionSlot<R> {
  const readModel = delegateTo(() => parts.state().readModel);
  let stopped: Promise<void> | undefined;
  return {
    name: parts.name,
    get file() {
      return parts.state().path;
    },
    get db() {
      return parts.state().db;
    },
    get active() {
      return parts.state().active;
    },
    get runner() {
      return parts.state().runner;
    },
    readModel,
    appliedSeq: parts.appliedSeq,
    waitFor: parts.waitFor,
    rebuilding: parts.rebuilding,
    rebuild: parts.rebuild,
    stop: () => (stopped ??= parts.stop()),
    close: () => void (stopped ??= parts.stop()),
  };
}
