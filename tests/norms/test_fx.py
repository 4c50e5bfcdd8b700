"""torch.fx symbolic tracing (torchvision's create_feature_extractor, timm's FX features) keeps each layer
as one call_module node, as it keeps torch.nn's BatchNorm, so the traced model computes what it does."""

import copy

import pytest
import timm
import torch
import torchvision
from torch import fx, nn
from torchvision.models.feature_extraction import create_feature_extractor

from seqnorm_repro.norms import NORM_LAYERS, convert_norm, make_norm, norm_layer

PARAMS = {"ghostnorm": {"gm": 2}, "seqnorm": {"gc": 2, "gm": 2}, "groupnorm": {"gc": 2},
          "noisy_batchnorm": {"noise_std": 0.01}}  # fmt: skip


@pytest.mark.filterwarnings("ignore:.*normalises over 4 samples")
@pytest.mark.parametrize("name", sorted(NORM_LAYERS))
def test_traced_model_trains_and_evaluates_as_the_model(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), make_norm(name, 4, **PARAMS.get(name, {})), nn.ReLU())
    traced = fx.symbolic_trace(copy.deepcopy(model))
    x = torch.randn(8, 3, 6, 6)
    for _ in range(2):  # train mode: the batch's statistics, and the running ones updated alike
        torch.manual_seed(1)
        expected = model(x)
        torch.manual_seed(1)
        torch.testing.assert_close(traced(x), expected)
    torch.testing.assert_close(traced.state_dict(), model.state_dict())
    torch.testing.assert_close(traced.eval()(x), model.eval()(x))  # the mode is read when the layer runs


@pytest.mark.filterwarnings("ignore:.*normalises over 2 samples")
def test_torchvision_feature_extractor_returns_the_models_activations():
    model = convert_norm(torchvision.models.resnet18(num_classes=10), "seqnorm", gc=4, gm=2)
    extractor = create_feature_extractor(copy.deepcopy(model), {"layer2": "mid", "fc": "logits"})
    seen = {}
    model.layer2.register_forward_hook(lambda module, args, out: seen.update(mid=out))
    x = torch.randn(4, 3, 32, 32)
    logits = model(x)
    features = extractor(x)
    torch.testing.assert_close(features["mid"], seen["mid"])
    torch.testing.assert_close(features["logits"], logits)


@pytest.mark.filterwarnings("ignore:.*normalises over 2 samples")
def test_timm_fx_feature_extraction_returns_the_models_features():
    def features(**feature_cls):
        norm = norm_layer("ghostnorm", gm=2)
        return timm.create_model("resnet18", norm_layer=norm, features_only=True, **feature_cls)

    listed, traced = features(), features(feature_cls="fx")  # timm's default runs the model's modules
    traced.load_state_dict({f"graph_module.{key}": value for key, value in listed.state_dict().items()})
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(traced(x), listed(x))
