import { itFuzzes } from '../support/fuzz/itFuzzes.js';
import { targets } from './targets/fastcgi.js';

describe('fuzz: FastCGI records and connections (src/hosts/fastcgi)', () => {
  itFuzzes(new URL('./targets/fastcgi.js', import.meta.url).href, targets);
});
