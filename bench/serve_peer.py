"""The serving benchmark's peer: scikit-learn's HistGradientBoostingClassifier (100 trees, 31 leaves,
learning rate 0.1, 255 bins, the categorical columns handled natively as category codes, as
bench/score_peer.py fits it) behind FastAPI + uvicorn, one row per request as a pydantic-validated
JSON object with the Adult columns as keys; it answers {"prediction", "probability"}.

  python3 bench/serve_peer.py fit <train.csv> <model.pkl>      # fits once, pickles the model
  PEER_MODEL=<model.pkl> python3 -m uvicorn serve_peer:app --app-dir bench --workers N --port P

Each uvicorn worker loads the pickle; OMP_NUM_THREADS=1 keeps predict_proba on one row from
starting a thread team per request.
"""
import os
import pickle
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TARGET = "income"


def fit(train_path, out_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = pd.read_csv(train_path, skipinitialspace=True, na_values=["", "?"], keep_default_na=True)
    features = [c for c in train.columns if c != TARGET]
    cats = [c for c in features if train[c].dtype == object]
    levels = {c: sorted(train[c].dropna().unique()) for c in cats}
    X = train[features].copy()
    for c in cats:
        X[c] = X[c].astype(pd.CategoricalDtype(levels[c])).cat.codes.replace(-1, np.nan)
    classes = sorted(train[TARGET].astype(str).unique())
    y = (train[TARGET].astype(str) == classes[1]).astype(int).to_numpy()
    m = HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, learning_rate=0.1, max_bins=255,
                                       min_samples_leaf=20, l2_regularization=0.0, early_stopping=False,
                                       categorical_features=[c in cats for c in features], random_state=0)
    m.fit(X.to_numpy(dtype=np.float64), y)
    with open(out_path, "wb") as f:
        pickle.dump({"model": m, "features": features, "cats": cats, "levels": levels, "classes": classes}, f)


def build_app(path):
    from fastapi import FastAPI
    from pydantic import Field, create_model

    with open(path, "rb") as f:
        saved = pickle.load(f)
    model, features, cats, classes = saved["model"], saved["features"], set(saved["cats"]), saved["classes"]
    # Category → code per column; an unseen or missing category is NaN, as in training.
    codes = {c: {v: float(i) for i, v in enumerate(saved["levels"][c])} for c in cats}
    # Python names for the hyphenated Adult columns, the JSON keys kept as aliases.
    Row = create_model("Row", **{c.replace("-", "_"): ((str if c in cats else float), Field(alias=c)) for c in features})
    app = FastAPI()

    @app.post("/predict")
    async def predict(row: Row):  # noqa: ANN202  (async: no thread-pool hop per request)
        values = row.dict(by_alias=True)
        x = np.array([[codes[c].get(values[c], np.nan) if c in cats else values[c] for c in features]], dtype=np.float64)
        p = float(model.predict_proba(x)[0, 1])
        return {"prediction": classes[1] if p >= 0.5 else classes[0], "probability": p}

    return app


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "fit":
    fit(sys.argv[2], sys.argv[3])
elif "PEER_MODEL" in os.environ:
    app = build_app(os.environ["PEER_MODEL"])
