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
    name: 'services-only-door',
    severity: 'error',
    comment:
      'The API, the CLI, the SDK and the pipeline built-ins reach stored state through the services the Workspace gives them ' +
      '(tracking, registry, datasets, training, pipelines, audit), never through a store: not the set of every port, ' +
      'not the composition root, not an adapter. Port types may be named (type-only imports), never called directly.',
    from: { path: '^src/(api|cli|sdk|pipelines/engine/builtins)/', pathNot: '\\.test\\.ts$|/test-helpers/' },
    to: { path: '^src/store/(stores|open-stores)\\.ts$|^src/store/(sql|sqlite|postgres|fs|s3|cas|blob)/' },
  },
  {
    name: 'ports-one-by-one',
    severity: 'error',
    comment:
      'The set of every port (store/stores.ts) and the composition root that opens it stay where adapters become services: ' +
      'the Workspace, and the places that open their own stores outside one (pipelines/engine/services.ts builds the ' +
      "engines' services for a worker's execution thread and the CI dry run). Everything else is handed the one port or " +
      'service it uses, so that no combined store of every port comes back.',
    from: {
      path: '^src/',
      pathNot: '^src/(store|workspace)/|^src/pipelines/engine/services\\.ts$|^src/pipelines/queue/exec-thread\\.ts$|^src/pipelines/ci/dry-run\\.ts$|\\.test\\.ts$|/test-helpers/',
    },
    to: { path: '^src/store/(stores|open-stores)\\.ts$' },
  },
  {
    name: 'services-only-door-ports',
    severity: 'error',
    comment: 'Outside the services and the engines, a port is a type to name, not an object to call: import it type-only.',
    from: { path: '^src/(api|cli|sdk|pipelines/engine/builtins)/', pathNot: '\\.test\\.ts$|/test-helpers/' },
    to: { path: '^src/store/(ports/|artifact-store\\.ts$)', dependencyTypesNot: ['type-only'] },
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
