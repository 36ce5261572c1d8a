"""Progressive, bandit and consensus pruning, and finetuning with rewinding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import surrogate.prune as prune
from surrogate.bench.networks import random_mlp
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.finetune import (
    cross_entropy,
    finetune_with_rewinding,
    masked_sgd_step,
    to_module,
    torch_masks,
    train_masked,
)
from surrogate.prune.masks import Masks
from surrogate.prune.methods.bandit import POLICIES, NeuronArms, bandit_scores
from surrogate.prune.methods.consensus import consensus_prune, round_targets, top_k
from surrogate.prune.methods.magnitude import magnitude
from surrogate.prune.methods.progressive import (
    progressive_prune,
    schedule_sparsity,
    update_steps,
)
from surrogate.prune.methods.structured import structured
from surrogate.sets import Box


# ----------------------------------------------------------------------------------- fixtures
def _train(
    widths: list[int], seed: int, data: tuple[np.ndarray, np.ndarray], epochs: int
) -> Network:
    net = random_mlp(widths, seed)  # PyTorch's default initialisation
    dense = Masks.ones(net)
    return train_masked(net, data, dense, epochs=epochs, lr=0.1, momentum=0.9, seed=seed)


@pytest.fixture(scope="module")
def data(digits) -> tuple[np.ndarray, np.ndarray]:
    return digits.x_train, digits.y_train


@pytest.fixture(scope="module")
def net(data) -> Network:
    """A 64-32-32-10 MLP trained 3 epochs on digits."""
    return _train([64, 32, 32, 10], 0, data, epochs=3)


def _zeros_per_layer(network: Network) -> list[int]:
    return [int(np.sum(lay.weight == 0)) for lay in network.layers]


def _removed_neurons(network: Network) -> list[np.ndarray]:
    """Removed neurons of a network seen without its masks: zero row and zero bias."""
    return Masks.from_zeros(network).removed_neurons()


def _assert_neuron_sparsity(pruned: Network, original: Network, p: float) -> None:
    removed = _removed_neurons(pruned)
    for i, lay in enumerate(original.layers[:-1]):
        assert int(removed[i].sum()) == round(p * lay.n_out), f"hidden layer {i}"
        keep = ~removed[i]
        np.testing.assert_array_equal(pruned.layers[i].weight[keep], lay.weight[keep])
    np.testing.assert_array_equal(pruned.layers[-1].weight, original.layers[-1].weight)


def test_trained_fixture_learned_something(net, digits):
    assert np.mean(net.predict(digits.x_test) == digits.y_test) > 0.8


# ----------------------------------------------------------------------------------- progressive
def test_schedule_known_values():
    assert schedule_sparsity(50, 0, 100, 0.8) == pytest.approx(0.4)
    assert schedule_sparsity(50, 0, 100, 0.8, schedule="cubic") == pytest.approx(0.8 * 7 / 8)
    assert schedule_sparsity(-5, 0, 100, 0.8) == 0.0
    assert schedule_sparsity(100, 0, 100, 0.8, schedule="cubic") == 0.8
    assert schedule_sparsity(25, 0, 100, 0.8, initial=0.4) == pytest.approx(0.5)
    assert update_steps(10, 35, 10) == [10, 20, 30, 35]


@pytest.mark.parametrize("schedule", ["linear", "cubic"])
def test_progressive_exact_sparsity_and_monotone_masks(net, data, schedule):
    p = 0.8
    result, hist = progressive_prune(
        net, p, data, epochs=2, schedule=schedule, mask_every=5, return_history=True
    )
    pruned = result.network
    assert _zeros_per_layer(pruned) == [round(p * lay.weight.size) for lay in net.layers]
    # schedule rises to p, the masks only shrink, and the final mask is the zero pattern
    assert hist.sparsity == sorted(hist.sparsity) and hist.sparsity[-1] == p
    assert len(hist.steps) > 3
    for before, after in zip(hist.masks, hist.masks[1:], strict=False):
        for b, a in zip(before, after, strict=True):
            assert not np.any(a & ~b), "a pruned weight came back"
    for mask, lay, final in zip(hist.masks[-1], pruned.layers, result.masks.weight, strict=True):
        np.testing.assert_array_equal(mask, lay.weight != 0)
        np.testing.assert_array_equal(mask, final)
    # it trained: the surviving weights moved away from the given network
    kept = hist.masks[-1][0]
    assert not np.allclose(pruned.layers[0].weight[kept], net.layers[0].weight[kept])


def test_progressive_through_apply_is_deterministic(net, data):
    a = prune.apply(net, "progressive", 0.5, data=data, epochs=1, seed=3)
    b = prune.apply(net, "progressive", 0.5, data=data, epochs=1, seed=3)
    c = prune.apply(net, "progressive", 0.5, data=data, epochs=1, seed=4)
    for la, lb in zip(a.network.layers, b.network.layers, strict=True):
        assert la.weight.tobytes() == lb.weight.tobytes()
    assert a.network.layers[0].weight.tobytes() != c.network.layers[0].weight.tobytes()
    assert a.report.layer_sparsity == pytest.approx(
        [round(0.5 * lay.weight.size) / lay.weight.size for lay in net.layers]
    )


def test_masked_step_keeps_pruned_gradients_and_weights_zero(net, data):
    x, y = torch.from_numpy(data[0][:64]), torch.from_numpy(data[1][:64])
    model, linears = to_module(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    full = torch_masks(Masks.ones(net))
    masked_sgd_step(model, linears, opt, full, x, y)  # builds momentum on every entry
    rng = np.random.default_rng(0)
    wm = [rng.random(lay.weight.shape) < 0.5 for lay in net.layers]
    bm = [np.ones(lay.n_out, dtype=bool) for lay in net.layers]
    half = torch_masks(Masks(tuple(wm), tuple(bm)))
    with torch.no_grad():
        for lin, (m, _) in zip(linears, half, strict=True):
            lin.weight.mul_(m)
    for _ in range(3):
        masked_sgd_step(model, linears, opt, half, x, y)
        for lin, m in zip(linears, wm, strict=True):
            grad = lin.weight.grad.numpy()
            assert np.all(grad[~m] == 0.0)
            assert np.any(grad[m] != 0.0)
            assert np.all(lin.weight.detach().numpy()[~m] == 0.0)  # momentum did not revive them


def test_progressive_errors(net, data):
    with pytest.raises(
        InputError, match=r"method 'progressive' needs training data: pass data=\(x, y\)"
    ):
        prune.apply(net, "progressive", 0.5)
    with pytest.raises(
        InputError, match=r"schedule must be one of \('linear', 'cubic'\), got 'exp'"
    ):
        progressive_prune(net, 0.5, data, schedule="exp")
    with pytest.raises(InputError, match="need 0 <= start_frac < end_frac <= 1"):
        progressive_prune(net, 0.5, data, start_frac=0.5, end_frac=0.5)
    with pytest.raises(
        InputError, match="pruning method 'progressive' does not take option.*lrate"
    ):
        prune.apply(net, "progressive", 0.5, data=data, lrate=0.1)
    with pytest.raises(InputError, match=r"x has shape \(5, 3\)"):
        progressive_prune(net, 0.5, (np.zeros((5, 3)), np.zeros(5, dtype=int)))
    with pytest.raises(InputError, match=r"labels range over \[0, 12\] but the network has 10"):
        progressive_prune(net, 0.5, (data[0][:3], np.array([0, 1, 12])))


# ----------------------------------------------------------------------------------- bandit
def test_pull_restores_network_bitwise_and_measures_loss_change(net, data):
    x, y = data
    arms = NeuronArms(net, x, y)
    before = [(w.tobytes(), b.tobytes()) for w, b in zip(arms.weights, arms.biases, strict=True)]
    batch = np.arange(0, 200, 3)
    for layer in (0, 1):
        for neuron in (0, 5, 31):
            dl = arms.pull(layer, neuron, batch)
            w = [np.array(lay.weight) for lay in net.layers]
            b = [np.array(lay.bias) for lay in net.layers]
            w[layer][neuron] = 0.0
            b[layer][neuron] = 0.0
            masked = net.with_layers(
                [
                    lay.replace(weight=wi, bias=bi)
                    for lay, wi, bi in zip(net.layers, w, b, strict=True)
                ]
            )
            expected = (
                cross_entropy(masked.forward(x[batch]), y[batch]).mean()
                - cross_entropy(net.forward(x[batch]), y[batch]).mean()
            )
            assert dl == pytest.approx(expected, abs=1e-12)
    after = [(w.tobytes(), b.tobytes()) for w, b in zip(arms.weights, arms.biases, strict=True)]
    assert after == before
    for lay, work in zip(net.layers, arms.working_network().layers, strict=True):
        assert lay.weight.tobytes() == work.weight.tobytes()


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_runs_reproducibly(net, data, policy):
    a = bandit_scores(net, data, policy=policy, pulls=3, seed=1)
    b = bandit_scores(net, data, policy=policy, pulls=3, seed=1)
    c = bandit_scores(net, data, policy=policy, pulls=3, seed=2)
    assert len(a) == 2
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.estimate, sb.estimate)
        np.testing.assert_array_equal(sa.pulls, sb.pulls)
        assert sa.pulls.sum() == 3 * 32 and sa.pulls.min() >= 1
    assert any(
        not np.array_equal(sa.mean_dloss, sc.mean_dloss) for sa, sc in zip(a, c, strict=True)
    )


def test_bandit_reaches_target_per_hidden_layer(net, data):
    res = prune.apply(net, "bandit", 0.4, data=data, policy="thompson", pulls=2)
    _assert_neuron_sparsity(res.network, net, 0.4)
    assert res.report.neurons_removed[:2] == [round(0.4 * 32)] * 2


def test_ucb1_removes_the_useless_neuron_first(data):
    net = _train([64, 8, 10], 1, data, epochs=4)
    useless = 7
    w = np.array(net.layers[1].weight)
    w[:, useless] = 0.0  # its output reaches nothing
    net = net.with_layers([net.layers[0], net.layers[1].replace(weight=w)])
    arms = NeuronArms(net, *data)
    full = np.arange(len(data[1]))
    harm = np.array([arms.pull(0, j, full) for j in range(8)])
    assert harm[useless] == 0.0
    assert np.all(np.delete(harm, useless) > 0.1), "precondition: every other neuron matters"
    scores = bandit_scores(net, data, policy="ucb1", pulls=10, seed=0)[0]
    assert scores.removal_order()[0] == useless
    assert scores.pulls[useless] == scores.pulls.max() > 10  # UCB1 spends its budget there
    pruned = prune.apply(net, "bandit", 1 / 8, data=data, policy="ucb1", pulls=10).network
    assert np.flatnonzero(_removed_neurons(pruned)[0]).tolist() == [useless]


def test_bandit_errors(net, data):
    with pytest.raises(
        InputError, match=r"method 'bandit' needs training data: pass data=\(x, y\)"
    ):
        prune.apply(net, "bandit", 0.5)
    with pytest.raises(InputError, match="policy must be one of epsilon-greedy, .*; got 'greedy'"):
        bandit_scores(net, data, policy="greedy")
    with pytest.raises(InputError, match="pulls must be >= 1, got 0"):
        bandit_scores(net, data, pulls=0)
    with pytest.raises(InputError, match=r"layer 0 has 32 neurons, got neuron 32"):
        NeuronArms(net, *data).pull(0, 32, np.arange(4))
    with pytest.raises(InputError, match="layer must be a hidden layer in \\[0, 2\\), got 2"):
        NeuronArms(net, *data).pull(2, 0, np.arange(4))


# ----------------------------------------------------------------------------------- consensus
def test_round_targets_and_top_k_ties():
    assert round_targets(0.35, 0.1) == pytest.approx([0.1, 0.2, 0.3, 0.35])
    assert round_targets(0.3, 0.1) == pytest.approx([0.1, 0.2, 0.3])
    assert round_targets(0.0, 0.1) == []
    votes = np.array([1.0, 0.5, 0.5, 0.0, 0.5])
    imp = np.array([0.1, 2.0, 5.0, 9.0, 5.0])
    eligible = np.ones(5, dtype=bool)
    # the highest threshold keeping >= 3 is 0.5; its ties go to the larger summed importance,
    # then to the lower index
    assert np.flatnonzero(top_k((votes, imp), eligible, 3)).tolist() == [0, 2, 4]
    assert np.flatnonzero(top_k((votes, imp), eligible, 2)).tolist() == [0, 2]
    eligible[2] = False
    assert np.flatnonzero(top_k((votes, imp), eligible, 2)).tolist() == [0, 4]


def test_consensus_votes_and_exact_target(net, data):
    p = 0.45
    result, hist = consensus_prune(net, p, data, workers=3, parallel=False, return_votes=True)
    pruned = result.network
    _assert_neuron_sparsity(pruned, net, p)
    assert hist.sparsity == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.45])
    widths = [lay.n_out for lay in net.layers[:-1]]
    for s, votes, masks in zip(hist.sparsity, hist.votes, hist.masks, strict=True):
        for v, m, w in zip(votes, masks, widths, strict=True):
            assert np.all((v >= 0) & (v <= 1))
            np.testing.assert_allclose(v * 3, np.round(v * 3))  # a mean of 3 binary masks
            keep = w - round(s * w)
            assert v.sum() == pytest.approx(keep)  # each worker kept exactly `keep`
            assert int(m.sum()) == keep
            assert np.all(v[m] >= v[~m].max(initial=0.0))  # consensus = the top votes
    for before, after in zip(hist.masks, hist.masks[1:], strict=False):
        for b, a in zip(before, after, strict=True):
            assert not np.any(a & ~b)
    finals = result.masks.removed_neurons()[:-1]
    for mask, removed, final in zip(
        hist.masks[-1], _removed_neurons(pruned)[:-1], finals, strict=True
    ):
        np.testing.assert_array_equal(mask, ~removed)
        np.testing.assert_array_equal(mask, ~final)


def test_consensus_parallel_equals_in_process(net, data):
    par, hp = consensus_prune(net, 0.3, data, workers=2, parallel=True, return_votes=True)
    seq, hs = consensus_prune(net, 0.3, data, workers=2, parallel=False, return_votes=True)
    for a, b in zip(par.network.layers, seq.network.layers, strict=True):
        assert a.weight.tobytes() == b.weight.tobytes() and a.bias.tobytes() == b.bias.tobytes()
    for va, vb in zip(hp.votes, hs.votes, strict=True):
        for a, b in zip(va, vb, strict=True):
            np.testing.assert_array_equal(a, b)
    assert any(np.any((v > 0) & (v < 1)) for r in hp.votes for v in r), (
        "the workers never disagreed"
    )


def test_consensus_single_worker_single_round_is_l2_importance(net, data):
    x = data[0]
    pruned = consensus_prune(net, 0.5, data, workers=1, step=0.9).network
    h = x
    for i, lay in enumerate(net.layers[:-1]):
        h = np.maximum(h @ lay.weight.T + lay.bias, 0.0)
        imp = np.linalg.norm(lay.weight, axis=1) * np.linalg.norm(h, axis=0)
        expected = np.sort(np.argsort(imp, kind="stable")[: lay.n_out // 2])
        assert np.flatnonzero(_removed_neurons(pruned)[i]).tolist() == expected.tolist()


def test_consensus_errors(net, data):
    with pytest.raises(InputError, match=r"method 'consensus' needs training data"):
        prune.apply(net, "consensus", 0.5)
    with pytest.raises(InputError, match="workers=4 exceeds the 3 samples"):
        consensus_prune(net, 0.5, (data[0][:3], data[1][:3]), workers=4)
    with pytest.raises(InputError, match="workers must be >= 1, got 0"):
        consensus_prune(net, 0.5, data, workers=0)


# ----------------------------------------------------------------------------------- finetune
def test_finetune_without_training_is_one_shot_magnitude(net, data):
    # zero epochs: each round prunes the rewound dense net, so the result is plain magnitude
    got = finetune_with_rewinding(
        net, magnitude, 0.7, data, rounds=3, epochs_per_round=0, final_epochs=0
    ).network
    want = prune.apply(net, "magnitude", 0.7).network
    for a, b in zip(got.layers, want.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_finetune_rewinds_survivors_to_dense_weights(net, data):
    got = finetune_with_rewinding(
        net, magnitude, 0.6, data, rounds=2, epochs_per_round=1, final_epochs=0
    ).network
    assert _zeros_per_layer(got) == [round(0.6 * lay.weight.size) for lay in net.layers]
    for a, d in zip(got.layers, net.layers, strict=True):
        keep = a.weight != 0
        np.testing.assert_array_equal(a.weight[keep], d.weight[keep])
        np.testing.assert_array_equal(a.bias, d.bias)


@pytest.mark.parametrize("method", [magnitude, structured])
def test_finetune_keeps_mask_and_target(net, data, method):
    kw = {"rounds": 2, "epochs_per_round": 1}
    first = finetune_with_rewinding(net, method, 0.5, data, final_epochs=0, **kw)
    second = finetune_with_rewinding(net, method, 0.5, data, final_epochs=2, **kw)
    before, after = first.network, second.network
    for a, b, m in zip(before.layers, after.layers, second.masks.weight, strict=True):
        np.testing.assert_array_equal(a.weight != 0, b.weight != 0)
        np.testing.assert_array_equal(b.weight != 0, m)
    assert not np.array_equal(before.layers[0].weight, after.layers[0].weight)
    if method is magnitude:
        assert _zeros_per_layer(after) == [round(0.5 * lay.weight.size) for lay in net.layers]
    else:
        removed = _removed_neurons(after)
        assert [int(r.sum()) for r in removed[:-1]] == [16, 16]


def test_apply_with_finetune(net, data):
    res = prune.apply(
        net,
        "structured",
        0.25,
        data=data,
        finetune=True,
        finetune_options={"rounds": 2, "epochs_per_round": 1, "final_epochs": 1},
    )
    assert res.report.neurons_removed == [8, 8, 0]
    assert res.report.accuracy_after is not None and res.report.accuracy_after > 0.5
    with pytest.raises(InputError, match=r"finetune=True needs training data: pass data=\(x, y\)"):
        prune.apply(net, "magnitude", 0.5, finetune=True)
    with pytest.raises(InputError, match=r"finetuning does not take option\(s\) epochs;"):
        prune.apply(net, "magnitude", 0.5, data=data, finetune=True, finetune_options={"epochs": 1})


def test_registered_with_sources():
    docs = prune.available()
    assert "2606.12278" in docs["progressive"]
    assert "2606.07615" in docs["bandit"]
    assert "2312.03889" in docs["consensus"]


# ----------------------------------------------------------------------------- masks as data
_OPTIONS: dict[str, dict[str, object]] = {
    "progressive": {"epochs": 1},
    "bandit": {"pulls": 1},
    "consensus": {"workers": 2, "parallel": False},
    "exact": {"input_set": Box(np.zeros(64), np.ones(64)), "bounds": "interval"},
}
_TRAINS = {"progressive"}


@pytest.mark.parametrize("method", sorted(prune.available()))
def test_every_method_returns_masks_consistent_with_its_weights(net, data, method):
    p = 0.0 if method == "exact" else 0.4
    res = prune.apply(net, method, p, data=data, **_OPTIONS.get(method, {}))
    masks = res.masks
    assert masks.shapes == [lay.weight.shape for lay in res.network.layers]
    for lay, wm, bm in zip(res.network.layers, masks.weight, masks.bias, strict=True):
        assert wm.dtype == bool and bm.shape == (lay.n_out,)
        assert np.all(lay.weight[~wm] == 0.0) and np.all(lay.bias[~bm] == 0.0)
    assert res.report.sparsity == masks.sparsity
    assert res.report.layer_sparsity == masks.layer_sparsity()
    assert res.report.neurons_removed == masks.removed_counts()
    if method not in _TRAINS and method != "exact":
        for before, after, wm, bm in zip(net.layers, res.network.layers, masks.weight,
                                         masks.bias, strict=True):
            np.testing.assert_array_equal(after.weight[wm], before.weight[wm])
            np.testing.assert_array_equal(after.bias[bm], before.bias[bm])
    if method != "exact":
        assert masks.sparsity > 0.1


def test_finetune_reports_masks_and_trains_weights_that_are_zero(net, data):
    # a weight that is exactly 0 in the dense network is not pruned: training moves it
    w = np.array(net.layers[0].weight)
    w[:, :8] = 0.0  # the first 8 inputs' weights, zero by value
    zeroed = net.with_layers([net.layers[0].replace(weight=w), *net.layers[1:]])
    trained = train_masked(zeroed, data, Masks.ones(zeroed), epochs=1, seed=0)
    assert np.count_nonzero(trained.layers[0].weight[:, :8]) > 0
    res = prune.apply(zeroed, "magnitude", 0.3, data=data, finetune=True,
                      finetune_options={"rounds": 2, "epochs_per_round": 1, "final_epochs": 1})
    assert res.masks.pruned_weights() == [round(0.3 * lay.weight.size) for lay in net.layers]
    assert res.report.sparsity == res.masks.sparsity
    for lay, wm in zip(res.network.layers, res.masks.weight, strict=True):
        assert np.all(lay.weight[~wm] == 0.0)


def test_prune_modules_import_no_cycle():
    """Imports inside surrogate.prune (function-level ones included) form no cycle: finetune does
    not import the registry, the registry hands it the pruning step. (The registry loads the
    methods package, whose ``__init__`` imports its modules by name: not an edge here.)"""
    import ast
    from pathlib import Path

    root = Path(prune.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("surrogate.prune"):
                deps.add(node.module or "")
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("surrogate.prune")}
        graph[name] = deps
    assert "surrogate.prune.registry" not in graph["surrogate.prune.finetune"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for dep in graph.get(start, ()):
            if dep == goal or (dep not in seen and (seen.add(dep) or reaches(dep, goal, seen))):
                return True
        return False

    cycles = [m for m in graph if m != "surrogate.prune" and reaches(m, m, set())]
    assert cycles == []
