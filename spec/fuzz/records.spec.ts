import { itFuzzes } from '../support/fuzz/itFuzzes.js';
import { targets } from './targets/records.js';

describe('fuzz: stored session records (src/session/SessionRecord.ts, SessionImpl)', () => {
  itFuzzes(new URL('./targets/records.js', import.meta.url).href, targets);
});
