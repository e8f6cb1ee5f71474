/**
 * A `data:` URL worker entry that registers tsx inside the worker thread (workers do not
 * inherit the test process's `--import=tsx` hooks), then imports the TypeScript script.
 */
const tsxApi = import.meta.resolve('tsx/esm/api');

export function tsWorker(script: URL): URL {
  const source = `import { register } from ${JSON.stringify(tsxApi)};
register();
await import(${JSON.stringify(script.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}
