"""The GBDT benchmark's peers: scikit-learn's HistGradientBoostingClassifier and XGBoost `hist`,
at the settings Trellis uses (100 trees, 31 leaves, learning rate 0.1, 255 bins, 2 threads), on
the same rows and the same train/test split. Prints one JSON line.
  python3 bench/gbdt_peers.py <spec.json>
"""
import json
import os
import sys
import time

spec = json.loads(open(sys.argv[1]).read())
threads = int(spec.get("threads", 2))
os.environ["OMP_NUM_THREADS"] = str(threads)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
import xgboost as xgb  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def load(path):
    return pd.read_csv(path, skipinitialspace=True, na_values=["", "?"], keep_default_na=True)


train = load(spec["train"])
test = load(spec["test"]) if spec.get("test") else None
if test is None:
    # Every fifth row is a test row (the split Trellis uses in the benchmark).
    is_test = np.arange(len(train)) % 5 == 0
    test = train[is_test].reset_index(drop=True)
    train = train[~is_test].reset_index(drop=True)
target = spec["target"]
positive = spec["positive"]
drop = spec.get("drop", [])


def labels(df):
    return (df[target].astype(str).str.rstrip(".") == positive).astype(int).to_numpy()


y_train, y_test = labels(train), labels(test)
features = [c for c in train.columns if c != target and c not in drop]
cats = [c for c in features if train[c].dtype == object]
X_train = train[features].copy()
X_test = test[features].copy()
for c in cats:
    dtype = pd.CategoricalDtype(sorted(X_train[c].dropna().unique()))
    X_train[c] = X_train[c].astype(dtype)
    X_test[c] = X_test[c].astype(dtype)

out = {"rows": len(train), "test_rows": len(test), "features": len(features), "categorical": len(cats)}
reps = int(spec.get("reps", 1))

# scikit-learn: categories as ordinal codes with NaN for missing, declared categorical.
def codes(df):
    d = df.copy()
    for c in cats:
        d[c] = d[c].cat.codes.replace(-1, np.nan)
    return d.to_numpy(dtype=np.float64)

Xs_train, Xs_test = codes(X_train), codes(X_test)
mask = [c in cats for c in features] if cats else None
fits = []
for _ in range(reps):
    m = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, learning_rate=0.1, max_bins=255,
                                       min_samples_leaf=20, l2_regularization=0.0, early_stopping=False,
                                       categorical_features=mask, random_state=0)
    t = time.perf_counter()
    m.fit(Xs_train, y_train)
    fits.append(time.perf_counter() - t)
# Prediction as the Trellis side measures it: the held-out rows (the first call, then the median of
# predictReps), and 1,000,000 rows (the held-out rows repeated, median of 3). The input is the
# matrix of codes: turning the strings into codes is left out here, where Trellis counts it.
def rows_per_s(X):
    t = time.perf_counter()
    m.predict_proba(X)
    return len(X) / (time.perf_counter() - t)


t = time.perf_counter()
p = m.predict_proba(Xs_test)[:, 1]
first = len(Xs_test) / (time.perf_counter() - t)
again = [rows_per_s(Xs_test) for _ in range(int(spec.get("predictReps", 1)))]
big = Xs_test[np.arange(1_000_000) % len(Xs_test)]
batch = [rows_per_s(big) for _ in range(3)]
# One thread, by the clock and by CPU time.
one, per_cpu = [], []
with threadpool_limits(limits=1):
    for _ in range(int(spec.get("predictReps", 1))):
        c = time.process_time()
        one.append(rows_per_s(Xs_test))
        per_cpu.append(len(Xs_test) / (time.process_time() - c))
nodes = [tp.nodes for it in m._predictors for tp in it]
out["sklearn"] = {
    "fit_s": fits, "auc": roc_auc_score(y_test, p),
    "predict_first_rows_per_s": first, "predict_rows_per_s": float(np.median(again)), "predict_rows_per_s_each": again,
    "batch_rows_per_s": float(np.median(batch)), "batch_rows_per_s_each": batch,
    "one_thread_rows_per_s": float(np.median(one)), "rows_per_cpu_s": float(np.median(per_cpu)),
    "nodes": int(sum(len(n) for n in nodes)), "splits": int(sum((~n["is_leaf"].astype(bool)).sum() for n in nodes)),
    "category_splits": int(sum((n["is_categorical"].astype(bool) & ~n["is_leaf"].astype(bool)).sum() for n in nodes)),
}

if spec.get("predictOnly"):
    print(json.dumps(out))
    sys.exit(0)
fits = []
for _ in range(reps):
    m = xgb.XGBClassifier(n_estimators=100, max_leaves=31, max_depth=0, grow_policy="lossguide", learning_rate=0.1,
                          max_bin=255, tree_method="hist", n_jobs=threads, min_child_weight=1e-3, reg_lambda=0.0,
                          enable_categorical=bool(cats), max_cat_to_onehot=1)
    t = time.perf_counter()
    m.fit(X_train, y_train)
    fits.append(time.perf_counter() - t)
p = m.predict_proba(X_test)[:, 1]
out["xgboost"] = {"fit_s": fits, "auc": roc_auc_score(y_test, p)}
print(json.dumps(out))
