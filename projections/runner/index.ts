export { startProjection } from "./runner.js";
export { ProjectionApplyError, ProjectionVersionError } from "./projection.js";
export { openProjectionDatabase, readCheckpoint, waitForCheckpoint } from "./sqlite.js";

export type { AppliedBatch, ProjectionRunner, StartProjectionOptions } from "./runner.js";
export type { Projection } from "./projection.js";
export type { Checkpoint, OpenProjectionDatabaseOptions, WaitForCheckpointOptions } from "./sqlite.js";
