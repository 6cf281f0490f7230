"""The batch-scoring benchmark's peer: scikit-learn's HistGradientBoostingClassifier at the settings
Trellis trains with (100 trees, 31 leaves, learning rate 0.1, 255 bins, 2 threads), fitted on the
Adult training file, then `predict_proba` on the same 1,000,000 rows Trellis scores: the model alone
(on the matrix of category codes, median of 3) and end to end, CSV → CSV with pandas (read, codes,
predict_proba, write the input columns plus prediction and the class probabilities), by the clock
and per CPU second. Prints one JSON line.
  python3 bench/score_peer.py <train.csv> <rows.csv> <out.csv>
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

train_path, rows_path, out_path = sys.argv[1:4]
target = "income"


def load(path):
    return pd.read_csv(path, skipinitialspace=True, na_values=["", "?"], keep_default_na=True)


train = load(train_path)
features = [c for c in train.columns if c != target]
cats = [c for c in features if train[c].dtype == object]
dtypes = {c: pd.CategoricalDtype(sorted(train[c].dropna().unique())) for c in cats}


def codes(df):
    d = df[features].copy()
    for c in cats:
        d[c] = d[c].astype(dtypes[c]).cat.codes.replace(-1, np.nan)
    return d.to_numpy(dtype=np.float64)


classes = sorted(train[target].astype(str).unique())
y = (train[target].astype(str) == classes[1]).astype(int).to_numpy()
m = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, learning_rate=0.1, max_bins=255,
                                   min_samples_leaf=20, l2_regularization=0.0, early_stopping=False,
                                   categorical_features=[c in cats for c in features], random_state=0)
m.fit(codes(train), y)

rows = load(rows_path)
X = codes(rows)
alone, alone_cpu = [], []
for _ in range(3):
    c = time.process_time()
    t = time.perf_counter()
    m.predict_proba(X)
    alone.append(len(X) / (time.perf_counter() - t))
    alone_cpu.append(len(X) / (time.process_time() - c))

c = time.process_time()
t = time.perf_counter()
df = load(rows_path)
p = m.predict_proba(codes(df))
df["prediction"] = np.where(p[:, 1] > p[:, 0], classes[1], classes[0])
df[f"proba_{classes[0]}"] = p[:, 0]
df[f"proba_{classes[1]}"] = p[:, 1]
df.to_csv(out_path, index=False)
end_to_end = len(df) / (time.perf_counter() - t)
end_to_end_cpu = len(df) / (time.process_time() - c)

print(json.dumps({
    "rows": len(X), "sklearn_version": __import__("sklearn").__version__,
    "model_rows_per_s": float(np.median(alone)), "model_rows_per_s_each": alone,
    "model_rows_per_cpu_s": float(np.median(alone_cpu)),
    "end_to_end_rows_per_s": end_to_end, "end_to_end_rows_per_cpu_s": end_to_end_cpu,
}))
