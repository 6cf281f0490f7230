export * from './errors.js';
export * from './hash.js';
export * from './ids.js';
export * from './clock.js';
