import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

/**
 * Which file of a projection serves: a small JSON pointer `<name>.current.json` next to the files in
 * `<dataDir>/projections`. A rebuild writes a new file (`<name>.v<version>.g<generation>.db`) while
 * the pointed-to one keeps serving, then the pointer is replaced by a rename (atomic on POSIX), so
 * every process watching it sees the old name or the new one, never a torn write. Old files stay
 * until `projections prune` deletes them.
 *
 * A data dir from before pointers has none: the active file is then `<name>.v<version>.db`
 * (generation 0), the name every earlier build used.
 */
export const activeFileSchema = z.object({
  /** File name inside the projections folder (never a path: the folder may move). */
  file: z.string().regex(/^[A-Za-z0-9_.-]+\.db$/),
  /** Schema version of the projection that wrote the file. */
  version: z.number().int().min(1),
  generation: z.number().int().min(0),
  /** Epoch ms when it became active. */
  since: z.number().int().min(0),
});
export type ActiveFile = z.infer<typeof activeFileSchema>;

/** A finished copy a rebuild hands to the serving projector (`<name>.next.json`). */
export const candidateSchema = activeFileSchema.extend({
  /** Sequence the copy had applied when the rebuild stopped writing to it. */
  appliedSeq: z.number().int().min(0),
});
export type Candidate = z.infer<typeof candidateSchema>;

/** Progress of a running rebuild (`<name>.rebuild.json`), for `projections status` and metrics. */
export const rebuildProgressSchema = z.object({
  file: z.string(),
  generation: z.number().int(),
  pid: z.number().int(),
  appliedSeq: z.number().int(),
  head: z.number().int(),
  eventsPerSecond: z.number(),
  etaSeconds: z.number().nullable(),
  phase: z.enum(["building", "handing-over", "done", "failed"]),
  updatedAt: z.number().int(),
});
export type RebuildProgress = z.infer<typeof rebuildProgressSchema>;

export const pointerPath = (dir: string, name: string): string => join(dir, `${name}.current.json`);
export const candidatePath = (dir: string, name: string): string => join(dir, `${name}.next.json`);
export const claimedPath = (dir: string, name: string): string => join(dir, `${name}.adopting.json`);
export const progressPath = (dir: string, name: string): string => join(dir, `${name}.rebuild.json`);
/** The pid of the process running the projection on this folder, so a rebuild knows one will adopt its copy. */
export const projectorPath = (dir: string, name: string): string => join(dir, `${name}.projector.json`);

/** Whether a live process says it runs the projection on this folder. */
export function projectorAlive(dir: string, name: string): boolean {
  let pid: number;
  try {
    pid = z.object({ pid: z.number().int() }).parse(JSON.parse(readFileSync(projectorPath(dir, name), "utf8"))).pid;
  } catch {
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The file name every build before pointers used, and the default for a fresh data dir. */
export const legacyFileName = (name: string, version: number): string => `${name}.v${version}.db`;

export const generationFileName = (name: string, version: number, generation: number): string =>
  `${name}.v${version}.g${generation}.db`;

function readJson<T>(path: string, schema: z.ZodType<T>): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** Writes JSON to a temporary name and renames it into place: readers never see half a file. */
export function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

/** The pointer as stored, or undefined when the data dir has none yet. */
export const readPointer = (dir: string, name: string): ActiveFile | undefined => readJson(pointerPath(dir, name), activeFileSchema);

/**
 * The active file: the pointer's, or (no pointer yet) `<name>.v<codeVersion>.db`, which may not
 * exist yet.
 */
export function resolveActive(dir: string, name: string, codeVersion: number): ActiveFile {
  return readPointer(dir, name) ?? { file: legacyFileName(name, codeVersion), version: codeVersion, generation: 0, since: 0 };
}

export const writePointer = (dir: string, name: string, active: ActiveFile): void => writeJsonAtomically(pointerPath(dir, name), active);

export const readCandidate = (path: string): Candidate | undefined => readJson(path, candidateSchema);

export function readProgress(dir: string, name: string): RebuildProgress | undefined {
  try {
    return readJson(progressPath(dir, name), rebuildProgressSchema);
  } catch {
    return undefined; // a progress file is advisory: a bad one is no progress
  }
}

/** A projection's files in `dir` (a main file per generation, without -wal / -shm). */
export interface ProjectionFile {
  readonly file: string;
  readonly version: number;
  readonly generation: number;
  readonly bytes: number;
}

const FILE_PATTERN = /^(.+)\.v(\d+)(?:\.g(\d+))?\.db$/;

/** Bytes of a SQLite file with its WAL (what it costs on disk). */
export const fileBytes = (path: string): number =>
  [path, `${path}-wal`].reduce((sum, p) => sum + (existsSync(p) ? statSync(p).size : 0), 0);

export function listProjectionFiles(dir: string, name: string): ProjectionFile[] {
  if (!existsSync(dir)) return [];
  const files: ProjectionFile[] = [];
  for (const entry of readdirSync(dir)) {
    const match = FILE_PATTERN.exec(entry);
    if (match === null || match[1] !== name) continue;
    files.push({ file: entry, version: Number(match[2]), generation: Number(match[3] ?? 0), bytes: fileBytes(join(dir, entry)) });
  }
  return files.sort((a, b) => a.generation - b.generation || a.version - b.version);
}

/** The name of the next generation's file: one above every generation in the folder. */
export function nextGeneration(dir: string, name: string, version: number): { file: string; generation: number } {
  const taken = listProjectionFiles(dir, name).map((f) => f.generation);
  const active = readPointer(dir, name)?.generation ?? 0;
  const generation = Math.max(active, ...taken) + 1;
  return { file: generationFileName(name, version, generation), generation };
}

/** Deletes a projection file with its WAL and shared-memory files. */
export function removeProjectionFile(dir: string, file: string): void {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(join(dir, `${file}${suffix}`), { force: true });
}
