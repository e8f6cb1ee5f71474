// One build with several inputs and shared chunks, so every entry shares one copy of each
// error class (instanceof agrees across rxjs-concurrency, /redis, /etcd and /testing).
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';
import { demoBuilds } from './demos/rollup.demos.mjs';

const input = {
  index: 'lib/index.ts',
  'redis/index': 'lib/redis/index.ts',
  'etcd/index': 'lib/etcd/index.ts',
  'testing/index': 'lib/testing/index.ts',
};

// Peers and Node builtins stay imports; the core entry must never reach the last three.
const external = (id) => /^(rxjs|ioredis|etcd3|uuid)(\/|$)/.test(id) || id.startsWith('node:');

const ts = () => typescript({ tsconfig: './tsconfig.build.json', outputToFilesystem: false });

export default [
  {
    input,
    external,
    plugins: [ts()],
    output: [
      {
        dir: 'dist/esm',
        format: 'es',
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
      },
      {
        dir: 'dist/cjs',
        format: 'cjs',
        entryFileNames: '[name].cjs',
        chunkFileNames: 'chunks/[name]-[hash].cjs',
        exports: 'named',
      },
    ],
  },
  {
    input,
    external,
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    output: {
      dir: 'dist/types',
      format: 'es',
      entryFileNames: '[name].d.ts',
      chunkFileNames: 'chunks/[name]-[hash].d.ts',
    },
  },
  {
    // The browser core as one minified UMD file: global `rxjsConcurrency`, rxjs from global `rxjs`.
    input: 'lib/index.ts',
    external: (id) => /^rxjs(\/|$)/.test(id),
    plugins: [ts(), terser()],
    output: {
      file: 'dist/umd/rxjs-concurrency.min.js',
      format: 'umd',
      name: 'rxjsConcurrency',
      globals: { rxjs: 'rxjs', 'rxjs/operators': 'rxjs.operators' },
      sourcemap: false,
    },
  },
  ...demoBuilds,
];
