export * from './SharedChannel.js';
