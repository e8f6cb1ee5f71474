/**
 * The demo server (`npm run demo`): serves demos/ on 127.0.0.1 with cross-origin isolation
 * headers (COOP/COEP, so pages may use SharedArrayBuffer) and bridges Observables running in
 * this process to pages over Server-Sent Events (see demos/kit/server-api.ts).
 *
 *   PORT=8080 npm run demo     # fixed port; without PORT a free port is chosen
 *   REDIS_URL=redis://127.0.0.1:6379 ETCD_ENDPOINTS=http://127.0.0.1:2379 npm run demo
 *
 * Browser specs start it in-process with `startDemoServer()`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Subscription } from 'rxjs';
import { demoBackends, type DemoServerModule } from './kit/server-api.js';

export interface DemoServerConfig {
  /** Port to listen on; 0 or absent → a free port. */
  port?: number;
  /** Directory to serve and to discover `<area>/server.ts` modules in (default: demos/). */
  root?: string;
  /** Extra server modules by area name (added to / replacing the discovered ones). */
  modules?: Record<string, DemoServerModule>;
}

export interface DemoServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  /** Server modules by area name, as discovered plus `config.modules`. */
  modules: Readonly<Record<string, DemoServerModule>>;
  /** SSE streams open right now (each holds one subscription in this process). */
  readonly openStreams: number;
  /** Ends open SSE streams (unsubscribing their Observables), disposes modules, stops listening. */
  close(): Promise<void>;
}

const demosDir = dirname(fileURLToPath(import.meta.url));

/** Content types of the files we serve; anything else (e.g. .ts sources) is a 404. */
const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Sent on every response: cross-origin isolation (SharedArrayBuffer) and no sniffing. */
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

const namePattern = /^[\w-]+$/;
/** A slow SSE client is cut off rather than buffered without bound. */
const maxBufferedSseBytes = 1 << 20;
const maxBodyBytes = 1 << 20;
const heartbeatMs = 15_000;

/** JSON for the wire: bigints (lock fences, terms) become decimal strings. */
function toJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ??
    'null'
  );
}

function errorInfo(err: unknown): { name: string; message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: err.name, message: err.message, code }
      : { name: err.name, message: err.message };
  }
  return { name: 'Error', message: String(err) };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { ...isolationHeaders, 'Content-Type': type, 'Cache-Control': 'no-cache' });
  res.end(body);
}

const sendText = (res: ServerResponse, status: number, text: string) =>
  send(res, status, 'text/plain; charset=utf-8', text);
const sendJson = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json; charset=utf-8', toJson(value));

/** Imports every `<root>/<area>/server.ts`. */
async function discoverModules(root: string): Promise<Record<string, DemoServerModule>> {
  const modules: Record<string, DemoServerModule> = {};
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !namePattern.test(entry.name)) continue;
    const file = join(root, entry.name, 'server.ts');
    if (!existsSync(file)) continue;
    try {
      modules[entry.name] = (await import(pathToFileURL(file).href)) as DemoServerModule;
    } catch (err) {
      // One broken page must not take the others down: report it, serve the rest.
      console.error(`demo server: skipping ${entry.name}/server.ts:`, err);
    }
  }
  return modules;
}

