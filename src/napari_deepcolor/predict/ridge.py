"""The ridge regression of the size model (`napari_deepcolor.predict.size_fit.fit_size_model`): its penalty and
its errors from cross-validation over images."""

from __future__ import annotations

import numpy as np

#: Ridge penalties tried by the cross-validation of `ridge_fit`.
ALPHAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def ridge_fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, scored: np.ndarray | None = None) -> dict:
    """Ridge regression of ``y (N,)`` on standardized ``x (N, F)``, the penalty chosen by 4-fold cross-validation over
    ``groups`` (images; never over views of one image). ``scored`` (N,) bool: the rows whose errors are reported
    (all by default; the penalty is chosen on all rows either way).

    Returns
    -------
    dict
        ``weights``, ``mean``, ``std`` (F,), ``bias``, ``alpha``, and the cross-validated median and 90th percentile
        of the relative error of ``exp(y)`` (``cv_error``, ``cv_error90``; NaN with fewer than two groups, where the
        middle penalty is used).
    """
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    folds = min(4, len(np.unique(groups)))
    scored = np.ones(len(y), bool) if scored is None else np.asarray(scored, bool)
    errors: dict[float, np.ndarray] = {}
    if folds >= 2:
        reported = np.concatenate([scored[groups % folds == k] for k in range(folds)])  # in the errors' order
        for alpha in ALPHAS:
            err = []
            for k in range(folds):
                held = groups % folds == k
                weights, bias = _solve(z[~held], y[~held], alpha)
                err.append(np.abs(np.exp(z[held] @ weights + bias - y[held]) - 1))
            errors[alpha] = np.concatenate(err)
    alpha = min(errors, key=lambda a: np.median(errors[a])) if errors else ALPHAS[len(ALPHAS) // 2]
    weights, bias = _solve(z, y, alpha)
    chosen = None if alpha not in errors else errors[alpha][reported]
    return {"weights": weights, "mean": mean, "std": std, "bias": bias, "alpha": alpha,
            "cv_error": float("nan") if chosen is None else float(np.median(chosen)),
            "cv_error90": float("nan") if chosen is None else float(np.quantile(chosen, 0.9))}


def _solve(z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    bias = float(y.mean())
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - bias))
    return weights, bias
