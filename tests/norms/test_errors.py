"""Bad shapes and values fail before any arithmetic, naming the layer, the shape and the fix."""

import warnings

import pytest
import torch

from seqnorm_repro.norms import GhostNorm, GroupNorm, NoisyBatchNorm, SeqNorm, make_norm, norm_layer


def test_batch_not_divisible_by_gm():
    with pytest.raises(ValueError, match=r"GhostNorm\(4, gm=8\): batch of 12 samples .*\(12, 4, 2, 2\).*"
                       r"not divisible by gm=8; use a per-device batch that is a multiple of 8"):  # fmt: skip
        GhostNorm(4, gm=8)(torch.randn(12, 4, 2, 2))


def test_one_sample_per_group():
    with pytest.raises(
        ValueError, match=r"SeqNorm\(4, gc=2, gm=8\): gm=8 leaves 1 sample per group.*use gm <= 4"
    ):
        SeqNorm(4, gc=2, gm=8)(torch.randn(8, 4))
    evaluating = GhostNorm(4, gm=1, track_running_stats=False).eval()  # normalises its batch in eval too
    with pytest.raises(ValueError, match=r"leaves 1 sample per group .*; use a batch of 2 or more$"):
        evaluating(torch.randn(1, 4))


def test_one_sample_of_several_values_per_group_is_normalised_as_batchnorm_would():
    x = torch.randn(2, 4, 3, 3)
    with pytest.warns(UserWarning, match=r"gm=1 normalises over 1 sample per group"):
        torch.testing.assert_close(GhostNorm(4, gm=1)(x[:1]), torch.nn.BatchNorm2d(4)(x[:1]))
    with pytest.warns(UserWarning, match=r"gm=2 normalises over 1 sample per group"):
        torch.testing.assert_close(GhostNorm(4, gm=2)(x), torch.nn.InstanceNorm2d(4)(x))


def test_an_empty_spatial_dimension_names_itself():
    with pytest.raises(
        ValueError, match=r"GhostNorm\(4, gm=1\): input shape \(8, 4, 0, 3\) has an empty dim"
    ):
        GhostNorm(4, gm=1)(torch.randn(8, 4, 0, 3))


def test_integer_inputs_are_refused_in_training_and_eval():
    for layer in (GhostNorm(4, gm=2), SeqNorm(4, gc=2, gm=2).eval(), NoisyBatchNorm(4, noise_std=0.1)):
        with pytest.raises(
            TypeError, match=r"expected a floating-point input, got torch.int64; .*x.float\(\)"
        ):
            layer(torch.arange(32).view(8, 4))


def test_fewer_than_four_samples_per_group_warns_once_at_the_line_that_ran_the_model():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), GhostNorm(8, gm=4), torch.nn.Linear(8, 4), GhostNorm(4, gm=4)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own: once per message and line
        model(torch.randn(12, 4))
    assert [str(w.message) for w in caught] == [
        "GhostNorm: gm=4 normalises over 3 samples per group; the paper never goes below 4"
    ]
    assert caught[0].filename == __file__


def test_channels_not_divisible_by_gc():
    with pytest.raises(ValueError, match=r"SeqNorm\(6, gc=4, gm=2\): gc=4 does not divide num_features=6"):
        SeqNorm(6, gc=4, gm=2)
    with pytest.raises(ValueError, match=r"GroupNorm\(6, gc=4\): gc=4 does not divide"):
        GroupNorm(6, gc=4)


def test_wrong_channel_count_names_the_layer():
    with pytest.raises(
        ValueError, match=r"GhostNorm\(4, gm=2\): expected input of shape \(M, 4\).*got \(8, 5\)"
    ):
        GhostNorm(4, gm=2)(torch.randn(8, 5))
    with pytest.raises(ValueError, match=r"SeqNorm\(4, gc=2, gm=2\): expected input"):
        SeqNorm(4, gc=2, gm=2).eval()(torch.randn(8, 5))


@pytest.mark.parametrize("gm", [0, -2, 2.5, True])
def test_gm_must_be_a_positive_integer(gm):
    with pytest.raises(ValueError, match=r"GhostNorm\(4\): gm must be a positive integer"):
        GhostNorm(4, gm=gm)


def test_negative_noise():
    with pytest.raises(ValueError, match=r"noise_std must be >= 0"):
        NoisyBatchNorm(4, noise_std=-0.1)


def test_unknown_impl():
    with pytest.raises(ValueError, match=r"impl='cuda' is not one of"):
        GhostNorm(4, gm=2, impl="cuda")


def test_unknown_norm_name_lists_the_names():
    with pytest.raises(ValueError, match=r"unknown norm 'ghost'; choose one of \['batchnorm', 'ghostnorm'"):
        make_norm("ghost", 4)
    with pytest.raises(ValueError, match=r"unknown norm 'ghost'"):
        norm_layer("ghost")


def test_parameters_a_norm_does_not_take():
    """Said of the norm, not of the (private) class whose __init__ raised it."""
    with pytest.raises(
        ValueError, match=r"^norm 'batchnorm' with parameters \{'gm': 8\}: got an unexpected .*'gm'$"
    ):
        make_norm("batchnorm", 4, gm=8)
    with pytest.raises(ValueError, match=r"^norm 'ghostnorm' with parameters \{\}: missing .*'gm'$"):
        make_norm("ghostnorm", 4)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: GhostNorm(4, gm=2, impl="triton"), (8, 4, 3, 3)),  # the Triton kernels on a CPU tensor
        (lambda: SeqNorm(4, gc=2, gm=2), (7, 4, 3, 3)),  # 7 samples do not split into 2 groups
    ],
)
def test_a_failed_training_call_leaves_the_running_statistics_alone(make, shape):
    """A batch that did not go through is neither counted nor averaged in."""
    layer = make()
    before = {name: buffer.clone() for name, buffer in layer.named_buffers()}
    with pytest.raises((RuntimeError, ValueError)):
        layer(torch.randn(shape))
    for name, buffer in layer.named_buffers():
        assert torch.equal(buffer, before[name]), name
