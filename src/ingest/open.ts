import path from 'node:path';
import type { Config } from '../config/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { Db } from '../store/index.ts';
import { type BlobStore, createBlobStore } from './blob-store.ts';
import { createIngestPipeline, type IngestPipeline } from './pipeline.ts';
import type { IngestHooks } from './types.ts';

/** The pipeline as configured: blobs under the data dir, limits and addresses from config. */
export function ingestFromConfig(deps: {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  hooks?: IngestHooks;
}): { pipeline: IngestPipeline; blobs: BlobStore } {
  const blobs = createBlobStore(deps.config.paths.blobDir ?? path.join(deps.config.paths.dataDir, 'blobs'), {
    logger: deps.logger,
  });
  const pipeline = createIngestPipeline({
    db: deps.db,
    blobs,
    clock: deps.clock,
    logger: deps.logger,
    config: deps.config,
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
  });
  return { pipeline, blobs };
}
