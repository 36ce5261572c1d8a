"""Structured neuron pruning as a multi-armed bandit (Ameen & Vadera, arXiv 2606.07615).

Every hidden neuron is an arm; each hidden layer is its own bandit (neurons are ranked within
their layer), with a budget of ``pulls * width`` pulls. A *pull* of neuron ``j`` of layer ``l``
samples a mini-batch ``B``, masks the neuron (zero incoming row and bias), measures the loss
change ``dL = L_B(masked) - L_B(net)`` (mean cross-entropy), and restores the neuron. The
observed reward of a pull is

* ``r = sigmoid(-dL / scale)`` in ``(0, 1)`` (1/2 when removal changes nothing; ``scale``
  defaults to the network's mean loss on the data), and
* for Thompson sampling the Bernoulli outcome ``1[dL <= tau]`` (removal is "safe").

Each arm is pulled once (in a seeded random order), then the policy picks the arms:

* ``epsilon-greedy``: a uniform arm with probability ``epsilon``, else the best mean reward;
* ``softmax`` (Boltzmann): ``P(i) ~ exp(mean_i / temperature)``;
* ``ucb1``: ``argmax mean_i + c sqrt(2 ln t / n_i)`` (Auer et al. 2002);
* ``thompson``: ``argmax theta_i``, ``theta_i ~ Beta(1 + successes_i, 1 + failures_i)``;
* ``hedge``: ``P(i) ~ exp(eta * R_i)`` with ``R_i`` the summed observed reward of arm ``i``
  (exponential weights fed with bandit feedback, no importance weighting);
* ``exp3`` (Auer et al. 2002): ``P = (1 - eta) w / sum(w) + eta / K``,
  ``w_i <- w_i exp(eta r_i / (P_i K))`` for the pulled arm.

After the budget the estimated reward of an arm is its mean reward (epsilon-greedy, softmax,
ucb1), its posterior mean ``(1 + s_i) / (2 + n_i)`` (thompson) or its final selection probability
(hedge, exp3); ties are broken by the lower mean ``dL``, then by index. Each hidden layer loses its
``round(p * width)`` arms of highest estimated reward (row and bias masked; at most ``width - 1``,
so a layer keeps one neuron). The output layer is never pruned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.prune.checks import (
    check_float,
    check_int,
    check_options,
    check_sparsity,
    require_data,
)
from surrogate.prune.finetune import cross_entropy, one_blas_thread
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register
from surrogate.prune.schedule import removable_neurons

__all__ = ["POLICIES", "ArmScores", "NeuronArms", "bandit_prune", "bandit_scores"]

POLICIES = ("epsilon-greedy", "softmax", "ucb1", "thompson", "hedge", "exp3")
OPTIONS = (
    "policy",
    "pulls",
    "batch_size",
    "tau",
    "c",
    "epsilon",
    "temperature",
    "eta",
    "scale",
    "seed",
)


def _activate(z: np.ndarray, layer: DenseLayer) -> np.ndarray:
    return np.maximum(z, 0.0) if layer.activation == "relu" else z


class NeuronArms:
    """The hidden neurons of ``network`` as arms, evaluated on ``(x, y)``.

    Holds writable working copies of the weights; :meth:`pull` zeroes one neuron's row and bias,
    evaluates the batch loss from that layer on (the inputs of the layer are cached for all of
    ``x``), and writes the saved row and bias back, so the working copies end bitwise unchanged.
    """

    def __init__(self, network: Network, x: np.ndarray, y: np.ndarray) -> None:
        self.network = network
        self.x, self.y = x, y
        self.weights = [np.array(layer.weight) for layer in network.layers]
        self.biases = [np.array(layer.bias) for layer in network.layers]
        self.inputs = [x]  # inputs[l]: input of layer l on every sample
        for layer in network.layers[:-1]:
            self.inputs.append(_activate(self.inputs[-1] @ layer.weight.T + layer.bias, layer))

    @property
    def hidden_widths(self) -> list[int]:
        return [layer.n_out for layer in self.network.layers[:-1]]

    def loss_from(self, layer: int, batch: np.ndarray) -> float:
        """Mean cross-entropy on ``batch`` with the current working weights from ``layer`` on."""
        h = self.inputs[layer][batch]
        for i in range(layer, len(self.weights)):
            h = _activate(h @ self.weights[i].T + self.biases[i], self.network.layers[i])
        return float(cross_entropy(h, self.y[batch]).mean())

    def pull(self, layer: int, neuron: int, batch: np.ndarray) -> float:
        """``dL``: loss on ``batch`` with neuron ``neuron`` of ``layer`` masked, minus without."""
        if not 0 <= layer < len(self.weights) - 1:
            raise InputError(
                f"layer must be a hidden layer in [0, {len(self.weights) - 1}), got {layer}"
            )
        if not 0 <= neuron < self.weights[layer].shape[0]:
            raise InputError(
                f"layer {layer} has {self.weights[layer].shape[0]} neurons, got neuron {neuron}"
            )
        base = self.loss_from(layer, batch)
        row = self.weights[layer][neuron].copy()
        bias = self.biases[layer][neuron].copy()
        self.weights[layer][neuron] = 0.0
        self.biases[layer][neuron] = 0.0
        try:
            masked = self.loss_from(layer, batch)
        finally:
            self.weights[layer][neuron] = row
            self.biases[layer][neuron] = bias
        return masked - base

    def working_network(self) -> Network:
        """The network made of the working copies (equal to ``network`` between pulls)."""
        layers = [
            DenseLayer(w, b, old.activation)
            for w, b, old in zip(self.weights, self.biases, self.network.layers, strict=True)
        ]
        return self.network.with_layers(layers)


@dataclass(frozen=True)
class ArmScores:
    """One hidden layer's bandit after its budget: per-arm statistics and the ranking estimate."""

    estimate: np.ndarray
    pulls: np.ndarray
    mean_reward: np.ndarray
    mean_dloss: np.ndarray
    successes: np.ndarray

    def removal_order(self) -> np.ndarray:
        """Arms from the most to the least removable (estimate desc, mean dL asc, index asc)."""
        idx = np.arange(self.estimate.size)
        return np.lexsort((idx, self.mean_dloss, -self.estimate))


