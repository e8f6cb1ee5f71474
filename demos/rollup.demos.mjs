// Demo page bundles (owned by the demo kit); see rollup.config.mjs.
export const demoBuilds = [];
