import { expect } from 'chai';
import { request } from 'node:http';
import { Observable, throwError } from 'rxjs';
import { startDemoServer, type DemoServer } from '../../demos/server.js';

/** GET with the path sent exactly as written (fetch would normalise `..` away). */
function rawGet(
  port: number,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads an SSE response until `until` appears in the text (or the stream ends). */
async function readEvents(response: Response, until: string): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
    if (text.includes(until)) {
      await reader.cancel();
      return text;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('demo server', function () {
  this.timeout(15_000);
  let server: DemoServer;
  const watched = { subscribed: 0, unsubscribed: 0 };

  before(async () => {
    server = await startDemoServer({
      modules: {
        test: {
          streams: {
            three: () =>
              new Observable((subscriber) => {
                subscriber.next({ n: 1, big: 7n });
                subscriber.next('two');
                subscriber.next(null);
                subscriber.complete();
              }),
            failing: () => throwError(() => Object.assign(new Error('boom'), { code: 'E_TEST' })),
            endless: () =>
              new Observable<number>((subscriber) => {
                watched.subscribed += 1;
                let n = 0;
                const timer = setInterval(() => subscriber.next(n++), 10);
                return () => {
                  clearInterval(timer);
                  watched.unsubscribed += 1;
                };
              }),
          },
          actions: {
            add: async (body) => {
              const { a, b } = body as { a: number; b: number };
              return { sum: a + b };
            },
            reject: () => Promise.reject(new RangeError('no')),
          },
        },
      },
    });
  });

  after(() => server.close());

  it('listens on 127.0.0.1 and serves pages with cross-origin isolation headers', async () => {
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetch(`${server.url}/sample/`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(page.headers.get('cross-origin-opener-policy')).to.equal('same-origin');
    expect(page.headers.get('cross-origin-embedder-policy')).to.equal('require-corp');
    expect(page.headers.get('cross-origin-resource-policy')).to.equal('same-origin');
    expect(await page.text()).to.contain('/dist/sample.js');
    const css = await fetch(`${server.url}/kit/kit.css`);
    expect(css.headers.get('content-type')).to.equal('text/css; charset=utf-8');
  });

  it('sends the isolation headers on errors too', async () => {
    const missing = await fetch(`${server.url}/no-such-page.html`);
    expect(missing.status).to.equal(404);
    expect(missing.headers.get('cross-origin-embedder-policy')).to.equal('require-corp');
  });

  it('redirects a directory without a trailing slash', async () => {
    const res = await fetch(`${server.url}/sample`, { redirect: 'manual' });
    expect(res.status).to.equal(301);
    expect(res.headers.get('location')).to.equal('/sample/');
  });

  it('refuses directory traversal, dotfiles and TypeScript sources', async () => {
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/kit/..%2f..%2fpackage.json',
      '/sample/%2e%2e/%2e%2e/package.json',
      '/..%5c..%5cpackage.json',
      '/server.ts',
      '/sample/server.ts',
      '/.hidden',
      '/kit/%00kit.css',
    ]) {
      const res = await rawGet(server.port, path);
      expect(res.status, path).to.be.oneOf([400, 404]);
      expect(res.body, path).not.to.contain('"name": "rxjs-concurrency"');
    }
  });

  it('streams an Observable as next/complete Server-Sent Events (bigints as strings)', async () => {
    const res = await fetch(`${server.url}/sse/test/three`);
    expect(res.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
    expect(res.headers.get('cross-origin-embedder-policy')).to.equal('require-corp');
    const text = await readEvents(res, 'event: complete');
    expect(text).to.equal(
      'event: next\ndata: {"n":1,"big":"7"}\n\n' +
        'event: next\ndata: "two"\n\n' +
        'event: next\ndata: null\n\n' +
        'event: complete\ndata: null\n\n',
    );
  });

  it('sends an error event with name, message and code', async () => {
    const text = await readEvents(await fetch(`${server.url}/sse/test/failing`), 'event: error');
    expect(text).to.equal(
      'event: error\ndata: {"name":"Error","message":"boom","code":"E_TEST"}\n\n',
    );
  });

  it('unsubscribes the Observable when the client disconnects', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/sse/test/endless`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    expect(watched).to.deep.equal({ subscribed: 1, unsubscribed: 0 });
    controller.abort();
    for (let i = 0; i < 100 && watched.unsubscribed === 0; i++) await sleep(20);
    expect(watched).to.deep.equal({ subscribed: 1, unsubscribed: 1 });
  });

  it('unsubscribes open streams when the server closes', async () => {
    const own = await startDemoServer({ modules: { test: server.modules.test } });
    const before = watched.unsubscribed;
    const res = await fetch(`${own.url}/sse/test/endless`);
    await res.body!.getReader().read();
    await own.close();
    expect(watched.unsubscribed).to.equal(before + 1);
  });

  it('answers 404 for unknown areas and streams', async () => {
    expect((await fetch(`${server.url}/sse/nope/ticks`)).status).to.equal(404);
    expect((await fetch(`${server.url}/sse/test/nope`)).status).to.equal(404);
    expect((await fetch(`${server.url}/api/test/nope`, { method: 'POST' })).status).to.equal(404);
  });

  it('calls actions with JSON in and out', async () => {
    const ok = await fetch(`${server.url}/api/test/add`, {
      method: 'POST',
      body: JSON.stringify({ a: 2, b: 3 }),
    });
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.equal({ sum: 5 });
    const failed = await fetch(`${server.url}/api/test/reject`, { method: 'POST' });
    expect(failed.status).to.equal(500);
    expect(await failed.json()).to.deep.equal({ error: { name: 'RangeError', message: 'no' } });
    const badJson = await fetch(`${server.url}/api/test/add`, { method: 'POST', body: '{' });
    expect(badJson.status).to.equal(400);
    expect((await fetch(`${server.url}/api/test/add`)).status).to.equal(405);
  });

  it('discovers demos/<area>/server.ts modules (the sample ticks stream)', async () => {
    const text = await readEvents(
      await fetch(`${server.url}/sse/sample/ticks?periodMs=20&count=2`),
      'event: complete',
    );
    expect(text.match(/event: next/g)).to.have.length(2);
    expect(text).to.match(/data: \{"n":0,"at":\d+\}/);
  });
});
