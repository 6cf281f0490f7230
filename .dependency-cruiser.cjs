/**
 * The layering of DESIGN.md §2, checked on every test run: a folder may import only the folders
 * listed for it. Engines (pipelines, serving, monitoring, governance) never import each other.
 */
const layers = {
  core: [],
  numeric: [],
  store: ['core'],
  data: ['core', 'numeric', 'store'],
  ml: ['core', 'numeric', 'data'],
  tracking: ['core', 'store'],
  // The registry's searches share tracking's filter grammar (tracking/search); never the reverse.
  registry: ['core', 'store', 'tracking'],
  pipelines: ['core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry'],
  serving: ['core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry'],
  monitoring: ['core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry'],
  governance: ['core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry'],
  workspace: ['core', 'store', 'tracking', 'registry', 'data', 'ml', 'pipelines', 'serving', 'monitoring', 'governance'],
  sdk: ['workspace', 'core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry', 'pipelines', 'serving', 'monitoring', 'governance'],
  api: ['workspace', 'core', 'numeric', 'store', 'data', 'ml', 'tracking', 'registry', 'pipelines', 'serving', 'monitoring', 'governance'],
};
const all = Object.keys(layers);

const forbidden = all.map((from) => {
  const allowed = new Set([from, ...layers[from]]);
  const banned = all.filter((x) => !allowed.has(x));
  return {
    name: `${from}-layering`,
    comment: `src/${from} may import only: ${[...allowed].join(', ')} (DESIGN.md §2)`,
    severity: 'error',
    from: { path: `^src/${from}/` },
    to: { path: `^src/(${banned.join('|') || '$^'})/` },
  };
});

forbidden.push(
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'Circular imports make start-up order and layering unreadable.',
    from: {},
    to: { circular: true },
  },
  {
    name: 'store-adapters-private',
    severity: 'error',
    comment: 'Adapters are chosen in one place (store/open-stores.ts): outside store/, code sees the ports, never the SQL adapters or their drivers.',
    from: { path: '^src/', pathNot: '^src/store/' },
    to: { path: '^src/store/(sql|sqlite|postgres)/' },
  },
  {
    name: 'numeric-no-io',
    severity: 'error',
    comment: 'numeric/ is pure math: no file system, network or processes.',
    from: { path: '^src/numeric/' },
    to: { dependencyTypes: ['core'], path: '^(fs|net|http|https|child_process|node:fs|node:net|node:http|node:https|node:child_process)$' },
  },
  {
    name: 'core-no-packages',
    severity: 'error',
    comment: 'core/ depends on nothing but Node itself.',
    from: { path: '^src/core/' },
    to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer'] },
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