@dataclass
class _Params:
    policy: str
    c: float
    epsilon: float
    temperature: float
    eta: float
    tau: float
    scale: float


class _LayerBandit:
    """Statistics of one layer's arms and the six selection policies."""

    def __init__(self, k: int, p: _Params, rng: np.random.Generator) -> None:
        self.k, self.p, self.rng = k, p, rng
        self.n = np.zeros(k, dtype=np.int64)
        self.reward = np.zeros(k)
        self.dloss = np.zeros(k)
        self.success = np.zeros(k, dtype=np.int64)
        self.log_w = np.zeros(k)  # exp3 log-weights
        self.last_p = np.full(k, 1.0 / k)

    # ------------------------------------------------------------------ policies
    def mean(self) -> np.ndarray:
        return self.reward / np.maximum(self.n, 1)

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def exp3_probs(self) -> np.ndarray:
        return (1.0 - self.p.eta) * self._probs(self.log_w) + self.p.eta / self.k

    def select(self) -> int:
        policy, p, rng = self.p.policy, self.p, self.rng
        if policy == "epsilon-greedy":
            if rng.random() < p.epsilon:
                return int(rng.integers(self.k))
            return int(np.argmax(self.mean()))
        if policy == "ucb1":
            t = self.n.sum()
            return int(np.argmax(self.mean() + p.c * np.sqrt(2.0 * np.log(t) / self.n)))
        if policy == "thompson":
            theta = rng.beta(1.0 + self.success, 1.0 + self.n - self.success)
            return int(np.argmax(theta))
        if policy == "softmax":
            probs = self._probs(self.mean() / p.temperature)
        elif policy == "hedge":
            probs = self._probs(p.eta * self.reward)
        else:  # exp3
            probs = self.exp3_probs()
        self.last_p = probs
        return int(rng.choice(self.k, p=probs))

    def update(self, arm: int, dloss: float) -> None:
        r = 1.0 / (1.0 + np.exp(dloss / self.p.scale))
        if self.p.policy == "exp3":
            self.log_w[arm] += self.p.eta * r / (self.last_p[arm] * self.k)
        self.n[arm] += 1
        self.reward[arm] += r
        self.dloss[arm] += dloss
        self.success[arm] += int(dloss <= self.p.tau)

    def scores(self) -> ArmScores:
        policy = self.p.policy
        if policy == "thompson":
            estimate = (1.0 + self.success) / (2.0 + self.n)
        elif policy == "hedge":
            estimate = self._probs(self.p.eta * self.reward)
        elif policy == "exp3":
            estimate = self.exp3_probs()
        else:
            estimate = self.mean()
        return ArmScores(
            estimate=estimate,
            pulls=self.n.copy(),
            mean_reward=self.mean(),
            mean_dloss=self.dloss / np.maximum(self.n, 1),
            successes=self.success.copy(),
        )


