/**
 * The OpenAPI 3 description of Trellis's native routes (the MLflow-compatible ones are described by
 * MLflow's own docs), served at `/api/2.0/trellis/openapi.json`. It is written by hand rather than
 * generated from route schemas because the routes check their input with `Params`, which gives
 * MLflow's error bodies; Fastify's schema validation would answer differently. To keep the two from
 * drifting apart, {@link installOpenApi} records every route registered under the Trellis prefix,
 * and a test requires that set and the document's operations to be equal.
 */
import type { FastifyInstance } from 'fastify';
import { MlflowRouter, TRELLIS_PREFIXES } from './router.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema =>
  ({ type: 'object', properties, ...(required.length ? { required } : {}) });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const int = (description?: string): Schema => ({ type: 'integer', ...(description ? { description } : {}) });
const num: Schema = { type: 'number' };
const bool: Schema = { type: 'boolean' };
/** Epoch milliseconds, like every timestamp of the API. */
const millis: Schema = { type: 'integer', format: 'int64', description: 'milliseconds since the epoch' };

const json = (description: string, schema: Schema) => ({ description, content: { 'application/json': { schema } } });
const query = (name: string, schema: Schema, description: string, required = false) => ({ name, in: 'query', required, description, schema });
const jsonBody = (schema: Schema) => ({ required: true, content: { 'application/json': { schema } } });

const errors = {
  '400': { $ref: '#/components/responses/BadRequest' },
  '404': { $ref: '#/components/responses/NotFound' },
  '500': { $ref: '#/components/responses/InternalError' },
};

const authErrors = {
  '401': json('No credentials, or a wrong, expired or revoked token (UNAUTHENTICATED).', ref('Error')),
  '403': json('The principal lacks the permission (PERMISSION_DENIED); the message names the action and object.', ref('Error')),
};
const roleList: Schema = arr(str('a role (viewer, contributor, pipeline-deployer, approver, deployer, invoker, admin), optionally on one object: role:experiment/<id or name>, role:model/<name>, role:dataset/<name>, role:pipeline/<name>, role:endpoint/<name>'));

const nameParam = query('name', str(), 'The dataset name.', true);
const versionParam = query('version', str(), "A version number, or `latest` (the default).");

