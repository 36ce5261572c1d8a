"""The network model (``surrogate.network.spec``): ``DenseLayer`` and ``Network`` validation
messages, read-only float64 copies, the cached CSR weight, sizes and sparsity, the forward pass
against a hand computation and against ``pre_activations``, ``with_layers`` and ``summary``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from factories import random_net

from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network

W0 = np.array([[1.0, -1.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, 0.0], [-1.0, 0.0, 3.0]])
B0 = np.array([0.5, -1.0, 0.25, 0.0])
W1 = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 0.0, 0.0, 1.0]])
B1 = np.array([0.0, 1.0])


def hand_net(**kw: object) -> Network:
    """3 -> 4 ReLU -> 2 linear; 10 of the 20 weights are zero (neuron 2 reads nothing)."""
    return Network((DenseLayer(W0, B0), DenseLayer(W1, B1, "linear")), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ DenseLayer
@pytest.mark.parametrize(
    ("weight", "bias", "activation", "message"),
    [
        (np.ones(3), np.ones(3), "relu", "layer weight must be 2-D (n_out, n_in), got shape (3,)"),
        (np.ones((2, 3, 1)), np.ones(2), "relu",
         "layer weight must be 2-D (n_out, n_in), got shape (2, 3, 1)"),
        (np.ones((3, 2)), np.ones(2), "relu",
         "layer bias has shape (2,), expected (3,) to match weight (3, 2)"),
        (np.ones((3, 2)), np.ones(3), "tanh",
         "activation must be one of ('relu', 'linear'), got 'tanh'"),
        (np.array([[1.0, np.nan]]), np.ones(1), "relu",
         "layer weights and biases must be finite (found NaN or inf)"),
        (np.ones((1, 2)), np.array([np.inf]), "linear",
         "layer weights and biases must be finite (found NaN or inf)"),
    ],
)
def test_dense_layer_refuses_bad_parameters(weight, bias, activation: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        DenseLayer(weight, bias, activation)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_dense_layer_holds_read_only_float64_copies() -> None:
    w = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32)
    b = [[0.5], [1.5], [2.5]]  # any shape with n_out entries is read as a vector
    layer = DenseLayer(w, b)
    w[0, 0] = 100
    assert layer.weight[0, 0] == 1.0  # copied
    assert layer.weight.dtype == layer.bias.dtype == np.float64
    assert layer.weight.flags.c_contiguous and layer.bias.shape == (3,)
    assert (layer.n_out, layer.n_in, layer.activation) == (3, 2, "relu")
    for arr in (layer.weight, layer.bias):
        assert not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.weight = np.zeros((3, 2))  # type: ignore[misc]
    # a Fortran-ordered weight is stored in C order
    assert DenseLayer(np.asfortranarray(np.ones((4, 3))), np.zeros(4)).weight.flags.c_contiguous


def test_csr_is_the_nonzero_pattern_computed_once() -> None:
    layer = DenseLayer(W0, B0)
    csr = layer.csr
    assert sp.issparse(csr) and csr.format == "csr"
    assert layer.csr is csr  # cached: the weight cannot change
    assert csr.has_sorted_indices
    np.testing.assert_array_equal(csr.toarray(), W0)
    assert csr.nnz == layer.nonzeros == 6  # zeros are not stored
    assert layer.density == pytest.approx(6 / 12)
    # replace builds a new layer with its own CSR; the original keeps its own
    pruned = layer.replace(weight=np.where(np.abs(W0) < 1.5, 0.0, W0))
    assert pruned.nonzeros == 2 and layer.nonzeros == 6
    assert pruned.csr is not csr
    np.testing.assert_array_equal(pruned.bias, B0)
    assert pruned.activation == "relu"
    linear = layer.replace(activation="linear")
    assert linear.activation == "linear" and linear.csr.nnz == 6
    with pytest.raises(InputError, match="layer bias has shape"):
        layer.replace(bias=np.zeros(3))
    empty = DenseLayer(np.zeros((2, 2)), np.zeros(2))
    assert empty.nonzeros == 0 and empty.density == 0.0


# -------------------------------------------------------------------------------- Network
def test_network_validation_messages() -> None:
    with pytest.raises(InputError) as err:
        Network(())
    assert str(err.value) == "a network needs at least one layer"
    with pytest.raises(InputError) as err:
        Network((DenseLayer(W0, B0), DenseLayer(np.ones((2, 3)), np.zeros(2))))
    assert str(err.value) == "layer 1 takes 3 inputs but layer 0 gives 4 outputs"
    with pytest.raises(InputError) as err:
        hand_net(input_shape=(2, 2))
    assert str(err.value) == "input_shape (2, 2) has 4 entries but the first layer takes 3"


def test_sizes_sparsity_and_masks() -> None:
    net = hand_net(name="hand")
    assert net.layers[0].weight is not W0 and not net.layers[0].weight.flags.writeable
    assert isinstance(net.layers, tuple)
    assert net.input_shape == (3,)  # the default: a flat vector
    assert (net.n_inputs, net.n_outputs, net.widths) == (3, 2, [3, 4, 2])
    assert net.n_weights == 20
    assert net.nonzeros == 6 + 4
    assert net.sparsity == pytest.approx(10 / 20)
    assert net.relu_count() == 4  # the linear output layer has none
    masks = net.mask()
    assert [m.dtype for m in masks] == [np.bool_, np.bool_]
    np.testing.assert_array_equal(masks[0], W0 != 0)
    np.testing.assert_array_equal(masks[1], W1 != 0)
    dense = random_net([5, 7, 3], seed=1)
    assert dense.sparsity == 0.0 and dense.nonzeros == dense.n_weights == 5 * 7 + 7 * 3


def test_forward_matches_a_hand_computation() -> None:
    net = hand_net()
    x = np.array([1.0, 2.0, -1.0])
    # layer 0: W0 x + B0 = (-1 + .5, 4 - .5 - 1, .25, -1 - 3) = (-.5, 2.5, .25, -4) -> relu
    h = np.array([0.0, 2.5, 0.25, 0.0])
    np.testing.assert_allclose(h, np.maximum(W0 @ x + B0, 0.0))
    expected = np.array([0.0 + 0.5 - 0.0, 0.0 + 1.0])  # W1 h + B1, no ReLU on the output
    np.testing.assert_allclose(net.forward(x), expected)
    np.testing.assert_allclose(net(x), expected)  # __call__ is forward
    assert net.forward(x).shape == (2,)
    assert net.forward(x.tolist()).tolist() == net.forward(x).tolist()
    assert net.predict(x).tolist() == [1]


def test_forward_batches_images_and_refuses_wrong_sizes() -> None:
    net = random_net([4, 6, 5, 3], seed=2, input_shape=(1, 2, 2))
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(7, 4))
    out = net.forward(batch)
    assert out.shape == (7, 3)
    for i in range(7):
        np.testing.assert_allclose(net.forward(batch[i]), out[i], rtol=1e-13, atol=1e-13)
    # one input in the model's own shape, and a batch of them, are flattened in C order
    image = batch[0].reshape(1, 2, 2)
    assert net.forward(image).shape == (3,)
    np.testing.assert_array_equal(net.forward(image), net.forward(batch[0]))
    np.testing.assert_array_equal(net.forward(batch.reshape(7, 1, 2, 2)), out)
    with pytest.raises(InputError) as err:
        net.forward(np.zeros(5))
    assert str(err.value) == "input has 5 entries per sample, the network takes 4"
    with pytest.raises(InputError, match="input has 3 entries per sample, the network takes 4"):
        net.forward(np.zeros((2, 3)))


def test_pre_activations_chain_into_the_forward_pass() -> None:
    net = random_net([5, 8, 6, 7, 3], seed=4, linear_hidden=1)  # layer 1 is a linear hidden layer
    x = np.random.default_rng(1).normal(size=(11, 5))
    pre = net.pre_activations(x)
    assert [z.shape for z in pre] == [(11, 8), (11, 6), (11, 7), (11, 3)]
    h = x
    for layer, z in zip(net.layers, pre, strict=True):
        np.testing.assert_allclose(z, h @ layer.weight.T + layer.bias, rtol=1e-12, atol=1e-12)
        h = np.maximum(z, 0.0) if layer.activation == "relu" else z
    assert [layer.activation for layer in net.layers] == ["relu", "linear", "relu", "linear"]
    assert np.any(pre[1] < 0)  # the linear hidden layer keeps its negative values ...
    np.testing.assert_array_equal(pre[-1], net.forward(x))  # ... and the last one is the output
    single = net.pre_activations(x[0])
    assert [z.shape for z in single] == [(1, 8), (1, 6), (1, 7), (1, 3)]  # always batched
    relu_out = random_net([3, 4, 2], seed=0, last="relu")
    np.testing.assert_array_equal(
        relu_out.forward(x[:, :3]), np.maximum(relu_out.pre_activations(x[:, :3])[-1], 0.0)
    )


def test_predict_breaks_ties_towards_the_lowest_index() -> None:
    net = Network((DenseLayer(np.zeros((3, 2)), np.array([1.0, 1.0, 0.5]), "linear"),))
    assert net.predict(np.zeros((4, 2))).tolist() == [0, 0, 0, 0]


def test_with_layers_keeps_shape_name_and_metadata_unless_changed() -> None:
    net = random_net([4, 3, 2], seed=3, input_shape=(2, 2), name="orig")
    net.metadata["eps"] = 0.5
    zeroed = [layer.replace(weight=np.zeros_like(layer.weight)) for layer in net.layers]
    copy = net.with_layers(zeroed)
    assert (copy.input_shape, copy.name, copy.metadata) == ((2, 2), "orig", {"eps": 0.5})
    assert copy.nonzeros == 0 and net.nonzeros == 4 * 3 + 3 * 2  # the original is unchanged
    copy.metadata["eps"] = 1.0
    assert net.metadata["eps"] == 0.5  # the metadata dict is a copy
    renamed = net.with_layers(net.layers, name="new", input_shape=(4,))
    assert (renamed.name, renamed.input_shape) == ("new", (4,))
    assert all(a is b for a, b in zip(renamed.layers, net.layers, strict=True))
    with pytest.raises(InputError, match="layer 1 takes 3 inputs but layer 0 gives 5 outputs"):
        net.with_layers([DenseLayer(np.ones((5, 4)), np.zeros(5)), net.layers[1]])


def test_summary_names_the_architecture_relus_and_sparsity() -> None:
    assert hand_net(name="hand").summary() == (
        "hand: 3-4-2, 4 ReLUs, 10/20 nonzero weights (sparsity 50.0%)"
    )
    assert random_net([2, 3, 1], seed=0, name="").summary() == (
        "network: 2-3-1, 3 ReLUs, 9/9 nonzero weights (sparsity 0.0%)"
    )
