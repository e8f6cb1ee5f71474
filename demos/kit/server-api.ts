/**
 * The contract between the demo server and a page's server module `demos/<area>/server.ts`.
 *
 * The demo server imports every `demos/<area>/server.ts` at start and exposes
 * - `GET /sse/<area>/<stream>?query` — subscribes `streams[stream](query)` and sends each
 *   notification as a Server-Sent Event (`next`, `error`, `complete`, JSON data); closing the
 *   page (or the client's `EventSource`) unsubscribes it;
 * - `POST /api/<area>/<action>` — calls `actions[action](jsonBody)` and answers its result as JSON
 *   (status 500 with `{error: {name, message, code?}}` when it rejects).
 *
 * Server modules run in Node: they may use ioredis/etcd3 and read `demoBackends()` to decide
 * between in-memory backends and real servers (REDIS_URL / ETCD_ENDPOINTS).
 */
import type { Observable } from 'rxjs';

/** Observable factories a page can watch over SSE, keyed by stream name. */
export type DemoStreams = Record<string, (params: URLSearchParams) => Observable<unknown>>;

/** Request/response handlers a page can call with `callAction`, keyed by action name. */
export type DemoActions = Record<string, (body: unknown) => Promise<unknown>>;

/** What a `demos/<area>/server.ts` may export. Every member is optional. */
export interface DemoServerModule {
  streams?: DemoStreams;
  actions?: DemoActions;
  /** Called when the demo server closes: release connections, leases, timers. */
  dispose?: () => void | Promise<void>;
}

/** The real servers the demo server was pointed at; empty → use in-memory backends. */
export interface DemoBackends {
  /** From REDIS_URL, e.g. `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  /** From ETCD_ENDPOINTS (comma-separated), e.g. `['http://127.0.0.1:2379']`. */
  etcdEndpoints?: string[];
}

/** Reads REDIS_URL and ETCD_ENDPOINTS from the environment (unset or blank → absent). */
export function demoBackends(env: NodeJS.ProcessEnv = process.env): DemoBackends {
  const backends: DemoBackends = {};
  const redisUrl = env.REDIS_URL?.trim();
  if (redisUrl) backends.redisUrl = redisUrl;
  const endpoints = (env.ETCD_ENDPOINTS ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length > 0) backends.etcdEndpoints = endpoints;
  return backends;
}
