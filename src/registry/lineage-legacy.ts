/**
 * The second half of migration 5, for pipeline runs recorded before pipeline records had tables:
 * which upstream step fed which input is in the run's `pipeline.json`, and which version a register
 * step registered is in its `registration` output — both in the artifact store, which a schema
 * migration cannot read. Lineage fills those edges in the first time it meets such runs, by the
 * rules lineage followed when it read them from the IR and the outputs: an input names the
 * upstream step, whose run in the same pipeline run is the one that FINISHED (else the latest).
 * Filling in is idempotent, so two readers doing it at once agree.
 */
import type { ArtifactStore } from '../store/artifact-store.js';
import { parseArtifactUri } from '../store/artifact-path.js';
import type { PipelineRunStore, StepEdgeRecord, StepOutputRecord, StepRunRecord } from '../store/ports/pipelines.js';
import type { TrackingStore } from '../store/ports/tracking.js';

type RunReader = Pick<TrackingStore, 'getRun'>;

interface IrStep { name: string; inputs?: Record<string, unknown> }

const SHA256 = /^[0-9a-f]{64}$/;

function isRef(v: unknown): v is { step: string; output: string } {
  return !!v && typeof v === 'object' && typeof (v as { step?: unknown }).step === 'string' && typeof (v as { output?: unknown }).output === 'string';
}

async function readArtifact(tracking: RunReader, artifacts: ArtifactStore, runId: string, rel: string): Promise<Buffer | undefined> {
  try {
    const run = await tracking.getRun(runId);
    return await artifacts.get(`${parseArtifactUri(run.info.artifactUri, ['mlflow-artifacts']).path}/${rel}`);
  } catch {
    return undefined;
  }
}

async function readIr(tracking: RunReader, artifacts: ArtifactStore, pipelineRunId: string): Promise<IrStep[] | null> {
  const bytes = await readArtifact(tracking, artifacts, pipelineRunId, 'pipeline.json');
  try {
    const doc = bytes ? (JSON.parse(bytes.toString('utf8')) as { steps?: unknown }) : undefined;
    return Array.isArray(doc?.steps) ? doc.steps.filter((s): s is IrStep => !!s && typeof (s as IrStep).name === 'string') : null;
  } catch {
    return null;
  }
}

async function registrationRef(tracking: RunReader, artifacts: ArtifactStore, entry: StepOutputRecord): Promise<string | undefined> {
  const bytes = await readArtifact(tracking, artifacts, entry.run, `outputs/${entry.name || 'registration'}`);
  try {
    const reg = bytes ? (JSON.parse(bytes.toString('utf8')) as { registered?: boolean; name?: string; version?: string | number }) : undefined;
    return reg?.registered && reg.name && reg.version !== undefined ? `${reg.name}/${reg.version}` : undefined;
  } catch {
    return undefined;
  }
}

/** Fills in the IR-dependent edges of every converted pipeline run not done yet; resolves with how many it did. */
export async function completeLegacyPipelineRuns(tracking: RunReader, pipelines: PipelineRunStore, artifacts: ArtifactStore): Promise<number> {
  const legacy = await pipelines.listPipelineRuns({ edgesComplete: false, limit: 100_000 });
  for (const p of legacy) {
    const steps = await pipelines.listStepRuns({ pipelineRunId: p.id });
    const ir = await readIr(tracking, artifacts, p.id);
    const runOf = (step: string): StepRunRecord | undefined => steps.filter((s) => s.step === step)
      .sort((a, b) => Number(b.status === 'FINISHED') - Number(a.status === 'FINISHED') || b.startTime - a.startTime)[0];
    const edges: StepEdgeRecord[] = [];
    for (const st of steps) {
      for (const [input, v] of Object.entries(ir?.find((s) => s.name === st.step)?.inputs ?? {})) {
        if (!isRef(v)) continue;
        const up = runOf(v.step);
        if (!up) continue;
        const entry = up.outputs?.[v.output];
        edges.push({
          stepRunId: st.id, role: 'input', name: input, kind: 'step', ref: up.id, output: v.output,
          ...(entry?.run ? { holder: entry.run } : {}), ...(entry && SHA256.test(entry.sha256) ? { sha256: entry.sha256 } : {}),
        });
      }
      const reg = st.component === 'register@1' && st.outputs?.registration ? await registrationRef(tracking, artifacts, st.outputs.registration) : undefined;
      if (reg) edges.push({ stepRunId: st.id, role: 'output', name: 'registration', kind: 'model', ref: reg });
    }
    await pipelines.completePipelineRunEdges(p.id, edges);
  }
  return legacy.length;
}
