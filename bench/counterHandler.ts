// The benchmarks' counter page as a handler module, for `pso serve` (workers.ts):
//   GET /      loads the session, increments `count`, saves, answers the count
//   GET /peek  answers the count without changing it
export { psoCounter as handler } from './lib.js';
