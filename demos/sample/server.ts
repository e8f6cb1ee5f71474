/**
 * Server side of the sample page: proves the SSE bridge with a plain interval running in Node.
 *   GET  /sse/sample/ticks?periodMs=700&count=20  → {n, at} every periodMs (count optional)
 *   POST /api/sample/echo {…}                     → {received: {…}, at}
 */
import { interval, map, take } from 'rxjs';
import type { DemoActions, DemoStreams } from '../kit/server-api.js';

function numberParam(
  params: URLSearchParams,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const value = Number(params.get(name) ?? fallback);
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

export const streams: DemoStreams = {
  ticks(params) {
    const periodMs = numberParam(params, 'periodMs', 20, 10_000, 700);
    const count = numberParam(params, 'count', 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    return interval(periodMs).pipe(
      take(count),
      map((n) => ({ n, at: Date.now() })),
    );
  },
};

export const actions: DemoActions = {
  echo: async (body) => ({ received: body, at: Date.now() }),
};
