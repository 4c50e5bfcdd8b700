"""The paper's networks: SimpleNet (MNIST), ResNet-56 and WRN-28-10 (CIFAR), ResNet-18 (ImageNet)."""

from seqnorm_repro.models.factory import MODEL_BUILDERS, build_model
from seqnorm_repro.models.resnet_cifar import CifarResNet
from seqnorm_repro.models.simplenet import SimpleNet
from seqnorm_repro.models.wide_resnet import WideResNet

__all__ = ["MODEL_BUILDERS", "CifarResNet", "SimpleNet", "WideResNet", "build_model"]
