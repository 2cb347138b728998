export { startProjection } from "./runner.js";
export { ProjectionApplyError, ProjectionVersionError } from "./projection.js";
export { dataVersion, openProjectionDatabase, readCheckpoint, waitForCheckpoint } from "./sqlite.js";
export { buildCopy } from "./rebuild.js";
export { projectionDigest, projectionFileDigest } from "./digest.js";
export {
  candidatePath,
  claimedPath,
  fileBytes,
  generationFileName,
  legacyFileName,
  listProjectionFiles,
  nextGeneration,
  pointerPath,
  progressPath,
  projectorAlive,
  projectorPath,
  readCandidate,
  readPointer,
  readProgress,
  removeProjectionFile,
  resolveActive,
  writeJsonAtomically,
  writePointer,
} from "./generations.js";

export type { AppliedBatch, ProjectionRunner, StartProjectionOptions } from "./runner.js";
export type { Projection } from "./projection.js";
export type { Checkpoint, OpenProjectionDatabaseOptions, WaitForCheckpointOptions } from "./sqlite.js";
export type { BuildCopyOptions, CopyProgress } from "./rebuild.js";
export type { ProjectionDigest } from "./digest.js";
export type { ActiveFile, Candidate, ProjectionFile, RebuildProgress } from "./generations.js";
