import assert from 'node:assert/strict';
import { DIRECTIVES } from '../../src/config/directives.js';
import { itFuzzes } from '../support/fuzz/itFuzzes.js';
import { directiveCases } from './targets/directiveCases.js';
import { targets } from './targets/config.js';

const url = new URL('./targets/config.js', import.meta.url).href;

describe('fuzz: directive values (src/config)', () => {
  it('has a case for every entry of the directive table', () => {
    assert.deepEqual(directiveCases.map((c) => c?.name), Object.keys(DIRECTIVES));
  });
  itFuzzes(url, targets);
});
