"""Whole models as (init, forward, backward, loss) functions over flat parameter dicts keyed
"<layer>.<name>" ("lstm1.Wx", "softmax.theta"): one optimiser call updates every parameter,
and the Hebbian rule finds θ at params["softmax.theta"].
"""


def sub(params, prefix):
    """The parameters of one layer, without the prefix: sub({"mlp.W1": W}, "mlp") == {"W1": W}."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def prefixed(prefix, grads):
    """The inverse of sub: prefixed("mlp", {"W1": dW}) == {"mlp.W1": dW}."""
    return {f"{prefix}.{k}": v for k, v in grads.items()}

