import { itFuzzes } from '../support/fuzz/itFuzzes.js';
import { targets } from './targets/identity.js';

describe('fuzz: cookies, signed ids and session file names (src/session/identity, FileStore)', () => {
  itFuzzes(new URL('./targets/identity.js', import.meta.url).href, targets);
});
