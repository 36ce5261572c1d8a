"""Magnitude, structured and random pruning; the round schedule; ``surrogate prune`` end to end."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from factories import random_net

from surrogate.cli import main
from surrogate.errors import InputError
from surrogate.network.onnx_io import read_onnx, write_onnx
from surrogate.network.spec import DenseLayer, Network
from surrogate.prune import MaskedNetwork, Masks, apply, apply_masks, check_sparsity
from surrogate.prune.methods.magnitude import magnitude, magnitude_global
from surrogate.prune.methods.random_baselines import random_structured, random_unstructured
from surrogate.prune.methods.structured import structured
from surrogate.prune.schedule import (
    cumulative_counts,
    round_fractions,
    smallest_k,
    unstructured_masks,
)
from surrogate.sets import Box
from surrogate.zoo import MODELS_DIR, load_model

SPARSITIES = (0.3, 0.5, 0.8, 0.9, 0.95)


def _net(widths: list[int], seed: int = 0) -> Network:
    """Weights and biases N(0, 1): layers of one scale, so per-layer and global pruning agree."""
    return random_net(widths, seed, weight_scale=1.0, bias_scale=1.0, name="toy")


@pytest.fixture
def net() -> Network:
    return _net([10, 13, 9, 4])


def _zeros(layer: DenseLayer) -> int:
    return int(np.sum(layer.weight == 0))


# ------------------------------------------------------------------------ magnitude, per layer
@pytest.mark.parametrize("p", SPARSITIES)
def test_magnitude_per_layer_exact_count_and_smallest_first(net: Network, p: float) -> None:
    pruned = magnitude(net, p).network
    for before, after in zip(net.layers, pruned.layers, strict=True):
        assert _zeros(after) == round(p * before.weight.size)
        cut = after.weight == 0
        assert np.abs(before.weight[cut]).max() <= np.abs(before.weight[~cut]).min()
        np.testing.assert_array_equal(after.weight[~cut], before.weight[~cut])
        np.testing.assert_array_equal(after.bias, before.bias)


def test_magnitude_ties_go_to_the_lower_index() -> None:
    layer = DenseLayer(np.array([[2.0, 1.0, -1.0, 1.0], [1.0, 3.0, -1.0, 2.0]]), np.zeros(2))
    pruned = magnitude(Network((layer,)), 0.5).network
    # |w| = 1 at flat indices 1, 2, 3, 4, 6: the four lowest indices go
    np.testing.assert_array_equal(
        pruned.layers[0].weight, [[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, -1.0, 2.0]]
    )


def test_zero_weights_score_lowest_but_only_masks_count() -> None:
    w = np.arange(1.0, 11.0).reshape(2, 5)
    w[0, 4] = w[1, 4] = w[1, 3] = 0.0  # 3 zeros of 10
    half = magnitude(Network((DenseLayer(w, np.zeros(2)),)), 0.5)
    expected = w.copy()
    expected[0, 0] = expected[0, 1] = 0.0  # |w| = 0 goes first, then 1 and 2
    np.testing.assert_array_equal(half.network.layers[0].weight, expected)
    np.testing.assert_array_equal(half.masks.weight[0], expected != 0)
    # fewer masks than zeros: two of the zeros are masked (lower index first), one stays a
    # plain zero; none is revived, none is added, and only the two masked ones are pruned
    fifth = magnitude(Network((DenseLayer(w, np.zeros(2)),)), 0.2)
    assert _zeros(fifth.network.layers[0]) == 3
    assert fifth.masks.pruned_weights() == [2]
    assert np.flatnonzero(~fifth.masks.weight[0]).tolist() == [4, 8]


def test_zero_sparsity_changes_nothing(net: Network) -> None:
    for fn in (magnitude, magnitude_global, structured, random_unstructured, random_structured):
        out = fn(net, 0.0).network
        for a, b in zip(net.layers, out.layers, strict=True):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.bias, b.bias)


# --------------------------------------------------------------------------- magnitude, global
@pytest.mark.parametrize("p", SPARSITIES)
def test_magnitude_global_one_threshold(net: Network, p: float) -> None:
    pruned = magnitude(net, p, scope="global").network
    before = np.concatenate([lay.weight.ravel() for lay in net.layers])
    after = np.concatenate([lay.weight.ravel() for lay in pruned.layers])
    assert int(np.sum(after == 0)) == round(p * before.size)
    assert np.abs(before[after == 0]).max() <= np.abs(before[after != 0]).min()
    alias = magnitude_global(net, p).network
    for a, b in zip(pruned.layers, alias.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)


def test_global_differs_from_per_layer_when_scales_differ() -> None:
    small = _net([6, 8, 3])
    layers = (small.layers[0].replace(weight=small.layers[0].weight * 100), small.layers[1])
    scaled = Network(layers)
    per_layer = [_zeros(lay) for lay in magnitude(scaled, 0.5).network.layers]
    global_ = [_zeros(lay) for lay in magnitude(scaled, 0.5, scope="global").network.layers]
    assert per_layer == [24, 12]
    assert global_ == [12, 24]  # the 100x layer keeps its weights, the small layer goes first


# ------------------------------------------------------------------------------------- rounds
@pytest.mark.parametrize("p", SPARSITIES)
@pytest.mark.parametrize("rounds", [1, 2, 5])
def test_round_fractions_compose_to_target(p: float, rounds: int) -> None:
    qs = round_fractions(p, rounds)
    assert len(qs) == rounds
    assert qs[0] == pytest.approx(1 - (1 - p) ** (1 / rounds))
    assert 1 - np.prod([1 - q for q in qs]) == pytest.approx(p, abs=1e-12)
    counts = cumulative_counts(1000, p, rounds)
    assert counts[-1] == round(p * 1000)
    assert counts == sorted(counts)


def test_paper_protocol_prunes_the_remaining_share_each_round() -> None:
    # p = 0.9 in 5 rounds: each round removes q = 1 - 0.1**0.2 = 36.9 % of what is left
    assert round_fractions(0.9, 5)[0] == pytest.approx(0.369043, abs=1e-6)
    assert cumulative_counts(1000, 0.9, 5) == [369, 602, 749, 842, 900]


def test_each_round_sees_the_previous_rounds_zeros(net: Network) -> None:
    seen: list[list[int]] = []

    def scorer(current: Network) -> list[np.ndarray]:
        seen.append([_zeros(lay) for lay in current.layers])
        return [np.abs(lay.weight) for lay in current.layers]

    masks = unstructured_masks(net, 0.8, rounds=5, scope="layer", scorer=scorer)
    sizes = [lay.weight.size for lay in net.layers]
    expected = [[0] * 3] + [[cumulative_counts(n, 0.8, 5)[r] for n in sizes] for r in range(4)]
    assert seen == expected
    assert masks.pruned_weights() == [round(0.8 * n) for n in sizes]


def test_magnitude_in_rounds_equals_one_shot(net: Network) -> None:
    # without finetuning between rounds, magnitudes do not change
    for scope in ("layer", "global"):
        a = magnitude(net, 0.9, scope=scope, rounds=5).network
        b = magnitude(net, 0.9, scope=scope).network
        for la, lb in zip(a.layers, b.layers, strict=True):
            np.testing.assert_array_equal(la.weight, lb.weight)


def test_smallest_k_is_deterministic_on_ties() -> None:
    scores = np.array([3.0, 1.0, 1.0, 0.5, 1.0])
    np.testing.assert_array_equal(smallest_k(scores, 3), [3, 1, 2])
    eligible = np.array([True, False, True, True, True])
    np.testing.assert_array_equal(smallest_k(scores, 2, eligible), [3, 2])
    assert smallest_k(scores, 99).size == 5 and smallest_k(scores, -1).size == 0


# --------------------------------------------------------------------------------- structured
@pytest.mark.parametrize("p", SPARSITIES)
def test_structured_removes_rows_and_biases_keeps_output(net: Network, p: float) -> None:
    pruned = structured(net, p, rounds=5).network
    for before, after in zip(net.layers[:-1], pruned.layers[:-1], strict=True):
        removed = np.all(after.weight == 0, axis=1)
        assert removed.sum() == min(round(p * before.n_out), before.n_out - 1)
        np.testing.assert_array_equal(after.bias[removed], 0.0)
        norms = np.abs(before.weight).sum(axis=1)
        assert np.max(norms[removed], initial=0.0) <= np.min(norms[~removed], initial=np.inf)
        np.testing.assert_array_equal(after.weight[~removed], before.weight[~removed])
        np.testing.assert_array_equal(after.bias[~removed], before.bias[~removed])
    np.testing.assert_array_equal(pruned.layers[-1].weight, net.layers[-1].weight)
    np.testing.assert_array_equal(pruned.layers[-1].bias, net.layers[-1].bias)
    # a removed neuron outputs exactly zero on any input
    x = np.random.default_rng(1).normal(size=(50, net.n_inputs))
    for k, z in enumerate(pruned.pre_activations(x)[:-1]):
        gone = np.all(pruned.layers[k].weight == 0, axis=1)
        np.testing.assert_array_equal(np.maximum(z[:, gone], 0), 0.0)


@pytest.mark.parametrize("fn", [structured, random_structured])
def test_neuron_pruning_keeps_one_neuron_per_hidden_layer(fn) -> None:
    # widths 10 and 3: round(0.95 * 10) = 10 and round(0.95 * 3) = 3 would empty both layers
    net = _net([6, 10, 3, 2])
    pruned = fn(net, 0.95).network
    kept = [int(np.sum(np.any(lay.weight != 0, axis=1))) for lay in pruned.layers[:-1]]
    assert kept == [1, 1]
    # where round(p * m) < m the count is unchanged: 0.95 * 40 -> 38 removed
    wide = fn(_net([6, 40, 2]), 0.95).network
    assert int(np.sum(np.all(wide.layers[0].weight == 0, axis=1))) == 38


def test_structured_norm_two_ranks_by_euclidean_length() -> None:
    # row 0: L1 = 3, L2 = 3; row 1: L1 = 4, L2 = 2 -- the two norms disagree
    hidden = DenseLayer(np.array([[3.0, 0, 0, 0], [1.0, 1, 1, 1]]), np.ones(2))
    net = Network((hidden, DenseLayer(np.ones((1, 2)), np.zeros(1), "linear")))
    l1 = structured(net, 0.5).network.layers[0]
    l2 = structured(net, 0.5, norm=2).network.layers[0]
    np.testing.assert_array_equal(l1.weight, [[0, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(l1.bias, [0, 1])
    np.testing.assert_array_equal(l2.weight, [[3, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(l2.bias, [1, 0])


# ------------------------------------------------------------------------------------- random
def test_random_is_reproducible_and_seed_dependent(net: Network) -> None:
    a = random_unstructured(net, 0.5, seed=3).network
    b = random_unstructured(net, 0.5, seed=3, rounds=1).network
    c = random_unstructured(net, 0.5, seed=4).network
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, b.layers, strict=True))
    assert any(
        not np.array_equal(x.weight != 0, y.weight != 0)
        for x, y in zip(a.layers, c.layers, strict=True)
    )
    for lay, ref in zip(c.layers, net.layers, strict=True):
        assert _zeros(lay) == round(0.5 * ref.weight.size)
    g = random_unstructured(net, 0.5, seed=3, scope="global").network
    assert sum(_zeros(lay) for lay in g.layers) == round(0.5 * net.n_weights)


def test_random_structured_counts_and_seeds() -> None:
    net = _net([10, 40, 40, 3])
    a = random_structured(net, 0.5, seed=0).network
    b = random_structured(net, 0.5, seed=0, rounds=3).network
    c = random_structured(net, 0.5, seed=1).network
    masks = [[np.all(lay.weight == 0, axis=1) for lay in n.layers] for n in (a, b, c)]
    assert [int(m.sum()) for m in masks[0]] == [20, 20, 0]
    assert [int(m.sum()) for m in masks[1]] == [20, 20, 0]
    again = random_structured(net, 0.5, seed=0).network
    assert np.array_equal(masks[0][0], np.all(again.layers[0].weight == 0, axis=1))
    assert not np.array_equal(masks[0][0], masks[2][0])
    for n, m in zip((a, c), (masks[0], masks[2]), strict=True):
        np.testing.assert_array_equal(n.layers[0].bias[m[0]], 0.0)
    np.testing.assert_array_equal(c.layers[-1].weight, net.layers[-1].weight)


# ------------------------------------------------------------------------------------- errors
def test_errors_name_what_was_wrong(net: Network) -> None:
    with pytest.raises(InputError, match=r"unknown pruning method 'nope'; available: .*magnitude"):
        apply(net, "nope", 0.5)
    for bad in (1.0, -0.1):
        with pytest.raises(
            InputError, match=re.escape(f"sparsity must be a number in [0, 1), got {bad}")
        ):
            apply(net, "magnitude", bad)
        with pytest.raises(InputError, match=re.escape(f"in [0, 1), got {bad}")):
            structured(net, bad)
    with pytest.raises(InputError, match=re.escape("got True")):
        magnitude(net, True)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"rounds must be >= 1, got 0"):
        magnitude(net, 0.5, rounds=0)
    with pytest.raises(InputError, match=r"rounds must be an integer, got 2.5"):
        random_structured(net, 0.5, rounds=2.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"scope must be one of 'layer', 'global', got 'net'"):
        magnitude(net, 0.5, scope="net")
    with pytest.raises(InputError, match=r"norm must be 1 or 2, got 3"):
        structured(net, 0.5, norm=3)
    with pytest.raises(InputError, match=r"seed must be >= 0, got -1"):
        random_unstructured(net, 0.5, seed=-1)
    with pytest.raises(
        InputError,
        match=r"'magnitude' does not take option\(s\) seed; its options are: rounds, scope",
    ):
        apply(net, "magnitude", 0.5, seed=1)
    flat = Network((DenseLayer(np.ones((2, 3)), np.zeros(2), "linear"),))
    with pytest.raises(InputError, match=r"no hidden layer \(widths \[3, 2\]\)"):
        structured(flat, 0.5)


# ----------------------------------------------------------------------------------- the CLI
def test_cli_prune_writes_the_pruned_onnx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.onnx"
    code = main(
        [
            "prune",
            "digits-2x32",
            "--method",
            "magnitude",
            "--sparsity",
            "0.8",
            "--rounds",
            "5",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    pruned = read_onnx(out)
    for k, lay in enumerate(pruned.layers):
        assert _zeros(lay) == round(0.8 * lay.weight.size)
        assert f"layer {k}: sparsity {_zeros(lay) / lay.weight.size:.1%}" in text
    assert re.search(r"accuracy 0\.9577 -> 0\.\d{4}", text)
    assert "accuracy on: digits test split (449 images)" in text
    meta = pruned.metadata
    assert (meta["pruned_from"], meta["method"], meta["sparsity"]) == (
        "digits-2x32",
        "magnitude",
        0.8,
    )
    assert meta["dense_test_accuracy"] == pytest.approx(0.9576837416481069)
    assert meta["epochs"] == 100 and meta["prune_options"] == {"rounds": 5}


def test_cli_prune_structured_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.onnx"
    code = main(
        [
            "prune",
            str(MODELS_DIR / "digits-4x32.onnx"),
            "--method",
            "random-structured",
            "--sparsity",
            "0.25",
            "--seed",
            "7",
            "--option",
            "rounds=2",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    pruned = read_onnx(out)
    assert Masks.from_zeros(pruned).removed_counts() == [8, 8, 8, 8, 0]  # read from the file
    assert "neurons removed 8" in capsys.readouterr().out


def test_cli_prune_list_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in ("magnitude", "magnitude-global", "structured", "random", "random-structured"):
        assert re.search(rf"^{re.escape(name)}\s+\S", listing, re.MULTILINE)
    assert main(["prune", "digits-2x32", "--method", "nope", "--sparsity", "0.5"]) == 2
    assert "unknown pruning method 'nope'" in capsys.readouterr().err
    assert main(["prune", "digits-2x32", "--sparsity", "1.0"]) == 2
    assert "sparsity must be a number in [0, 1), got 1.0" in capsys.readouterr().err
    assert main(["prune", "digits-9x9", "--sparsity", "0.5"]) == 2
    assert "unknown model 'digits-9x9'; shipped models: digits-2x32" in capsys.readouterr().err
    assert main(["prune", "digits-2x32", "--sparsity", "0.5", "--option", "oops"]) == 2
    assert "--option takes KEY=VALUE" in capsys.readouterr().err


def test_cli_prune_reports_relu_stability(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stability line uses ``surrogate.bounds.compute_bounds`` over the metadata's box."""
    import surrogate.bounds

    calls: list[tuple[str, float, float, str]] = []

    class FakeBounds:
        def __init__(self, network: Network) -> None:
            self.zeros = network.n_weights - network.nonzeros

        def counts(self, network: Network) -> dict[str, object]:
            return {"unstable": 100 - self.zeros // 100, "active": 1, "inactive": self.zeros // 100}

    def fake(network: Network, input_set: Box, method: str = "interval") -> FakeBounds:
        lo, hi = float(input_set.lower.min()), float(input_set.upper.max())
        calls.append((network.name, lo, hi, method))
        return FakeBounds(network)

    monkeypatch.setattr(surrogate.bounds, "compute_bounds", fake, raising=False)
    assert main(["prune", "digits-2x32", "--sparsity", "0.5"]) == 0
    text = capsys.readouterr().out
    # 2x32 has 2048 + 1024 + 320 weights: 1696 zeros at p = 0.5
    assert (
        "ReLUs over [0, 1]^64 (symbolic bounds): unstable 100 -> 84, stably active 1 -> 1, "
        "stably inactive 0 -> 16" in text
    )
    assert calls == [("digits-2x32", 0.0, 1.0, "symbolic"), ("digits-2x32", 0.0, 1.0, "symbolic")]


def test_cli_prune_stability_matches_compute_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import surrogate.bounds

    compute_bounds = getattr(surrogate.bounds, "compute_bounds", None)
    if compute_bounds is None:
        pytest.skip("surrogate.bounds.compute_bounds is not there yet")
    out = tmp_path / "p.onnx"
    assert (
        main(
            ["prune", "digits-2x64", "--method", "structured", "--sparsity", "0.5", "-o", str(out)]
        )
        == 0
    )
    box = Box(np.zeros(64), np.ones(64))
    dense, pruned = load_model("digits-2x64"), read_onnx(out)
    before = compute_bounds(dense, box, method="symbolic").counts(dense)
    after = compute_bounds(pruned, box, method="symbolic").counts(pruned)
    assert after["inactive"] >= 64  # the 64 removed neurons are dead on any input
    expected = (
        f"unstable {before['unstable']} -> {after['unstable']}, "
        f"stably active {before['active']} -> {after['active']}, "
        f"stably inactive {before['inactive']} -> {after['inactive']}"
    )
    assert expected in capsys.readouterr().out


def test_cli_prune_finetune_needs_digits_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "toy.onnx"
    write_onnx(_net([10, 13, 9, 4]), path)
    assert main(["prune", str(path), "--sparsity", "0.5", "--finetune"]) == 2
    assert (
        "--finetune needs training data; only digits networks (64 inputs, 10 outputs) have "
        "it here, this one has 10 inputs and 4 outputs" in capsys.readouterr().err
    )
    # without --finetune a non-digits net is pruned, with no accuracy line
    assert main(["prune", str(path), "--sparsity", "0.5"]) == 0
    assert "accuracy" not in capsys.readouterr().out


# ------------------------------------------------------------------------- masks as data
def _with_zeros() -> Network:
    """A 5-4-3 network with exact zeros before any pruning: two weights of layer 0 and, in
    layer 1, neuron 2's whole row and bias (zero by value, as if trained there)."""
    net = _net([5, 4, 3])
    w0, w1, b1 = (np.array(net.layers[0].weight), np.array(net.layers[1].weight),
                  np.array(net.layers[1].bias))
    w0[0, 1] = w0[3, 4] = 0.0
    w1[2, :] = 0.0
    b1[2] = 0.0
    return net.with_layers([net.layers[0].replace(weight=w0), net.layers[1].replace(weight=w1,
                                                                                    bias=b1)])


@pytest.mark.parametrize("method", ["magnitude", "random", "structured", "random-structured"])
def test_a_weight_that_is_zero_before_pruning_is_not_reported_pruned(method: str) -> None:
    net = _with_zeros()
    assert net.sparsity > 0
    res = apply(net, method, 0.0)
    assert res.report.sparsity == 0.0 and res.report.layer_sparsity == [0.0, 0.0]
    assert res.report.neurons_removed == [0, 0]
    assert all(m.all() for m in res.masks.weight + res.masks.bias)
    np.testing.assert_array_equal(res.network.layers[0].weight, net.layers[0].weight)
    # the network as read, without masks, only has its zeros to go by
    assert Masks.from_zeros(net).removed_counts() == [0, 1]


def test_structured_reports_the_neurons_it_masked_not_the_zeros() -> None:
    w0 = np.random.default_rng(0).normal(size=(4, 5))
    w0[0, 1] = w0[3, 4] = 0.0  # zeros by value
    w0[1, :] = 0.0  # hidden neuron 1: zero row and bias before pruning (norm 0: masked first)
    hidden = DenseLayer(w0, np.array([0.5, 0.0, -0.5, 1.0]))
    net = Network((hidden, DenseLayer(np.ones((3, 4)), np.ones(3), "linear")))
    res = apply(net, "structured", 0.25)  # round(0.25 * 4) = 1 neuron
    assert res.report.neurons_removed == [1, 0]
    assert np.flatnonzero(res.masks.removed_neurons()[0]).tolist() == [1]
    # the masked row counts, the two zeros of other rows do not (zeros: 7 of 20)
    assert res.report.layer_sparsity == [5 / 20, 0.0] and res.report.sparsity == 5 / 32
    assert res.network.layers[0].nonzeros == 20 - 7


def test_masks_compute_apply_remove_round_trip(net: Network) -> None:
    before = [lay.weight.copy() for lay in net.layers]
    # compute: a pure function of the network
    masks = unstructured_masks(net, 0.6, rounds=2, scope="layer",
                               scorer=lambda n: [np.abs(lay.weight) for lay in n.layers])
    again = unstructured_masks(net, 0.6, rounds=2, scope="layer",
                               scorer=lambda n: [np.abs(lay.weight) for lay in n.layers])
    for a, b, w in zip(masks.weight, again.weight, before, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.shape == w.shape and a.dtype == bool and not a.flags.writeable
    for lay, w in zip(net.layers, before, strict=True):
        np.testing.assert_array_equal(lay.weight, w)  # the network is untouched
    # apply: the weights with their masks; the pruned view has exact zeros where masked
    masked = apply_masks(net, masks)
    assert isinstance(masked, MaskedNetwork) and masked.original is net
    for lay, w, m in zip(masked.network.layers, before, masks.weight, strict=True):
        np.testing.assert_array_equal(lay.weight, np.where(m, w, 0.0))
        assert not np.signbit(lay.weight[~m]).any()
    # remove: a plain network; read back (it has no zeros of its own) it gives the same masks
    plain = masked.remove()
    assert isinstance(plain, Network)
    for a, b in zip(Masks.from_zeros(plain).weight, masks.weight, strict=True):
        np.testing.assert_array_equal(a, b)
    # rewind: the same masks on other weights; & only shrinks
    other = _net([10, 13, 9, 4], seed=5)
    rewound = masked.rewind(other).network
    np.testing.assert_array_equal(rewound.layers[1].weight,
                                  np.where(masks.weight[1], other.layers[1].weight, 0.0))
    both = masks & Masks.without_neurons(net, [np.array([0, 2])])
    assert both.removed_counts()[0] == 2 and both.pruned_weights()[0] >= masks.pruned_weights()[0]


def test_masks_given_to_apply_stay_pruned_and_count(net: Network) -> None:
    first = apply(net, "magnitude", 0.5)
    more = apply(net, "random", 0.8, masks=first.masks, seed=1)
    for a, b in zip(first.masks.weight, more.masks.weight, strict=True):
        assert not np.any(b & ~a)  # what was pruned stays pruned
    assert more.masks.pruned_weights() == [round(0.8 * lay.weight.size) for lay in net.layers]
    neurons = apply(net, "structured", 0.5, masks=apply(net, "random-structured", 0.25).masks)
    assert neurons.report.neurons_removed == [round(0.5 * 13), round(0.5 * 9), 0]


def test_masks_errors(net: Network) -> None:
    with pytest.raises(InputError, match=r"masks must be a surrogate.prune.Masks .*got list"):
        apply(net, "magnitude", 0.5, masks=[1, 2])
    small = _net([10, 4])
    with pytest.raises(InputError, match=r"masks of shapes \[\(4, 10\)\] do not fit"):
        apply_masks(net, Masks.ones(small))
    with pytest.raises(InputError, match="masks must be boolean arrays, got dtype float64"):
        Masks((np.ones((2, 3)),), (np.ones(2, dtype=bool),))
    with pytest.raises(InputError, match=r"cannot combine"):
        Masks.ones(net) & Masks.ones(small)


# ----------------------------------------------------------------------- the sparsity rule
def test_one_sparsity_rule() -> None:
    assert check_sparsity(np.float32(0.5)) == 0.5 and check_sparsity(0) == 0.0
    assert check_sparsity(np.float64(0.25), allow_zero=False) == 0.25
    for bad in (True, False, float("nan"), float("inf"), 1, "0.5", None):
        with pytest.raises(InputError, match=re.escape(f"in [0, 1), got {bad!r}")):
            check_sparsity(bad)
    with pytest.raises(InputError, match=re.escape("sparsities must be a number in (0, 1), got 0.0")):
        check_sparsity(0.0, name="sparsities", allow_zero=False)
    with pytest.raises(InputError, match=re.escape("sparsity must be a number in [0, 1), got 1.5")):
        check_sparsity(np.float64(1.5))