def _params(
    policy: object, c: float, epsilon: float, temperature: float, eta: float, tau: float
) -> _Params:
    if policy not in POLICIES:
        raise InputError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
    return _Params(
        policy=str(policy),
        c=check_float("c", c, 0.0),
        epsilon=check_float("epsilon", epsilon, 0.0, 1.0),
        temperature=check_float("temperature", temperature, 1e-12),
        eta=check_float("eta", eta, 1e-12, 1.0 if policy == "exp3" else np.inf),
        tau=check_float("tau", tau, -np.inf),
        scale=1.0,
    )


def run_layer_bandit(
    arms: NeuronArms,
    layer: int,
    budget: int,
    batch_size: int,
    params: _Params,
    rng: np.random.Generator,
    pull: Callable[[int, int, np.ndarray], float] | None = None,
) -> ArmScores:
    """Spend ``budget`` pulls on the neurons of hidden ``layer`` (each arm once first)."""
    pull = arms.pull if pull is None else pull
    k = arms.hidden_widths[layer]
    bandit = _LayerBandit(k, params, rng)
    n = len(arms.y)
    size = min(batch_size, n)
    first = list(rng.permutation(k))
    for t in range(max(budget, k)):
        arm = int(first[t]) if t < k else bandit.select()
        batch = rng.choice(n, size=size, replace=False)
        bandit.update(arm, pull(layer, arm, batch))
    return bandit.scores()


def bandit_scores(
    network: Network,
    data: tuple[np.ndarray, np.ndarray] | None,
    *,
    policy: str = "ucb1",
    pulls: int = 20,
    batch_size: int = 64,
    tau: float = 0.0,
    c: float = 1.0,
    epsilon: float = 0.1,
    temperature: float = 0.05,
    eta: float = 0.1,
    scale: float | None = None,
    seed: int = 0,
) -> list[ArmScores]:
    """Run one bandit per hidden layer (``pulls`` per arm on average); per-layer :class:`ArmScores`.

    See the module docstring for rewards, policies and estimates. Deterministic for ``seed``.
    """
    x, y = require_data("bandit", data, network)
    if len(network.layers) < 2:
        raise InputError("the bandit prunes hidden neurons; this network has no hidden layer")
    pulls = check_int("pulls", pulls, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    params = _params(policy, c, epsilon, temperature, eta, tau)
    if scale is None:
        scale = max(float(cross_entropy(network.forward(x), y).mean()), 1e-12)
    params.scale = check_float("scale", scale, 1e-12)
    rng = np.random.default_rng(seed)
    with one_blas_thread():
        arms = NeuronArms(network, x, y)
        return [
            run_layer_bandit(arms, layer, pulls * k, batch_size, params, rng)
            for layer, k in enumerate(arms.hidden_widths)
        ]


def bandit_prune(
    network: Network,
    sparsity: float,
    data: tuple[np.ndarray, np.ndarray] | None,
    masks: Masks | None = None,
    **options: object,
) -> MaskedNetwork:
    """Remove ``round(sparsity * width)`` neurons per hidden layer, highest estimated reward first.

    Neurons removed by ``masks`` count and stay removed (the bandit runs on the network they
    prune). ``options`` are those of :func:`bandit_scores`.
    """
    sparsity = check_sparsity(sparsity)
    check_options("pruning method 'bandit'", options, OPTIONS)
    start = apply_masks(network, masks)
    scores = bandit_scores(start.network, data, **options)  # type: ignore[arg-type]
    removed = start.masks.removed_neurons()
    drops = []
    for i, sc in enumerate(scores):
        width = network.layers[i].n_out
        # at most width - 1: a hidden layer keeps one neuron (as the other neuron methods)
        more = removable_neurons(int(round(sparsity * width)), width) - int(removed[i].sum())
        order = sc.removal_order()
        drops.append(order[~removed[i][order]][: max(more, 0)])
    return MaskedNetwork(network, start.masks & Masks.without_neurons(network, drops))


@register(
    "bandit",
    "structured neuron pruning, neurons as bandit arms (ucb1, thompson, exp3, ...), needs data "
    "(Ameen & Vadera, arXiv 2606.07615)",
)
def bandit(
    network: Network,
    sparsity: float,
    *,
    data: object = None,
    masks: Masks | None = None,
    **options: object,
) -> MaskedNetwork:
    """Registry entry of :func:`bandit_prune` (options: see :func:`bandit_scores`)."""
    return bandit_prune(network, sparsity, data, masks, **options)  # type: ignore[arg-type]
