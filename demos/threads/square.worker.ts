// Pool worker of the threads page: squares a number after `ms` of busy CPU work.
import { exposeWorker } from '../../lib/index.js';

export interface SquareJob {
  n: number;
  ms: number;
  /** Throw an uncaught error instead: the pool replaces this worker. */
  crash?: boolean;
}

export interface SquareResult {
  n: number;
  square: number;
  /** Which worker did it (a random tag chosen when the worker started). */
  worker: string;
}

const tag = Math.random().toString(36).slice(2, 6);

exposeWorker((job: SquareJob): SquareResult | Promise<never> => {
  if (job.crash) {
    setTimeout(() => {
      throw new Error(`worker ${tag} crashed on purpose`);
    });
    return new Promise<never>(() => undefined);
  }
  const end = performance.now() + job.ms;
  while (performance.now() < end); // CPU-bound on purpose: this is a real core at work
  return { n: job.n, square: job.n * job.n, worker: tag };
});
