export * from './ReactiveMap.js';