export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'Trellis native API',
    version: '2.0',
    description:
      'Trellis routes beside the MLflow-compatible API: dataset versions, validation and skew, deployed pipelines and their triggers, training, model alias/stage history and audit verification. ' +
      'Every path is served under both `/api/2.0/trellis` and `/ajax-api/2.0/trellis`. GET routes read the query string; other methods take a JSON ' +
      'body (`Content-Type: application/json`) except the dataset upload, whose body is the file. Errors are `{error_code, message, trellis_code}` ' +
      'with the status of the error registry (docs/errors.md). With auth on, every route but this document needs a token, as a Bearer token or as ' +
      'the password of HTTP Basic with the user name; what each principal may do is its roles (docs/security.md).',
  },
  servers: TRELLIS_PREFIXES.map((url) => ({ url })),
  security: [{ bearerToken: [] }, { basicToken: [] }],
  tags: [{ name: 'datasets' }, { name: 'pipelines' }, { name: 'training' }, { name: 'registry' }, { name: 'deployments' }, { name: 'audit' }, { name: 'identities' }, { name: 'meta' }],
  paths: {
    '/datasets': {
      get: {
        tags: ['datasets'], operationId: 'listDatasets', summary: 'All datasets, by name.',
        responses: { '200': json('The datasets.', obj({ datasets: arr(ref('Dataset')) })), '500': errors['500'] },
      },
    },
    '/datasets/versions': {
      get: {
        tags: ['datasets'], operationId: 'listDatasetVersions', summary: 'The versions of a dataset, oldest first, with profile summaries.',
        parameters: [nameParam],
        responses: { '200': json('The versions.', obj({ dataset_versions: arr(ref('DatasetVersion')) })), ...errors },
      },
      post: {
        tags: ['datasets'], operationId: 'uploadDatasetVersion',
        summary: 'Upload a data file as the next version of a dataset (or find the version with the same content).',
        description:
          'The body is the file itself, with any Content-Type but JSON or multipart. It is profiled and its schema inferred; the same bytes ' +
          'uploaded again return the existing version with `created: false`. A file that cannot be read is a 400 naming the line, and no version is recorded.',
        parameters: [
          nameParam,
          query('format', { type: 'string', enum: ['csv', 'jsonl', 'parquet', 'arrow'] }, 'Required unless `filename` (or the name) ends in a known extension.'),
          query('filename', str(), 'The client-side file name: its extension gives the format (`.tsv` reads tab-separated) and errors name it.'),
          query('subject_column', str(), 'A column of data-subject ids, indexed for erasure requests; a dataset keeps the first one declared.'),
          query('environments', str(), 'Columns present only in some environments, as a JSON object of column to environments, e.g. `{"cnt":["training"]}`.'),
          query('description', str(), 'A description of the dataset, kept from its first version.'),
        ],
        requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } }, 'text/csv': { schema: { type: 'string' } } } },
        responses: {
          '200': json('The version.', obj({ dataset_version: ref('DatasetVersion'), created: { ...bool, description: 'False when this content already was a version.' },
            type_breaks: { ...arr(obj({ column: str(), line: int(), value: str(), reason: str() })), description: 'Columns read as strings because a value did not fit the type the column started with: the first such value.' },
          }, ['dataset_version', 'created'])),
          ...errors,
        },
      },
    },
    '/datasets/get': {
      get: {
        tags: ['datasets'], operationId: 'getDatasetVersion', summary: 'One version with its schema and profile summary.',
        parameters: [nameParam, versionParam],
        responses: { '200': json('The version.', obj({ dataset_version: ref('DatasetVersion') })), ...errors },
      },
    },
    '/datasets/profile': {
      get: {
        tags: ['datasets'], operationId: 'getDatasetProfile', summary: "A version's profile as JSON or as a self-contained HTML report.",
        parameters: [
          nameParam, versionParam,
          query('format', { type: 'string', enum: ['json', 'html'], default: 'json' }, 'json, or html for the report with inline SVG charts.'),
          query('sketches', { type: 'boolean', default: false }, 'JSON only: include the mergeable sketches (for monitors), not just the summary.'),
        ],
        responses: {
          '200': {
            description: 'The profile.',
            content: {
              'application/json': { schema: obj({ name: str(), version: int(), profile: ref('ProfileSummary') }) },
              'text/html': { schema: { type: 'string' } },
            },
          },
          ...errors,
        },
      },
    },
    '/datasets/download': {
      get: {
        tags: ['datasets'], operationId: 'downloadDatasetVersion', summary: 'The stored bytes of a dataset version, exactly as added.',
        parameters: [query('name', str(), 'The dataset name.', true), query('version', str(), 'A version number, or `latest` (default).')],
        responses: {
          '200': { description: 'The data file; `x-trellis-sha256` is its digest.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          ...errors,
        },
      },
    },
    '/datasets/diff': {
      get: {
        tags: ['datasets'], operationId: 'diffDatasetVersions', summary: 'What changed from version a to version b.',
        parameters: [query('a', str(), '`name@version`', true), query('b', str(), '`name@version`', true)],
        responses: { '200': json('The diff.', obj({ diff: ref('DatasetDiff') })), ...errors },
      },
    },
    '/datasets/validate': {
      post: {
        tags: ['datasets'], operationId: 'validateRecords', summary: 'Validate records against a version (its pinned or inferred schema and its profile) or a schema.',
        requestBody: jsonBody(obj({
          records: arr({ type: 'object', additionalProperties: true }),
          against: str('`name[@version]`; required unless `schema` is given.'),
          schema: ref('Schema'),
          environment: str('e.g. `serving`: columns only for other environments must then be absent.'),
        }, ['records'])),
        responses: { '200': json('The report; `ok` is false when a blocking anomaly was found.', obj({ report: ref('ValidationReport') })), ...errors },
      },
    },
    '/datasets/skew': {
      post: {
        tags: ['datasets'], operationId: 'checkSkew', summary: 'Train/serve skew: serving records against the training profile.',
        requestBody: jsonBody(obj({ records: arr({ type: 'object', additionalProperties: true }), against: str('`name[@version]`') }, ['records', 'against'])),
        responses: { '200': json('The distances, and the columns beyond their threshold.', obj({ skew: ref('Skew') })), ...errors },
      },
    },
    '/datasets/schema': {
      get: {
        tags: ['datasets'], operationId: 'getDatasetSchema', summary: 'The pinned schema document, or a numbered one.',
        parameters: [nameParam, query('schema_version', { type: 'integer', minimum: 1 }, 'Default: the pinned one.')],
        responses: { '200': json('The document; `{}` when no schema is pinned.', obj({ dataset_schema: ref('DatasetSchemaDocument') })), ...errors },
      },
      post: {
        tags: ['datasets'], operationId: 'putDatasetSchema', summary: "Store an edited schema as the dataset's next schema document; `pin` makes it the contract.",
        requestBody: jsonBody(obj({ name: str(), schema: ref('Schema'), pin: { ...bool, default: false } }, ['name', 'schema'])),
        responses: { '200': json('The stored document.', obj({ dataset_schema: ref('DatasetSchemaDocument') })), ...errors },
      },
    },
    '/datasets/subjects': {
      get: {
        tags: ['datasets'], operationId: 'findSubject', summary: 'Every dataset version holding a data-subject id.',
        parameters: [query('subject', str(), 'The subject id, as it appears in the subject column.', true)],
        responses: { '200': json('The versions.', obj({ versions: arr(obj({ name: str(), version: int() })) })), ...errors },
      },
    },
    '/pipelines/versions': {
      get: {
        tags: ['pipelines'], operationId: 'listPipelineVersions', summary: 'The deployed versions of a pipeline, oldest first.',
        parameters: [query('name', str(), 'The pipeline name.', true)],
        responses: { '200': json('The versions.', obj({ pipeline_versions: arr(ref('PipelineVersion')) })), ...errors },
      },
      post: {
        tags: ['pipelines'], operationId: 'publishPipelineVersion',
        summary: 'Publish a pipeline package (`trellis.pipeline-package/v1`) as the next version of its pipeline; its triggers take over.',
        description:
          'The body is the package as `trellis ci` writes it. Every file hash, the package hash, the paths, the IR and its hash are checked, and the ' +
          'pipeline is linted; a refusal is a 400 naming the field. The same package published again returns the existing version with `created: false`.',
        requestBody: jsonBody(ref('PipelinePackage')),
        responses: {
          '200': json('The version.', obj({ pipeline_version: ref('PipelineVersion'), created: { ...bool, description: 'False when this package already was a version.' } }, ['pipeline_version', 'created'])),
          ...errors,
        },
      },
    },
    '/pipelines/list': {
      get: {
        tags: ['pipelines'], operationId: 'listPipelines', summary: 'Every deployed pipeline, by name, as its latest version.',
        responses: { '200': json('The pipelines.', obj({ pipelines: arr(ref('PipelineVersion')) })), '500': errors['500'] },
      },
    },
    '/pipelines/why': {
      get: {
        tags: ['pipelines'], operationId: 'explainCache', summary: 'Why a step of a pipeline run was served from cache, or was not: the reused run, or the parts of its cache key that changed.',
        parameters: [query('run_id', str(), 'The pipeline run.', true), query('step', str(), 'The step.', true)],
        responses: {
          '200': json('The explanation.', obj({
            explanation: obj({
              pipeline_run: str(), step: str(), step_run: str(), verdict: { type: 'string', enum: ['hit', 'miss'] }, reason: str(),
              compared_with: str('the run the outputs came from (hit) or the one compared with (miss)'),
              changes: arr(obj({ part: str(), key: str(), before: {}, after: {} })),
            }, ['pipeline_run', 'step', 'step_run', 'verdict', 'reason', 'changes']),
          })),
          ...errors,
        },
      },
    },
    '/pipelines/deployments': {
      get: {
        tags: ['pipelines'], operationId: 'listPipelineDeployments', summary: 'How every deployed pipeline is deployed: the version its triggers run, whether they fire.',
        responses: { '200': json('The deployments.', obj({ deployments: arr(ref('PipelineDeployment')) })), '500': errors['500'] },
      },
    },
    '/pipelines/deployment': {
      get: {
        tags: ['pipelines'], operationId: 'getPipelineDeployment', summary: 'How a pipeline is deployed.',
        parameters: [query('name', str(), 'The pipeline name.', true)],
        responses: { '200': json('The deployment.', obj({ deployment: ref('PipelineDeployment') })), ...errors },
      },
    },
    ...Object.fromEntries(([
      ['pause', 'pausePipeline', "Pause a pipeline's cron, dataset and upstream-pipeline triggers (a run asked for through the API still runs); records they wrote and not yet started are skipped."],
      ['resume-triggers', 'resumePipelineTriggers', 'Let its triggers fire again, counting events from now: what they missed while paused does not fire.'],
      ['undeploy', 'undeployPipeline', 'Take the pipeline out of service (no trigger runs it; an API trigger is refused), or with `version` only that version (the newest other one runs). Every version stays on record.'],
      ['rollback', 'rollbackPipeline', 'Run `version` instead of the newest (until the next deploy); a withdrawn version comes back into service.'],
    ] as const).map(([action, operationId, summary]) => [`/pipelines/${action}`, {
      post: {
        tags: ['pipelines'], operationId, summary,
        requestBody: jsonBody(obj({ name: str(), ...(action === 'undeploy' || action === 'rollback' ? { version: int() } : {}) }, action === 'rollback' ? ['name', 'version'] : ['name'])),
        responses: { '200': json('The deployment as it now is.', obj({ deployment: ref('PipelineDeployment') })), ...errors },
      },
    }])),
    '/pipelines/trigger': {
      post: {
        tags: ['pipelines'], operationId: 'triggerPipeline',
        summary: 'Ask for a run of a deployed pipeline: writes a pending `api` trigger record that a scheduler picks up.',
        description: "The pipeline's active version (the newest, or the one a rollback pinned) must declare `{ api: true }` among its triggers; an undeployed pipeline refuses. `params` are laid over that trigger's own params and typed as the pipeline declares them.",
        requestBody: jsonBody(obj({
          pipeline: str(), params: { type: 'object', additionalProperties: { oneOf: [{ type: 'string' }, num, bool] } }, reason: str(),
          dedupe_key: str('a key naming the event: a second request with the same key returns the first record with `created: false`'),
        }, ['pipeline'])),
        responses: { '200': json('The record.', obj({ trigger: ref('TriggerRecord'), created: bool }, ['trigger', 'created'])), ...errors },
      },
    },
    '/pipelines/triggers': {
      get: {
        tags: ['pipelines'], operationId: 'listTriggers', summary: 'Trigger records, newest first: what asked for each run and what became of it.',
        parameters: [
          query('pipeline', str(), 'Only this pipeline.'),
          query('status', { type: 'string', enum: ['pending', 'running', 'finished', 'failed', 'skipped', 'cancelled'] }, 'Only this status.'),
          query('limit', { type: 'integer', minimum: 1, maximum: 10000, default: 100 }, 'At most this many.'),
        ],
        responses: { '200': json('The records.', obj({ triggers: arr(ref('TriggerRecord')) })), ...errors },
      },
    },
    '/train': {
      post: {
        tags: ['training'], operationId: 'train',
        summary: 'Train a model on a dataset version with a built-in trainer, record the run, optionally register the model (what `trellis train` does).',
        description:
          'The run is written in one transaction once training ends (params, metrics, the dataset input, the logged model), its model and evaluation ' +
          'report under its artifacts. With `cv`, the final model is trained on every row unless `test_size` is given; with `search`, each trial is a ' +
          'child run and the best parameters train the final model. `data` names a dataset version (`name@3`, `name@latest`), never a file on the server.',
        requestBody: jsonBody(obj({
          data: str('a dataset version: name, name@version or name@latest'), target: str('the column to predict'),
          exclude: { ...arr(str()), description: 'columns the model must not see (identifiers, columns that give the target away); recorded as the param exclude' },
          algo: { type: 'string', enum: ['linear', 'gbdt', 'forest'], default: 'linear' },
          params: arr(obj({ key: str(), value: str() }, ['key'])),
          experiment: str('default `Default`; created if missing'), register: str('register the model as a new version of this model'),
          cv: str('`k` (shuffled k-fold, stratified for classifiers) or `time:k[:column]`'),
          search: obj({
            strategy: { type: 'string', enum: ['grid', 'random'] },
            space: arr(str("a searched parameter: 'l2=0.1,1,10', 'l2=0.1..10' or 'l2=0.1..10:log'")),
            trials: int('random search: number of trials (default 10)'), objective: str('metric to optimise'),
          }, ['strategy', 'space']),
          report: { ...bool, description: 'also answer `report`: the rows, folds and trials `trellis train` prints' },
        }, ['data', 'target'])),
        responses: { '200': json('The run, the version registered, and the figures.', ref('TrainingResult')), ...errors },
      },
    },
    '/registered-models/history': {
      get: {
        tags: ['registry'], operationId: 'getModelHistory', summary: 'When each alias or stage of a model pointed at which version, and who moved it.',
        parameters: [query('name', str(), 'The registered model name.', true), query('alias', str(), 'Only this alias.'), query('stage', str(), 'Only this stage.')],
        responses: { '200': json('The intervals.', obj({ history: arr(ref('HistoryInterval')) })), ...errors },
      },
    },
    '/lineage': {
      get: {
        tags: ['registry'], operationId: 'getLineage',
        summary: 'Where a model version or a dataset version came from, and what was made from it (docs/pipelines.md, Lineage).',
        description:
          'Runs, pipeline steps, dataset versions and model versions linked by what the store records. Edges point the way data flows ' +
          '(`from` is upstream of `to`). Send `model` with `version` or `alias`, or `dataset` with an optional `version` (default: the latest), or `ref` alone.',
        parameters: [
          query('ref', str(), 'A reference as the CLI takes it, instead of the other parameters: `bike-demand@champion`, `bike@3`, `model:bike@1` or `dataset:bike@1` when a name is both.'),
          query('model', str(), 'A registered model name (or send `dataset`).'),
          query('dataset', str(), 'A dataset name (or send `model`).'),
          query('version', str(), 'A version number, or `latest`.'),
          query('alias', str(), 'A model alias such as `champion`, instead of `version`.'),
          query('depth', { type: 'integer', minimum: 0, default: 10 }, 'Hops followed upstream and downstream.'),
        ],
        responses: { '200': json('The graph.', ref('LineageGraph')), ...errors },
      },
    },
    '/audit/events': {
      get: {
        tags: ['audit'], operationId: 'listAuditEvents', summary: 'Audit events: who changed what, when, with the state before and after.',
        parameters: [
          query('after_seq', { type: 'integer', minimum: 0 }, 'Only events after this sequence number.'),
          query('since', { type: 'integer', minimum: 0 }, 'Only events at or after this time (ms since the epoch).'),
          query('limit', { type: 'integer', minimum: 1, maximum: 10000, default: 100 }, 'At most this many events.'),
          query('newest_first', bool, 'Newest first, so that `limit` keeps the latest events (default: commit order).'),
          query('entity_type', str(), 'Only events of this entity type, e.g. `registered_model`.'),
          query('entity_id', str(), 'Only events of this entity id.'),
          query('entity_id_prefix', str(), 'Only entity ids starting with this text.'),
          query('action', str(), 'Only this action.'),
        ],
        responses: {
          '200': json('The events.', obj({
            events: arr(obj({
              seq: int(), time: int('ms since the epoch'), actor: str(), action: str(), entity_type: str(), entity_id: str(),
              before: {}, after: {}, prev_hash: str(), hash: str(),
            }, ['seq', 'time', 'actor', 'action', 'entity_type', 'entity_id', 'prev_hash', 'hash'])),
          }, ['events'])),
          ...errors,
        },
      },
    },
    '/audit/verify': {
      get: {
        tags: ['audit'], operationId: 'verifyAuditChain',
        summary: "Recompute the hash chain of the audit trail, check its signed checkpoints and the tail, and compare the registry's rows with what the trail records.",
        responses: {
          '200': json('Whether the trail is intact, and what is wrong if not.', obj({
            ok: bool, checked: int('events checked'), checkpoints: int('signed checkpoints checked'),
            first_bad: obj({ seq: int(), problem: { type: 'string', enum: ['altered', 'removed', 'reordered'] }, detail: str() }),
            problems: arr(str('one problem found, first first')),
          }, ['ok', 'checked'])),
          '500': errors['500'],
        },
      },
    },
    '/model-versions/files': {
      get: {
        tags: ['registry'], operationId: 'getModelVersionFiles',
        summary: "A model version's files with the sha256 and size recorded when the version was created (null for a version created before digests were recorded).",
        parameters: [query('name', str(), 'The registered model.', true), query('version', str(), 'The version number.', true)],
        responses: {
          '200': json('The files.', obj({ files: { ...arr(obj({ path: str(), sha256: str(), size: int() }, ['path', 'sha256', 'size'])), nullable: true } }, ['files'])),
          '400': errors['400'], '404': errors['404'],
        },
      },
    },
    '/model-versions/file': {
      get: {
        tags: ['registry'], operationId: 'getModelVersionFile',
        summary: 'One file of a model version, checked against its recorded digest before any byte is sent (a mismatch is a 500 DATA_LOSS).',
        parameters: [query('name', str(), 'The registered model.', true), query('version', str(), 'The version number.', true), query('path', str(), 'The file, relative to the version.', true)],
        responses: { '200': { description: 'The bytes.', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, '400': errors['400'], '404': errors['404'], '500': errors['500'] },
      },
    },
    '/users/whoami': {
      get: {
        tags: ['identities'], operationId: 'whoAmI', summary: 'The principal the request is made by, how it signed in, and its roles.',
        responses: { '200': json('Who you are.', obj({ name: str(), via: str('token:<id>, oidc, proxy, admin-secret, none'), roles: arr(str()), auth: str('on or off') }, ['name', 'via', 'roles', 'auth'])), ...authErrors },
      },
    },
    '/users': {
      get: {
        tags: ['identities'], operationId: 'listUsers', summary: 'Users and service accounts with their roles (administrators).',
        responses: { '200': json('The principals.', obj({ users: arr(ref('User')) }, ['users'])), ...authErrors },
      },
    },
    '/users/get': {
      get: {
        tags: ['identities'], operationId: 'getUser', summary: 'One user or service account (administrators).',
        parameters: [query('name', str(), 'Its name (any case).', true)],
        responses: { '200': json('The principal.', obj({ user: ref('User') }, ['user'])), '404': errors['404'], ...authErrors },
      },
    },
    '/users/create': {
      post: {
        tags: ['identities'], operationId: 'createUser', summary: 'Create a user or service account, with roles (administrators).',
        requestBody: jsonBody(obj({ name: str(), kind: { type: 'string', enum: ['user', 'service'] }, roles: roleList }, ['name'])),
        responses: { '200': json('The principal.', obj({ user: ref('User') }, ['user'])), '400': errors['400'], ...authErrors },
      },
    },
    '/users/grant': {
      post: {
        tags: ['identities'], operationId: 'grantRoles', summary: 'Grant roles, globally or on one object (administrators).',
        requestBody: jsonBody(obj({ name: str(), roles: roleList }, ['name', 'roles'])),
        responses: { '200': json('The principal after.', obj({ user: ref('User') }, ['user'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/users/revoke': {
      post: {
        tags: ['identities'], operationId: 'revokeRoles', summary: 'Take roles away (administrators); a role not held is a 400 naming it.',
        requestBody: jsonBody(obj({ name: str(), roles: roleList }, ['name', 'roles'])),
        responses: { '200': json('The principal after.', obj({ user: ref('User') }, ['user'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/users/disable': {
      post: {
        tags: ['identities'], operationId: 'disableUser', summary: 'Disable a principal: its tokens stop working at once (administrators).',
        requestBody: jsonBody(obj({ name: str() }, ['name'])),
        responses: { '200': json('The principal after.', obj({ user: ref('User') }, ['user'])), '404': errors['404'], ...authErrors },
      },
    },
    '/users/enable': {
      post: {
        tags: ['identities'], operationId: 'enableUser', summary: 'Enable a disabled principal again (administrators).',
        requestBody: jsonBody(obj({ name: str() }, ['name'])),
        responses: { '200': json('The principal after.', obj({ user: ref('User') }, ['user'])), '404': errors['404'], ...authErrors },
      },
    },
    '/tokens/create': {
      post: {
        tags: ['identities'], operationId: 'createToken', summary: 'Create an API token for yourself, or (administrators) for anyone. The token is in this response only.',
        requestBody: jsonBody(obj({ user: str(), expires: str('a duration: 30d, 12h, 90m, or never (the default)'), description: str() }, ['user'])),
        responses: { '200': json('The token, once.', obj({ token: str(), token_info: ref('Token') }, ['token', 'token_info'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/tokens': {
      get: {
        tags: ['identities'], operationId: 'listTokens', summary: "Tokens (never their secrets): your own, or (administrators) anyone's or everyone's.",
        parameters: [query('user', str(), 'Whose tokens; administrators may leave it out for all.')],
        responses: { '200': json('The tokens.', obj({ tokens: arr(ref('Token')) }, ['tokens'])), ...authErrors },
      },
    },
    '/tokens/revoke': {
      post: {
        tags: ['identities'], operationId: 'revokeToken', summary: 'Revoke a token of yours, or (administrators) anyone\'s; it stops working at once on this server.',
        requestBody: jsonBody(obj({ id: str('the token id, as listed') }, ['id'])),
        responses: { '200': json('The token after.', obj({ token_info: ref('Token') }, ['token_info'])), '404': errors['404'], ...authErrors },
      },
    },
    '/deployments/list': {
      get: {
        tags: ['deployments'], operationId: 'listDeployments', summary: 'Serving deployments whose models the caller may read.',
        responses: { '200': json('The deployments.', obj({ deployments: arr(ref('Deployment')) }, ['deployments'])), ...authErrors },
      },
    },
    '/deployments/get': {
      get: {
        tags: ['deployments'], operationId: 'getDeployment', summary: 'One deployment: its routes, shares and revision.',
        parameters: [query('name', str(), 'The endpoint name (any case).', true)],
        responses: { '200': json('The deployment.', obj({ deployment: ref('Deployment') }, ['deployment'])), '404': errors['404'], ...authErrors },
      },
    },
    '/deployments/history': {
      get: {
        tags: ['deployments'], operationId: 'getDeploymentHistory', summary: 'The revisions a deployment went through, newest first, with who changed it and why.',
        parameters: [query('name', str(), 'The endpoint name.', true), query('max_results', int(), 'At most this many (default 100, at most 1000).')],
        responses: { '200': json('The revisions.', obj({ revisions: arr(ref('DeploymentRevision')) }, ['revisions'])), '404': errors['404'], ...authErrors },
      },
    },
    '/deployments/report': {
      get: {
        tags: ['deployments'], operationId: 'getDeploymentReport',
        summary: 'The A/B report of an endpoint over a window of its prediction log: per route requests, error rate, latency percentiles and the model metric; the sample-ratio check; mSPRT sequential tests of the canary or arms against their control; requests and errors per minute.',
        parameters: [
          query('name', str(), 'The endpoint name.', true),
          query('since', millis, 'Start of the window (default: a day before `until`).'),
          query('until', millis, 'End of the window (default: now).'),
        ],
        responses: { '200': json('The report (as `trellis deployments report --json` prints it).', obj({ report: { type: 'object' } }, ['report'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/deployments/create': {
      post: {
        tags: ['deployments'], operationId: 'createDeployment', summary: 'Create an endpoint: a primary model (or A/B arms), optionally a canary and a shadow. Needs deploy on every model named.',
        requestBody: jsonBody(obj({
          name: str('endpoint name: letters, digits, . _ -'), model: str('the primary: name@alias or name/version'),
          canary: obj({ model: str(), share: num }, ['model', 'share']), shadow: str('a model reference receiving a copy of each request'),
          ab: arr(obj({ model: str(), share: num, arm: str() }, ['model', 'share'])), sticky_key: str('header:<name> or field:<name>, for A/B arms'),
          public: bool, reason: str(),
        }, ['name'])),
        responses: { '200': json('The deployment.', obj({ deployment: ref('Deployment') }, ['deployment'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/deployments/set-traffic': {
      post: {
        tags: ['deployments'], operationId: 'setDeploymentTraffic', summary: 'Change the canary (share 0 removes it), the shadow (empty removes it), the A/B arms, the sticky key or public.',
        requestBody: jsonBody(obj({
          name: str(), canary: obj({ model: str(), share: num }, ['share']), shadow: str(), ab: arr(obj({ model: str(), share: num, arm: str() }, ['model', 'share'])),
          sticky_key: str(), public: bool, reason: str(),
        }, ['name'])),
        responses: { '200': json('The deployment after.', obj({ deployment: ref('Deployment') }, ['deployment'])), '400': errors['400'], '404': errors['404'], '409': json('Changed meanwhile (RESOURCE_CONFLICT).', ref('Error')), ...authErrors },
      },
    },
    '/deployments/promote': {
      post: {
        tags: ['deployments'], operationId: 'promoteDeployment', summary: 'Give all the traffic to the canary (or the named A/B arm): it becomes the primary.',
        requestBody: jsonBody(obj({ name: str(), arm: str(), reason: str() }, ['name'])),
        responses: { '200': json('The deployment after.', obj({ deployment: ref('Deployment') }, ['deployment'])), '400': errors['400'], '404': errors['404'], '409': json('Changed meanwhile (RESOURCE_CONFLICT).', ref('Error')), ...authErrors },
      },
    },
    '/deployments/rollback': {
      post: {
        tags: ['deployments'], operationId: 'rollbackDeployment', summary: 'Drop the canary, or return to the previous revision\'s routes when there is none.',
        requestBody: jsonBody(obj({ name: str(), reason: str() }, ['name'])),
        responses: { '200': json('The deployment after.', obj({ deployment: ref('Deployment') }, ['deployment'])), '400': errors['400'], '404': errors['404'], '409': json('Changed meanwhile (RESOURCE_CONFLICT).', ref('Error')), ...authErrors },
      },
    },
    '/deployments/rollout': {
      post: {
        tags: ['deployments'], operationId: 'startDeploymentRollout', summary: 'Roll a candidate out progressively: the canary share goes through the steps, each held until the SLO checks pass; a breach rolls back (run by trellis serve).',
        requestBody: jsonBody(obj({
          name: str(), model: str('the candidate: name/version or name@alias'), steps: str('ascending percentages, e.g. "5,25,50,100"'), hold_ms: int(),
          slo: str('e.g. "error_rate<0.01, p99_ms<50, rmse<=1.05*primary"'), min_requests: int(), min_labels: int(),
        }, ['name', 'model', 'slo'])),
        responses: { '200': json('The deployment after.', obj({ deployment: ref('Deployment') }, ['deployment'])), '400': errors['400'], '404': errors['404'], '409': json('Changed meanwhile (RESOURCE_CONFLICT).', ref('Error')), ...authErrors },
      },
    },
    '/deployments/delete': {
      post: {
        tags: ['deployments'], operationId: 'deleteDeployment', summary: 'Delete an endpoint and its history (the audit trail keeps both).',
        requestBody: jsonBody(obj({ name: str() }, ['name'])),
        responses: { '200': json('Deleted.', obj({})), '404': errors['404'], ...authErrors },
      },
    },
    '/predictions/feedback': {
      post: {
        tags: ['deployments'], operationId: 'predictionFeedback',
        summary: "Labels for a request an endpoint answered (its x-request-id), one per row, as the serving port's /v2/models/<endpoint>/feedback takes them; given again, they replace the earlier ones. Needs invoke on the endpoint.",
        requestBody: jsonBody(obj({
          endpoint: str('the endpoint name'), request_id: str('the x-request-id of the request'),
          labels: arr({ description: 'one per row, in order: a string, a finite number or null' }),
        }, ['endpoint', 'request_id', 'labels'])),
        responses: { '200': json('Stored.', obj({ request_id: str(), rows: int('rows labelled') }, ['request_id', 'rows'])), '400': errors['400'], '404': errors['404'], ...authErrors },
      },
    },
    '/predictions/list': {
      get: {
        tags: ['deployments'], operationId: 'listPredictions', summary: "An endpoint's prediction log in time order: inputs, outputs, model version, route, latency and labels. Needs read on the models the endpoint routes to.",
        parameters: [
          query('endpoint', str(), 'The endpoint name.', true),
          query('since', millis, 'Entries from this time on.'),
          query('until', millis, 'Entries before this time.'),
          query('route', str(), 'Only this route: primary, canary, arm:<name> or shadow.'),
          query('with_labels', bool, 'Only entries with feedback.'),
          query('max_results', int(), 'At most this many (default 100, at most 1000).'),
          query('page_token', str(), 'The next_page_token of the previous page.'),
        ],
        responses: {
          '200': json('The entries.', obj({
            predictions: arr(obj({
              request_id: str(), endpoint: str(), time: millis, model: str(), version: str(), route: str(), shadow: bool, latency_ms: num,
              inputs: arr({ type: 'object' }), predictions: arr({ description: 'a class label or a number' }), classes: arr(str()), proba: arr(arr(num)),
              error: str(), labels: arr({ description: 'a label or null' }),
            }, ['request_id', 'endpoint', 'time', 'model', 'version', 'route', 'shadow', 'latency_ms', 'inputs'])),
            next_page_token: str('present when there may be more'),
          }, ['predictions'])),
          '400': errors['400'], '404': errors['404'], ...authErrors,
        },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['meta'], operationId: 'getOpenApi', summary: 'This document (public).', security: [],
        responses: { '200': json('The OpenAPI document.', { type: 'object' }) },
      },
    },
  },
  components: {
    securitySchemes: {
      bearerToken: { type: 'http', scheme: 'bearer', description: 'An API token (`trellis tokens create <user>`), or an OpenID Connect JWT when the server is configured for one.' },
      basicToken: { type: 'http', scheme: 'basic', description: "The user's name, and an API token as the password (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)." },
    },
    responses: {
      BadRequest: json('Invalid input (INVALID_PARAMETER_VALUE); the message names the field, or the file, line and column.', ref('Error')),
      NotFound: json('No such dataset, pipeline, version or model (RESOURCE_DOES_NOT_EXIST).', ref('Error')),
      InternalError: json('A failure of the server; details are in its log.', ref('Error')),
    },
    schemas: {
      DeploymentRoute: obj({ role: { type: 'string', enum: ['primary', 'canary', 'shadow', 'arm'] }, model: str('name@alias or name/version'), share: num, arm: str() }, ['role', 'model', 'share']),
      Deployment: obj({
        name: str(), revision: int(), routes: arr(ref('DeploymentRoute')), sticky_key: str(), public: bool,
        rollout: obj({ model: str(), steps: arr(num), step: int('index of the current step'), slo: str(), hold_ms: int(), min_requests: int(), min_labels: int(), started_at: millis, step_started_at: millis, started_by: str() }),
        created_at: millis, created_by: str(), updated_at: millis, updated_by: str(),
      }, ['name', 'revision', 'routes', 'public', 'created_at', 'created_by', 'updated_at', 'updated_by']),
      DeploymentRevision: obj({
        revision: int(), change: str('create, set_traffic, promote, rollback, …'), at: millis, by: str(), reason: str(), routes: arr(ref('DeploymentRoute')), sticky_key: str(), public: bool,
      }, ['revision', 'change', 'at', 'by', 'routes', 'public']),
      User: obj({
        name: str(), kind: { type: 'string', enum: ['user', 'service'] }, created_at: millis, created_by: str(), disabled: bool, roles: roleList,
      }, ['name', 'kind', 'created_at', 'created_by', 'disabled', 'roles']),
      Token: obj({
        id: str(), user: str(), description: str(), state: { type: 'string', enum: ['active', 'expired', 'revoked'] },
        created_at: millis, created_by: str(), expires_at: millis, revoked_at: millis, revoked_by: str(),
      }, ['id', 'user', 'description', 'state', 'created_at', 'created_by']),
      PipelinePackage: obj({
        format: { type: 'string', enum: ['trellis.pipeline-package/v1'] }, name: str(), version: str("the IR's version"), irHash: str(),
        ir: { type: 'object', additionalProperties: true, description: 'the pipeline IR, `trellis.pipeline/v1` (docs/pipelines.md)' },
        entry: str('path of the pipeline file among `files`'),
        files: arr(obj({ path: str('relative, `/`-separated, no `..`'), sha256: str(), mode: int('permission bits'), contentBase64: str() }, ['path', 'sha256', 'mode', 'contentBase64'])),
        trellisVersion: str(), sha256: str('of the canonical JSON of every other field'),
      }, ['format', 'name', 'version', 'irHash', 'ir', 'entry', 'files', 'trellisVersion', 'sha256']),
      PipelineVersion: obj({
        name: str(), version: int('1, 2, … per pipeline'), ir_version: str(), package_sha256: str(), ir_hash: str(),
        location: str('artifact-store path of the package'), triggers: arr({ type: 'object', additionalProperties: true }),
        concurrency: { type: 'string', enum: ['skip', 'queue', 'cancel-previous'] }, created_by: str(), created_at: millis,
      }, ['name', 'version', 'package_sha256', 'ir_hash', 'location', 'triggers', 'concurrency', 'created_by', 'created_at']),
      PipelineDeployment: obj({
        name: str(), active_version: { type: ['integer', 'null'], description: 'the version triggers run; null when undeployed' }, latest_version: int(),
        pinned_version: { type: ['integer', 'null'], description: 'set by a rollback, cleared by the next deploy' },
        paused: { ...bool, description: 'cron, dataset and upstream triggers do not fire' }, undeployed: bool,
        withdrawn_versions: arr(int()), changed_at: { type: ['integer', 'null'] }, changed_by: { type: ['string', 'null'] },
      }, ['name', 'active_version', 'latest_version', 'paused', 'undeployed', 'withdrawn_versions']),
      TriggerRecord: obj({
        id: int(), pipeline: str(), kind: { type: 'string', enum: ['cron', 'dataset', 'pipeline', 'api', 'record'] }, reason: str(),
        params: { type: 'object', additionalProperties: true }, dedupe_key: str(),
        status: { type: 'string', enum: ['pending', 'running', 'finished', 'failed', 'skipped', 'cancelled'] },
        created_at: millis, updated_at: millis, requested_by: str(), claimed_by: str('the scheduler that took it'), claimed_at: millis,
        heartbeat_at: millis, version: int('the pipeline version that ran'), run_id: str('the pipeline run it started'), detail: str('why it is in its status'),
      }, ['id', 'pipeline', 'kind', 'reason', 'params', 'status', 'created_at', 'requested_by']),
      LineageGraph: obj({
        root: str('the id of the node asked about'), depth: int(),
        nodes: arr(obj({
          id: str(), kind: { type: 'string', enum: ['dataset-version', 'run', 'pipeline-run', 'step', 'model-version', 'artifact'] }, label: str(),
          attrs: { type: 'object', additionalProperties: true },
        }, ['id', 'kind', 'label', 'attrs'])),
        edges: arr(obj({
          from: str(), to: str(),
          relation: { type: 'string', enum: ['input', 'feeds', 'source', 'registered', 'scored', 'output', 'cached', 'derived', 'contains'] },
          detail: str('e.g. `split.train → data` for a step input, the input context for a dataset'),
        }, ['from', 'to', 'relation'])),
      }, ['root', 'depth', 'nodes', 'edges']),
      Error: obj({ error_code: str('MLflow error code'), message: str(), trellis_code: str('Trellis error code (docs/errors.md)') }, ['error_code', 'message']),
      Dataset: obj({
        name: str(), creation_time: millis, last_update_time: millis, description: str(),
        subject_column: str(), latest_version: int(),
      }, ['name', 'creation_time', 'last_update_time']),
      DatasetVersion: obj({
        name: str(), version: int(), sha256: str('of the stored bytes: the identity of the version'),
        format: { type: 'string', enum: ['csv', 'jsonl', 'parquet', 'arrow'] }, rows: int(), columns: int(), size_bytes: int(),
        source: str('where the bytes came from, for people'), artifact_path: str('the artifact-store path of the bytes'),
        created_by: str(), creation_time: millis, lineage: { type: 'object', additionalProperties: { type: 'string' } },
        schema: ref('Schema'), profile: ref('ProfileSummary'),
      }, ['name', 'version', 'sha256', 'format', 'rows', 'columns', 'size_bytes', 'created_by', 'creation_time', 'schema', 'profile']),
      Schema: {
        type: 'object', description: 'A `trellis.schema/v1` document (docs/data.md): per column type, nullability, range, domain, environments, expectations, role (id, time, feature) and drift (false, or a threshold).',
        properties: { format: { type: 'string', enum: ['trellis.schema/v1'] }, columns: arr({ type: 'object', additionalProperties: true }) },
        required: ['format', 'columns'], additionalProperties: true,
      },
      ProfileSummary: obj({
        rows: int(),
        columns: arr(obj({
          name: str(), type: { type: 'string', enum: ['integer', 'float', 'boolean', 'string', 'datetime'] },
          count: int('rows with a value'), missing: int(), distinct: int('estimated; exact for small sets'),
          numeric: obj({
            mean: num, std: num, min: num, max: num, sum: num, zeros: int(), infinities: int(),
            quantiles: { type: 'object', additionalProperties: num, description: 'p1, p5, p25, p50, p75, p95, p99' },
            histogram: obj({ edges: arr(num), counts: arr(int()) }),
          }),
          top: arr(obj({ value: str(), count: int() })),
          ascending: obj({ first: num, last: num, strictly: bool }, ['first', 'last', 'strictly']),
        })),
      }),
      Anomaly: obj({
        kind: { type: 'string', enum: ['empty', 'missing_column', 'unexpected_column', 'not_in_environment', 'type_mismatch', 'null_values', 'null_rate', 'out_of_range', 'out_of_domain', 'expectation', 'skew'] },
        severity: { type: 'string', enum: ['error', 'warning'] }, column: str(), message: str(), count: int(), share: num,
        examples: arr({ oneOf: [{ type: 'string' }, num, bool] }),
      }, ['kind', 'severity', 'message']),
      Distance: obj({
        column: str(), measure: { type: 'string', enum: ['l_infinity', 'jensen_shannon'] }, value: num, threshold: num,
        sample_size: int(), reference_size: int(), noise: { ...num, description: 'the distance expected from sampling alone' }, category: str(),
      }, ['column', 'measure', 'value', 'threshold', 'sample_size', 'reference_size', 'noise']),
      ValidationReport: obj({
        ok: bool, rows: int(), environment: str(), against: str('what the records were checked against'),
        anomalies: arr(ref('Anomaly')), distances: arr(ref('Distance')), excluded_from_drift: ref('ExcludedFromDrift'),
      }, ['ok', 'rows', 'against', 'anomalies', 'distances', 'excluded_from_drift']),
      ExcludedFromDrift: {
        ...arr(obj({ column: str(), reason: str("'role id', 'role time' or 'drift: false'") }, ['column', 'reason'])),
        description: 'columns whose distribution was not compared with the reference, and why (their type, nulls, range and domain were checked)',
      },
      Skew: obj({ against: str(), distances: arr(ref('Distance')), skewed: arr(str()), excluded_from_drift: ref('ExcludedFromDrift') }, ['against', 'distances', 'skewed', 'excluded_from_drift']),
      DatasetDiff: obj({
        a: obj({ name: str(), version: int(), sha256: str(), rows: int() }),
        b: obj({ name: str(), version: int(), sha256: str(), rows: int() }),
        identical: bool,
        schema: obj({ added: arr(str()), removed: arr(str()), retyped: arr(obj({ column: str(), from: str(), to: str() })) }),
        columns: arr(obj({
          column: str(),
          stats: arr(obj({ stat: str(), a: { type: 'number', nullable: true }, b: { type: 'number', nullable: true }, delta: { type: 'number', nullable: true } })),
          distance: ref('Distance'),
        })),
      }, ['a', 'b', 'identical', 'schema', 'columns']),
      DatasetSchemaDocument: obj({
        name: str(), schema_version: int(), schema: ref('Schema'), pinned: bool, created_by: str(), creation_time: millis,
      }, ['name', 'schema_version', 'schema', 'pinned']),
      TrainingResult: obj({
        run_id: str(), model: { type: 'string', nullable: true }, version: { type: 'string', nullable: true },
        metrics: { type: 'object', additionalProperties: num, description: 'hold-out metrics of the final model (empty when it used every row)' },
        cv: obj({
          scheme: { type: 'string', enum: ['kfold', 'time'] }, folds: int(), column: str(),
          mean: { type: 'object', additionalProperties: num }, std: { type: 'object', additionalProperties: num },
          per_fold: arr(obj({ fold: int(), train_rows: int(), test_rows: int(), metrics: { type: 'object', additionalProperties: num } })),
        }),
        best_params: { type: 'object', additionalProperties: true }, trials: int(), best_trial: int(),
        objective: obj({ metric: str(), direction: { type: 'string', enum: ['maximize', 'minimize'] }, value: num }),
        report: obj({
          task: str(), positive_class: str(), train_rows: int(), test_rows: int(), metrics: { type: 'object', additionalProperties: num }, warnings: arr(str()),
          cv: obj({ folds: int(), time: bool, mean: { type: 'object', additionalProperties: num }, std: { type: 'object', additionalProperties: num } }),
          search: obj({ metric: str(), direction: str(), names: arr(str()), trials: arr(obj({ index: int(), params: { type: 'object', additionalProperties: true }, objective: num })) }),
        }),
      }, ['run_id', 'model', 'version', 'metrics']),
      HistoryInterval: obj({
        kind: { type: 'string', enum: ['alias', 'stage'] }, label: str(), version: str(), from: millis,
        to: { ...millis, description: 'absent while the interval is open' }, set_by: str(), ended_by: str(),
      }, ['kind', 'label', 'version', 'from']),
    },
  },
} as const;

export interface NativeRoute {
  method: string;
  /** The full URL, prefix included. */
  url: string;
}

const recorded = new WeakMap<FastifyInstance, NativeRoute[]>();

/**
 * Serves the document and starts recording the routes registered under the Trellis prefixes from
 * here on, so call it before any of them is registered.
 */
export function installOpenApi(app: FastifyInstance): void {
  const routes: NativeRoute[] = [];
  recorded.set(app, routes);
  app.addHook('onRoute', (route) => {
    if (!TRELLIS_PREFIXES.some((p) => route.url.startsWith(`${p}/`))) return;
    // HEAD is added by Fastify for every GET; it is not an operation of its own.
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  // The description of the API holds no data: public, so clients can discover what to authenticate for.
  new MlflowRouter(app, TRELLIS_PREFIXES).get('/openapi.json', { public: true }, async () => OPENAPI_DOCUMENT);
}

/** The native routes registered on `app` since {@link installOpenApi}. */
export function nativeRoutes(app: FastifyInstance): readonly NativeRoute[] {
  return recorded.get(app) ?? [];
}
