"""Linear probes of frozen features: how much of each property a multinomial logistic regression reads off them.

The encoder stage fits one probe per property on the pooled features of its training sequences and scores it on
each held-out set (held-out objects, held-out sensor), for the tower before and after the stage. A tiny torch
solver (full-batch L-BFGS on standardised features with an L2 penalty) replaces scikit-learn, which the project
does not depend on.
"""

from __future__ import annotations

import torch


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float = 1e-2, iterations: int = 100):
    """Fit a multinomial logistic regression; returns ``predict(features) -> classes``.

    Features are standardised with the training mean and std; the fit is deterministic.

    Args:
        x: ``(rows, dim)`` training features.
        y: ``(rows,)`` integer classes in ``0..num_classes-1``.
        num_classes: Number of classes.
        l2: L2 penalty on the weights (mean cross-entropy + ``l2 * |W|^2``).
        iterations: L-BFGS iterations.

    >>> x = torch.tensor([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    >>> predict = fit_logistic(x, torch.tensor([0, 0, 1, 1, 2, 2]), 3, l2=1e-4)
    >>> predict(torch.tensor([[0.05], [1.05], [2.05]])).tolist()
    [0, 1, 2]
    """
    x = x.double()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp(min=1e-6)
    z = (x - mean) / std
    w = torch.zeros(z.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ w + b, y.long()) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()
    return lambda feats: (((feats.double() - mean) / std) @ w + b).argmax(1)


def probe_accuracy(train: tuple, held_out: dict, num_classes: int, l2: float, iterations: int) -> dict[str, float]:
    """Accuracy of one property's probe on each held-out set.

    Args:
        train: ``(features, classes)`` of the training rows.
        held_out: Set name -> ``(features, classes)``.
        num_classes: Number of levels.
        l2, iterations: See :func:`fit_logistic`.

    Returns:
        Set name -> accuracy in [0, 1] (sets without rows are left out).
    """
    predict = fit_logistic(*train, num_classes, l2=l2, iterations=iterations)
    return {name: float((predict(x) == y).double().mean()) for name, (x, y) in held_out.items() if len(y)}


def majority_accuracy(train_y: torch.Tensor, held_out: dict) -> dict[str, float]:
    """Accuracy of always answering the most frequent training class (the floor a probe must beat).

    >>> majority_accuracy(torch.tensor([1, 1, 0]), {"a": (None, torch.tensor([1, 0]))})
    {'a': 0.5}
    """
    top = int(torch.mode(train_y).values)
    return {name: float((y == top).double().mean()) for name, (_, y) in held_out.items() if len(y)}
