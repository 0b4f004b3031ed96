import { itFuzzes } from '../support/fuzz/itFuzzes.js';
import { targets } from './targets/forms.js';

describe('fuzz: urlencoded and multipart bodies (src/service/forms)', () => {
  itFuzzes(new URL('./targets/forms.js', import.meta.url).href, targets);
});
