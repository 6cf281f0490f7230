const url = 'http://127.0.0.1:5199';
const post = (p: string, b: string) => fetch(`${url}/api/2.0/mlflow/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
const r = (await (await post('runs/create', '{"experiment_id":"0"}')).json()) as any;
const body = (b: number) => JSON.stringify({ run_id: r.run.info.run_id, metrics: Array.from({ length: 1000 }, (_, i) => ({ key: `metric_${i % 50}`, value: Math.sin(i), timestamp: 1, step: b * 20 + Math.floor(i / 50) })) });
const bodies = Array.from({ length: 300 }, (_, b) => body(b));
let n = 0; const t = performance.now();
await Promise.all([0, 1, 2, 3].map(async () => { while (n < 300) { const b = n++; await (await post('runs/log-batch', bodies[b]!)).text(); } }));
console.log(((300000 / (performance.now() - t)) * 1000).toFixed(0), 'points/s');
