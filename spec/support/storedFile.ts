import { readFileSync } from 'node:fs';
import { parseRecord, type SessionRecord } from '../../src/session/SessionRecord.js';
import { currentVersion } from '../../src/session/stores/slotFile.js';

/** The current version of a session file, as the store reads it (either format). */
export function storedRecord(file: string): SessionRecord {
  return parseRecord(storedText(file));
}

/** The current version of a session file, as plain JSON. */
export function storedJson(file: string): any {
  return JSON.parse(storedText(file));
}

/** The JSON text of a session file's current version. */
export function storedText(file: string): string {
  return currentVersion(readFileSync(file)).json;
}
