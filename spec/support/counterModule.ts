// The counter page as a handler module for `pso serve` (the reliability suites
// and their benchmarks):
//   GET /      increments `n` in the session and answers it
//   GET /peek  answers `n` without changing the session
import type { ServiceRequest } from '../../src/index.js';

export function handler(r: ServiceRequest): void {
  r.sendHttpHeaders('text/plain');
  const n = r.path === '/peek' ? (r.session.get('n', 0) as number) : r.session.increment('n');
  r.write(String(n));
}
