import { sha256 } from '../../src/util/sha256.js';

/** How a session id is stored: a hash, so that no stored name or key gives a live id. */
export const storageId = (id: string): string => `~${sha256(id)}`;

/** A session file's name without its extension: `pso_<service>_<storage id>`. */
export const sessionStem = (service: string, id: string): string => `pso_${service}_${storageId(id)}`;

/** The name of a session's file in the file store. */
export const sessionFileName = (service: string, id: string): string => `${sessionStem(service, id)}.json`;

/** A session's key in a store: `<service>:<storage id>`. */
export const sessionKey = (service: string, id: string): string => `${service}:${storageId(id)}`;
