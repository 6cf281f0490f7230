#!/usr/bin/env python3
"""A command component for Trellis pipelines: trains a scikit-learn regressor on a CSV file.

Reads --data (CSV with a header), predicts --target from every other numeric column (minus
--drop), holds out --test-size of the rows, and writes:
  --model        a JSON summary of the fitted model (estimator, parameters, features, metrics)
  --predictions  optional CSV of the hold-out rows: row, y_true, y_pred
  --metrics      metrics.json for Trellis: rmse, mae, r2 on the hold-out, n_train, n_test
                 (default: $TRELLIS_METRICS_FILE, set by the Trellis executor)

The files are opaque artifacts to Trellis: it hashes them and passes them to later steps but
never loads them as code. That is why this writes no pickle: a later step that needs the model
itself should re-train it here or export it to a data format (ONNX) that Trellis reads.

Exit codes: 0 success; 2 bad arguments or data.
Example step (see README.md):
  command: ["python3", "sklearn_train.py", "--data", "{inputs.data}", "--target", "cnt",
            "--model", "{outputs.model}", "--predictions", "{outputs.predictions}"]
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def fail(message):
    print(f"sklearn_train: {message}", file=sys.stderr)
    sys.exit(2)


def read_numeric_csv(path, target, drop):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        fail(f"{path} has no data rows")
    header, body = rows[0], rows[1:]
    if target not in header:
        fail(f"no column '{target}' in {path}; its columns are: {', '.join(header)}")
    unknown = [c for c in drop if c not in header]
    if unknown:
        fail(f"--drop names unknown columns: {', '.join(unknown)}")
    columns, skipped = {}, []
    for j, name in enumerate(header):
        if name in drop:
            continue
        try:
            columns[name] = np.array([float(r[j]) for r in body])
        except ValueError:
            skipped.append(name)
    if target not in columns:
        fail(f"target column '{target}' is not numeric")
    features = [c for c in columns if c != target]
    if not features:
        fail("no numeric feature columns left")
    x = np.column_stack([columns[c] for c in features])
    return x, columns[target], features, skipped


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--drop", default="", help="comma-separated columns to leave out (ids, leaks)")
    p.add_argument("--model", required=True, help="where to write the JSON model summary")
    p.add_argument("--predictions", help="where to write hold-out predictions (CSV)")
    p.add_argument("--metrics", default=os.environ.get("TRELLIS_METRICS_FILE"))
    p.add_argument("--algo", choices=["hgb", "forest"], default="hgb")
    p.add_argument("--max-iter", type=int, default=200, help="boosting rounds (hgb) or trees (forest)")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    drop = [c for c in a.drop.split(",") if c]
    x, y, features, skipped = read_numeric_csv(a.data, a.target, drop)
    if skipped:
        print(f"skipping non-numeric columns: {', '.join(skipped)}", file=sys.stderr)
    idx = np.arange(len(y))
    x_tr, x_te, y_tr, y_te, _, idx_te = train_test_split(x, y, idx, test_size=a.test_size, random_state=a.seed)

    if a.algo == "hgb":
        model = HistGradientBoostingRegressor(max_iter=a.max_iter, random_state=a.seed)
    else:
        model = RandomForestRegressor(n_estimators=a.max_iter, random_state=a.seed, n_jobs=1)
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr)
    fit_s = time.perf_counter() - t0
    pred = model.predict(x_te)
    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(y_te, pred))),
        "mae": float(mean_absolute_error(y_te, pred)),
        "r2": float(r2_score(y_te, pred)),
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "fit_seconds": fit_s,
    }
    print(f"trained {type(model).__name__} on {len(y_tr)} rows x {len(features)} features "
          f"in {fit_s:.2f} s; hold-out rmse {metrics['rmse']:.4f}, r2 {metrics['r2']:.4f}")

    summary = {
        "format": "sklearn-summary/v1",
        "estimator": type(model).__name__,
        "sklearn_version": sklearn.__version__,
        "params": {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
        "target": a.target,
        "features": features,
        "dropped": drop + skipped,
        "test_size": a.test_size,
        "seed": a.seed,
        "metrics": metrics,
    }
    with open(a.model, "w") as f:
        json.dump(summary, f, indent=2)
    if a.predictions:
        with open(a.predictions, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["row", "y_true", "y_pred"])
            for i, t, q in zip(idx_te, y_te, pred):
                w.writerow([int(i), repr(float(t)), repr(float(q))])
    if a.metrics:
        with open(a.metrics, "w") as f:
            json.dump(metrics, f)


if __name__ == "__main__":
    main()