async function serveStatic(
  root: string,
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return sendText(res, 405, 'method not allowed');
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return sendText(res, 400, 'bad path');
  }
  if (decoded.includes('\0') || decoded.split('/').some((part) => part.startsWith('.'))) {
    return sendText(res, 404, 'not found');
  }
  let file = resolve(root, '.' + decoded);
  if (file !== root && !file.startsWith(root + sep)) return sendText(res, 404, 'not found');
  const info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      // Relative URLs in the page (./main.css) must resolve inside the directory.
      res.writeHead(301, { ...isolationHeaders, Location: pathname + '/' });
      res.end();
      return;
    }
    file = join(file, 'index.html');
  } else if (!info?.isFile()) {
    return sendText(res, 404, 'not found');
  }
  const type = contentTypes[extname(file)];
  const body = type ? await readFile(file).catch(() => null) : null;
  if (!type || !body) return sendText(res, 404, 'not found');
  res.writeHead(200, {
    ...isolationHeaders,
    'Content-Type': type,
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function serveSse(
  module: DemoServerModule | undefined,
  name: string,
  params: URLSearchParams,
  res: ServerResponse,
  open: Set<ServerResponse>,
): void {
  const factory = module?.streams?.[name];
  if (!factory) return sendText(res, 404, `no stream ${name}`);
  res.writeHead(200, {
    ...isolationHeaders,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
  });
  res.flushHeaders();
  open.add(res);
  let subscription: Subscription | undefined;
  const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
  const finish = () => {
    clearInterval(heartbeat);
    open.delete(res);
    subscription?.unsubscribe();
    if (!res.writableEnded) res.end();
  };
  const event = (kind: 'next' | 'error' | 'complete', data: unknown) => {
    if (res.writableEnded) return;
    res.write(`event: ${kind}\ndata: ${toJson(data)}\n\n`);
    if (kind !== 'next') finish();
    else if (res.writableLength > maxBufferedSseBytes) {
      res.write(`event: error\ndata: ${toJson({ name: 'Error', message: 'slow consumer' })}\n\n`);
      finish();
    }
  };
  // The client went away (page closed, EventSource.close()): unsubscribe the Observable.
  res.on('close', finish);
  try {
    subscription = factory(params).subscribe({
      next: (value) => event('next', value),
      error: (err: unknown) => event('error', errorInfo(err)),
      complete: () => event('complete', null),
    });
  } catch (err) {
    event('error', errorInfo(err));
  }
  if (res.writableEnded) subscription?.unsubscribe();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new RangeError(`request body over ${maxBodyBytes} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function serveAction(
  module: DemoServerModule | undefined,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'POST') return sendText(res, 405, 'use POST');
  const action = module?.actions?.[name];
  if (!action)
    return sendJson(res, 404, { error: { name: 'Error', message: `no action ${name}` } });
  let body: unknown;
  try {
    const text = await readBody(req);
    body = text.trim() === '' ? undefined : JSON.parse(text);
  } catch (err) {
    return sendJson(res, 400, { error: errorInfo(err) });
  }
  try {
    sendJson(res, 200, await action(body));
  } catch (err) {
    sendJson(res, 500, { error: errorInfo(err) });
  }
}

/** Starts the demo server on 127.0.0.1. */
export async function startDemoServer(config: DemoServerConfig = {}): Promise<DemoServer> {
  const root = resolve(config.root ?? demosDir);
  const modules = { ...(await discoverModules(root)), ...config.modules };
  const openStreams = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://localhost');
    const [, kind, area, name, ...rest] = pathname.split('/');
    const bridged = (kind === 'sse' || kind === 'api') && rest.length === 0;
    if (bridged && area && name && namePattern.test(area) && namePattern.test(name)) {
      if (kind === 'sse') return serveSse(modules[area], name, searchParams, res, openStreams);
      return void serveAction(modules[area], name, req, res);
    }
    serveStatic(root, pathname, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, errorInfo(err).message);
      else res.destroy();
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    modules,
    get openStreams() {
      return openStreams.size;
    },
    async close() {
      for (const res of openStreams) res.end();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
      for (const module of Object.values(modules)) await module.dispose?.();
    },
  };
}

async function main(): Promise<void> {
  const port = process.env.PORT ? Number(process.env.PORT) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`PORT must be an integer in 0..65535, got ${process.env.PORT}`);
  }
  const demo = await startDemoServer({ port });
  const { redisUrl, etcdEndpoints } = demoBackends();
  console.log(`demo server on ${demo.url}`);
  console.log(
    `backends: redis ${redisUrl ?? '(in-memory)'}, etcd ${etcdEndpoints?.join(',') ?? '(in-memory)'}`,
  );
  console.log(`areas with server streams: ${Object.keys(demo.modules).join(', ') || 'none'}`);
  const stop = () => void demo.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
