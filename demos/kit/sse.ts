/**
 * Client side of the demo server's bridge: watch an Observable running in the server
 * (`demos/<area>/server.ts`, see server-api.ts) and call its actions.
 *
 * @example
 * serverStream<number>('/sse/sample/ticks?periodMs=500').subscribe(console.log);
 * const reply = await callAction<{ at: number }>('/api/sample/echo', { hello: 1 });
 */
import { Observable } from 'rxjs';

/** An error the server-side Observable or action failed with (name, message, code kept). */
export class ServerStreamError extends Error {
  constructor(
    message: string,
    override readonly name: string = 'Error',
    readonly code?: string,
  ) {
    super(message);
  }
}

interface WireError {
  name?: string;
  message?: string;
  code?: string;
}

const toError = (info: WireError | undefined): ServerStreamError =>
  new ServerStreamError(info?.message ?? 'server error', info?.name, info?.code);

/**
 * Subscribes to `GET path` as Server-Sent Events: `next` events emit their JSON data, `complete`
 * completes, `error` errors with a `ServerStreamError`; a lost connection errors too (no silent
 * reconnect, which would restart the server's Observable). Unsubscribing closes the EventSource,
 * which unsubscribes the Observable in the server. Bigints arrive as decimal strings.
 * Each stream holds one HTTP connection (Chromium: 6 per origin), so keep a page to a few.
 */
export function serverStream<T>(path: string): Observable<T> {
  return new Observable<T>((subscriber) => {
    const source = new EventSource(path);
    source.addEventListener('next', (e) =>
      subscriber.next(JSON.parse((e as MessageEvent<string>).data) as T),
    );
    source.addEventListener('complete', () => {
      source.close();
      subscriber.complete();
    });
    source.addEventListener('error', (e) => {
      source.close();
      // A server-sent `error` event carries data; a bare Event is a connection failure.
      subscriber.error(
        e instanceof MessageEvent
          ? toError(JSON.parse(e.data as string) as WireError)
          : new ServerStreamError(`connection to ${path} lost`),
      );
    });
    return () => source.close();
  });
}

/** POSTs `body` as JSON to an action (`/api/<area>/<action>`) and resolves with its JSON result. */
export async function callAction<R = unknown>(path: string, body?: unknown): Promise<R> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
  });
  const result = (await response.json()) as R & { error?: WireError };
  if (!response.ok) throw toError(result.error);
  return result;
}
