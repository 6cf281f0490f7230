/**
 * The error registry: every error Trellis raises has one row here — a stable code, a message
 * template, the HTTP and gRPC statuses it maps to, whether a retry can help, the MLflow
 * `error_code` used on the MLflow-compatible API, and a line on how to solve it.
 * `docs/errors.md` documents each row; a test fails when the two drift apart.
 */

export interface ErrorSpec {
  /** Message template; `{name}` placeholders are filled from the error's params. */
  readonly message: string;
  readonly http: number;
  /** gRPC status code number (3 INVALID_ARGUMENT, 5 NOT_FOUND, …). */
  readonly grpc: number;
  readonly retryable: boolean;
  /** The MLflow `error_code` this error is reported as on MLflow routes. */
  readonly mlflow: string;
  readonly solve: string;
}

const spec = (
  message: string,
  http: number,
  grpc: number,
  mlflow: string,
  retryable: boolean,
  solve: string,
): ErrorSpec => ({ message, http, grpc, mlflow, retryable, solve });

export const ERRORS = {
  TRELLIS_INVALID_PARAMETER: spec('{detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Fix the named field of the request; the message says what was wrong with it.'),
  TRELLIS_MISSING_PARAMETER: spec(
    "Missing value for required parameter '{param}'. See the API docs for more information about request parameters.",
    400, 3, 'INVALID_PARAMETER_VALUE', false, 'Send the named parameter; an empty string counts as missing.'),
  TRELLIS_CONTENT_TYPE: spec("Bad Request. Content-Type must be one of [application/json]. Got '{contentType}'.",
    400, 3, 'INVALID_PARAMETER_VALUE', false, 'Send JSON bodies with `Content-Type: application/json`.'),
  TRELLIS_MALFORMED_JSON: spec('Malformed JSON body: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Send a body that parses as one JSON object.'),
  TRELLIS_SEARCH_FILTER_INVALID: spec("Invalid filter '{filter}': {detail}", 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Write the filter as `<key> <comparator> <value>` clauses joined by AND; see docs/search.md.'),
  TRELLIS_ORDER_BY_INVALID: spec("Invalid order_by clause '{clause}': {detail}", 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Write each clause as `<key> [ASC|DESC]` with a key the search supports.'),
  TRELLIS_PAGE_TOKEN_INVALID: spec('Invalid page token: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Pass back exactly the next_page_token of the previous page, with the same query.'),
  TRELLIS_LIMIT_EXCEEDED: spec('{detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Split the request: log-batch takes at most 1000 metrics, 100 params, 100 tags and 1 MB.'),
  TRELLIS_EXPERIMENT_NOT_FOUND: spec('No Experiment with id={id} exists', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the experiment id; `trellis experiments list` shows them.'),
  TRELLIS_EXPERIMENT_NAME_NOT_FOUND: spec("Could not find experiment with name '{name}'", 404, 5, 'RESOURCE_DOES_NOT_EXIST',
    false, 'Check the experiment name; names are case-sensitive.'),
  TRELLIS_EXPERIMENT_EXISTS: spec('Experiment(name={name}) already exists.', 400, 6, 'RESOURCE_ALREADY_EXISTS', false,
    'Pick another name, or get the existing experiment by name.'),
  TRELLIS_EXPERIMENT_NOT_ACTIVE: spec("The experiment {id} must be in the 'active' state. Current state is {state}.",
    400, 9, 'INVALID_PARAMETER_VALUE', false, 'Restore the experiment first.'),
  TRELLIS_RUN_NOT_FOUND: spec('Run with id={id} not found', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the run id; `trellis runs list` shows them.'),
  TRELLIS_RUN_NOT_ACTIVE: spec("The run {id} must be in the 'active' state. Current state is {state}.", 400, 9,
    'INVALID_PARAMETER_VALUE', false, 'Restore the run before writing to it.'),
  TRELLIS_PARAM_CHANGED: spec(
    "Changing param values is not allowed. Param with key='{key}' was already logged with value='{old}' for run ID='{runId}'. Attempted logging new value '{new}'.",
    400, 3, 'INVALID_PARAMETER_VALUE', false, 'Params are write-once; log the new value in a new run.'),
  TRELLIS_METRIC_NOT_FOUND: spec("Metric '{key}' not found for run {runId}", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the metric key.'),
  TRELLIS_TAG_NOT_FOUND: spec("No tag with name: {key} in {entity}", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the tag key.'),
  TRELLIS_MODEL_NOT_FOUND: spec('Registered Model with name={name} not found', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the model name; `trellis models list` shows them.'),
  TRELLIS_MODEL_EXISTS: spec('Registered Model (name={name}) already exists.', 400, 6, 'RESOURCE_ALREADY_EXISTS', false,
    'Pick another name, or register a new version of the existing model.'),
  TRELLIS_MODEL_VERSION_NOT_FOUND: spec('Model Version (name={name}, version={version}) not found', 404, 5,
    'RESOURCE_DOES_NOT_EXIST', false, 'Check the version number; `trellis models versions <name>` lists them.'),
  // 400 INVALID_PARAMETER_VALUE, not 404: that is how MLflow answers an unknown alias, and its clients branch on it.
  TRELLIS_ALIAS_NOT_FOUND: spec("Registered model alias {alias} not found for model {name}", 400, 5,
    'INVALID_PARAMETER_VALUE', false, 'Set the alias first, or check its spelling.'),
  TRELLIS_DATASET_NOT_FOUND: spec("Dataset '{name}' not found", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the name; `trellis data list` shows the datasets.'),
  TRELLIS_DATASET_VERSION_NOT_FOUND: spec("Dataset '{name}' has no version {version}", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the version; `trellis data versions <name>` lists them.'),
  TRELLIS_MODEL_INVALID: spec('The model file is refused: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'The model document is corrupted or was not written by Trellis; re-export or re-train it.'),
  TRELLIS_SOURCE_INVALID: spec("Invalid model version source '{source}': {detail}", 400, 3, 'INVALID_PARAMETER_VALUE',
    false, 'Register from the run that produced the model (`runs:/<run_id>/<path>` or the run artifact URI), or copy an existing version (`models:/<name>/<version>`, `models:/<name>@<alias>`).'),
  TRELLIS_PATH_UNSAFE: spec("Invalid path '{path}': {detail}", 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Use a relative path inside the store, without `..`, backslashes, NUL or a scheme.'),
  TRELLIS_ARTIFACT_NOT_FOUND: spec("Artifact '{path}' not found", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'List the run artifacts to see which paths exist.'),
  TRELLIS_ARTIFACT_INTEGRITY: spec(
    "Artifact '{path}' failed its integrity check: expected sha256 {expected}, found {actual}. The stored bytes were changed after they were written.",
    500, 15, 'DATA_LOSS', false, 'Restore the blob from a backup; Trellis will not serve bytes that differ from what was recorded.'),
  TRELLIS_MODEL_DIGEST_MISMATCH: spec(
    "Model {name} version {version}: file '{file}' does not match the digest recorded when the version was created (expected sha256 {expected}…, found {actual}…)",
    500, 15, 'DATA_LOSS', false, 'The files of a registered version were changed after it was created; restore them from a backup, or register the intended files as a new version.'),
  TRELLIS_ARTIFACT_FROZEN: spec("'{path}' cannot be changed: {detail}", 403, 7, 'PERMISSION_DENIED', false,
    'Files a model version was registered from never change; write the new files under another path (or a new run) and register them as a new version.'),
  TRELLIS_STORE_URI_INVALID: spec("Invalid store URI '{uri}': {detail}", 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Use sqlite:<path> or postgres://… for metadata and file:<path> for artifacts.'),
  TRELLIS_STORE_UNAVAILABLE: spec('The store is unavailable: {detail}', 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'Check that the database is running and reachable; the request can be retried.'),
  TRELLIS_ARTIFACT_STORE_UNAVAILABLE: spec('The artifact store {uri} is unavailable: {detail}', 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'Check that the object store is running and reachable from here (endpoint, network); Trellis already retried with backoff (AWS_MAX_ATTEMPTS), and the request can be sent again.'),
  TRELLIS_ARTIFACT_STORE_REFUSED: spec('The artifact store {uri} refused the request: {detail}', 500, 9, 'INTERNAL_ERROR', false,
    'Check that the bucket exists and that the credentials of the standard AWS chain (environment, AWS_PROFILE, a container or instance role) may get, put, list and delete objects under the prefix; see docs/storage.md.'),
  TRELLIS_SCHEMA_TOO_NEW: spec(
    'The database schema is at version {found}, newer than this Trellis understands ({supported}).', 500, 9,
    'INVALID_STATE', false, 'Upgrade Trellis; never point an older release at a newer database.'),
  TRELLIS_AUDIT_CHAIN_BROKEN: spec('The audit chain is broken at event {seq}: {detail}', 500, 15, 'DATA_LOSS', false,
    'The audit table was altered outside Trellis; restore it from a backup and investigate who changed it.'),
  TRELLIS_ENDPOINT_NOT_FOUND: spec('No route for {method} {url}', 404, 12, 'ENDPOINT_NOT_FOUND', false,
    'Check the path and the HTTP method against the API docs.'),
  TRELLIS_NOT_IMPLEMENTED: spec('{feature} is not implemented', 501, 12, 'NOT_IMPLEMENTED', false,
    'Use another route; this one is not supported by this server.'),
  TRELLIS_INTERNAL: spec('Internal error: {detail}', 500, 13, 'INTERNAL_ERROR', true,
    'This is a bug in Trellis; report it with the request id.'),
  TRELLIS_DATA_PARSE: spec('{file}:{line}:{column}: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Fix the data file at the named line and column (1-based); the message says what was expected there.'),
  TRELLIS_DATA_EMPTY: spec('{file} has no data: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Point at a file with a header and at least one data row.'),
  TRELLIS_DATA_FORMAT: spec('{file} cannot be read as {format}: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Check that the file is complete and in the format its extension says, or pass the format explicitly.'),
  TRELLIS_DATA_FILE_NOT_FOUND: spec("Data file '{file}' not found", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the path; relative paths are resolved from the current directory (in a pipeline, from the pipeline\'s folder first).'),
  TRELLIS_DATA_COLUMN_NOT_FOUND: spec("No column '{name}' in the table; its columns are: {columns}", 400, 3,
    'INVALID_PARAMETER_VALUE', false, 'Use one of the listed column names; names are case-sensitive.'),
  TRELLIS_DATA_SCHEMA_MISMATCH: spec('{detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Make the columns and value types agree with the schema the message names.'),
  TRELLIS_DATA_SOURCE_UNREACHABLE: spec('Cannot reach the data source {source}: {detail}', 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'Check the host and port the message names, that the server runs and is reachable from here (firewall, VPN), then try again.'),
  TRELLIS_DATA_SOURCE_FAILED: spec('The data source {source} refused the request: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    "Fix what the source's own message says: the query (SQL error), the credentials (from the URL or PGPASSWORD / MYSQL_PWD / the AWS chain), the permissions, or the URL."),
  TRELLIS_EGRESS_BLOCKED: spec('Refusing to connect to {host} ({address}): {detail}', 403, 7, 'PERMISSION_DENIED', false,
    'Loopback, link-local, private and other internal addresses are refused by default; to reach one on purpose, list the address, a CIDR range or the host name in TRELLIS_EGRESS_ALLOW (comma-separated).'),
  TRELLIS_HOST_NOT_ALLOWED: spec('Host {host} is not allowed: {detail}', 403, 7, 'PERMISSION_DENIED', false,
    'Open the server by a name it answers to (localhost, 127.0.0.1, [::1] or the address it listens on), or start it with --allowed-hosts (or TRELLIS_ALLOWED_HOSTS) listing the name; the check keeps web pages from reaching the server through DNS rebinding.'),
  TRELLIS_ORIGIN_NOT_ALLOWED: spec('Cross-origin request refused: {detail}', 403, 7, 'PERMISSION_DENIED', false,
    'The server takes state-changing requests only from its own origin or from clients that send no Origin header (the MLflow client, the Trellis SDK and CLI, curl); a web page on another site cannot write to it.'),
  TRELLIS_OIDC_PROVIDER_UNAVAILABLE: spec('The identity provider {issuer} is unavailable: {detail}', 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'Check that the issuer (TRELLIS_OIDC_ISSUER) and its key set (jwks_uri, or TRELLIS_OIDC_JWKS_URI) are reachable from the server; the request can be retried.'),
  TRELLIS_ARTIFACT_READ_ONLY: spec("'{path}' is not written through the artifact proxy: {detail}", 403, 7, 'PERMISSION_DENIED', false,
    'Dataset versions are added with trellis data add (their bytes never change) and pipeline packages with trellis pipelines deploy; the proxy writes run artifacts only.'),
  TRELLIS_UNAUTHENTICATED: spec('Authentication required: {detail}', 401, 16, 'UNAUTHENTICATED', false,
    'Send a token: `Authorization: Bearer <token>`, or HTTP Basic with your user name and a token as the password (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN; TRELLIS_TOKEN for the Trellis CLI and SDK). An administrator creates tokens with `trellis tokens create <user>`.'),
  TRELLIS_PERMISSION_DENIED: spec('Permission denied: {detail}', 403, 7, 'PERMISSION_DENIED', false,
    'Ask an administrator for a role that allows it on this object: `trellis users grant <user> --role <role>[:<type>/<name>]` (roles: viewer, contributor, pipeline-deployer, approver, deployer, invoker, admin).'),
  TRELLIS_TOO_MANY_ATTEMPTS: spec('Too many failed sign-in attempts from {source}; try again in {retryAfter} s', 429, 8, 'REQUEST_LIMIT_EXCEEDED', true,
    'Check the user name and token the client sends; after the wait, a correct token is accepted again.'),
  TRELLIS_PRINCIPAL_NOT_FOUND: spec("No user or service account named '{name}'", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the name; `trellis users list` shows them.'),
  TRELLIS_DEPLOYMENT_EXISTS: spec("A deployment named '{name}' already exists", 400, 6, 'RESOURCE_ALREADY_EXISTS', false,
    'Pick another endpoint name, or change the existing one with `trellis deployments set-traffic` or `rollout`.'),
  TRELLIS_DEPLOYMENT_NOT_FOUND: spec("No deployment named '{name}'", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the name; `trellis deployments list` shows them.'),
  TRELLIS_DEPLOYMENT_CONFLICT: spec("Deployment '{name}' changed meanwhile: it is at revision {found}, the change was based on revision {expected}", 409, 10, 'RESOURCE_CONFLICT', true,
    'Read the deployment again (`trellis deployments show`) and repeat the change if it still makes sense.'),
  TRELLIS_PREDICTION_NOT_FOUND: spec("No logged request '{requestId}' on endpoint '{endpoint}'", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Give the x-request-id of a request the endpoint answered; it is in the log only when it was sampled (--log-sample) and once written (within a second).'),
  TRELLIS_PRINCIPAL_EXISTS: spec("A user or service account named '{name}' already exists", 400, 6, 'RESOURCE_ALREADY_EXISTS', false,
    'Pick another name, or grant roles to the existing one with `trellis users grant`.'),
  TRELLIS_TOKEN_NOT_FOUND: spec("No token with id '{id}'", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the id; `trellis tokens list <user>` shows the ids (never the tokens themselves).'),
  TRELLIS_AUTH_CONFIG: spec('Cannot start with authentication on: {detail}', 400, 9, 'INVALID_PARAMETER_VALUE', false,
    'Create the first administrator with `trellis users create <name> --role admin` (then `trellis tokens create <name>`), or set TRELLIS_ADMIN_TOKEN to a random secret of at least 24 characters.'),
  TRELLIS_STEP_FAILED: spec("Step '{step}' failed: {detail}", 500, 2, 'INTERNAL_ERROR', false,
    "The component's own code failed: read the message, the user frame it names and the step log; fix the component or its inputs."),
  TRELLIS_STEP_TRANSIENT: spec("Step '{step}' failed with a transient error: {detail}", 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'The component marked the failure as retryable (RetryableError, or an exit code listed as retryable): give the step retries, or fix the resource it waits for.'),
  TRELLIS_STEP_TIMEOUT: spec("Step '{step}' exceeded its timeout of {timeoutSeconds} s and was stopped", 503, 4,
    'TEMPORARILY_UNAVAILABLE', true, 'Raise the timeout of the step, give it retries, or make the component faster; the step log shows how far it got.'),
  TRELLIS_STEP_OUTPUT_MISSING: spec("Step '{step}' finished without writing its declared output {missing}", 500, 9,
    'INVALID_STATE', false,
    'Make the component write every declared output at the path it is given (`ctx.outputs.<name>.path`, `{outputs.<name>}` or `$TRELLIS_OUTPUT_<NAME>`), or remove the declaration.'),
  TRELLIS_STEP_CANCELLED: spec("Step '{step}' was cancelled", 500, 1, 'INVALID_STATE', false,
    'The run was cancelled while the step ran; start it again when wanted.'),
  TRELLIS_PIPELINE_INVALID: spec('Pipeline {source} is invalid: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Fix the field at the path (and line) the message names; docs/pipelines.md describes the format. `trellis pipelines lint <file>` lists every problem.'),
  TRELLIS_PIPELINE_NOT_FOUND: spec("Pipeline '{name}' has no deployed version", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the name; `trellis pipelines deploy` publishes a version, and the pipelines list route shows the deployed ones.'),
  TRELLIS_PIPELINE_VERSION_NOT_FOUND: spec("Pipeline '{name}' has no version {version}", 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the version number; the versions route lists them, numbered 1, 2, … per pipeline.'),
  TRELLIS_PACKAGE_INVALID: spec('The pipeline package is refused: {field}: {detail}', 400, 3, 'INVALID_PARAMETER_VALUE', false,
    'Rebuild the package from the pipeline file (`trellis ci`) rather than editing it: the named field no longer matches its hashes or is unsafe.'),
  TRELLIS_TRIGGER_NOT_FOUND: spec('No trigger record with id {id}', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the id; `trellis pipelines triggers` lists the trigger records.'),
  TRELLIS_PIPELINE_RUN_NOT_FOUND: spec('No pipeline run with id {id}', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the id: it is the run id `trellis run` printed (the id of the pipeline\'s MLflow run), not the id of one of its steps.'),
  TRELLIS_STEP_RUN_NOT_FOUND: spec('No step run with id {id}', 404, 5, 'RESOURCE_DOES_NOT_EXIST', false,
    'Check the id: step runs are the child runs of a pipeline run; `trellis runs list` on the pipeline\'s experiment shows them.'),
  TRELLIS_CI_FAILED: spec('trellis ci failed at {stage}: {cause}', 400, 9, 'INVALID_PARAMETER_VALUE', false,
    'Fix what the named stage reports (lint errors, type errors at file:line:col, the failed test, the failed step), then run `trellis ci` again.'),
  TRELLIS_SERVER_UNREACHABLE: spec('Cannot reach the Trellis server at {url}: {detail}', 503, 14, 'TEMPORARILY_UNAVAILABLE', true,
    'Check the --server URL and that `trellis server` runs there and is reachable from here; the request can be retried.'),
  TRELLIS_SERVER_REFUSED: spec('The Trellis server at {url} answered {status}: {detail}', 500, 13, 'INTERNAL_ERROR', false,
    'The answer did not come from a Trellis server of a matching version (or a proxy stood between): check the --server URL and the server\'s logs.'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export type ErrorParams = Record<string, string | number | boolean | undefined>;

export class TrellisError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;

  /** `options.message` replaces the template's text: for errors rebuilt from another process's report. */
  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? formatMessage(ERRORS[code].message, params), options);
    this.name = 'TrellisError';
    this.code = code;
    this.params = params;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
  get mlflowCode(): string {
    return ERRORS[this.code].mlflow;
  }
  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }

  /** Plain data, safe to send across a worker thread or a queue and to rebuild with {@link fromJSON}. */
  toJSON(): { code: ErrorCode; message: string; params: ErrorParams } {
    return { code: this.code, message: this.message, params: this.params };
  }

  static fromJSON(data: { code: string; message?: string; params?: ErrorParams }): TrellisError {
    if (!(data.code in ERRORS)) {
      return new TrellisError('TRELLIS_INTERNAL', { detail: `${data.code}: ${data.message ?? ''}` });
    }
    return new TrellisError(data.code as ErrorCode, data.params ?? {}, { message: data.message });
  }
}

export function formatMessage(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (params[k] === undefined ? `{${k}}` : String(params[k])));
}

/**
 * Whether `e` is a TrellisError, and when codes are given, one with one of them. Errors are told
 * apart this way rather than by comparing `code` strings: a misspelt or retired code is a type
 * error here, and an object that merely has a `code` property does not pass.
 */
export function isTrellisError<C extends ErrorCode>(e: unknown, ...codes: C[]): e is TrellisError & { readonly code: C } {
  return e instanceof TrellisError && (codes.length === 0 || (codes as readonly ErrorCode[]).includes(e.code));
}

/** Shorthand for the most common error: a field with a bad value. */
export function invalid(detail: string): TrellisError {
  return new TrellisError('TRELLIS_INVALID_PARAMETER', { detail });
}
