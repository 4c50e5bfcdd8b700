"""dataset.loader=gpu on CPU tensors against the CPU path: splits, epochs, determinism and sharding."""

import pytest
import torch

from seqnorm_repro.config import AugmentConfig
from seqnorm_repro.data.device_augment import DeviceAugment
from seqnorm_repro.data.stats import MEAN_STD

AUGMENT = AugmentConfig(flip=True, pad_crop=4, cutout=16)


@pytest.fixture
def cifar(make_bundle):
    """cifar(loader, **make_bundle kwargs): 180 training images, 20 validation, batches of 30."""
    return lambda loader, **kwargs: make_bundle(
        "cifar10", **{"val_size": 20, "batch_size": 30, "loader": loader, **kwargs}
    )


def _epoch(bundle, epoch):
    bundle.set_epoch(epoch)
    batches = list(bundle.train)
    return torch.cat([images for images, _ in batches]), torch.cat([labels for _, labels in batches])


def _indices(bundle, epoch):
    bundle.set_epoch(epoch)
    return bundle.train.plan()[0].tolist()


def _draws(bundle, epoch):
    bundle.set_epoch(epoch)
    return bundle.train.plan()[1]


def test_validation_and_test_sets_are_the_cpu_paths(cifar):
    device, cpu = cifar("gpu", augment=AUGMENT), cifar("cpu", augment=AUGMENT)
    assert device.val_indices == cpu.val_indices and len(device.val_indices) == 20
    for loader, other in [(device.val, cpu.val), (device.tests["test"], cpu.tests["test"])]:
        for (images, labels), (cpu_images, cpu_labels) in zip(loader, other, strict=True):
            assert torch.equal(images, cpu_images) and torch.equal(labels, cpu_labels)
    assert (device.input_shape, device.num_classes, len(device.train)) == ((3, 32, 32), 10, 6)


def test_unaugmented_batches_equal_the_cpu_paths_images_for_the_same_indices(cifar):
    device, cpu = cifar("gpu"), cifar("cpu")
    images, labels = _epoch(device, 2)
    expected = [cpu.train.dataset[(index, 0)] for index in _indices(device, 2)]
    assert torch.equal(images, torch.stack([image for image, _ in expected]))  # bitwise: same ops
    assert labels.tolist() == [label for _, label in expected]


def test_each_epoch_draws_the_cpu_paths_training_indices_once_each(cifar):
    device, cpu = cifar("gpu"), cifar("cpu", batch_size=32)
    for epoch in (0, 1):
        assert sorted(_indices(device, epoch)) == list(range(180))  # 6 full batches of 30
        cpu.set_epoch(epoch)
        assert sorted(_indices(device, epoch)) == sorted(index for index, _ in cpu.train.sampler)
    dropping = cifar("gpu", batch_size=32)  # 5 batches of 32: 20 images sit out, a different 20 each epoch
    first, second = _indices(dropping, 0), _indices(dropping, 1)
    assert len(first) == len(set(first)) == 160 and set(first) != set(second)


def test_same_seed_and_epoch_give_the_same_batches_and_resuming_repeats_them(cifar):
    uninterrupted = cifar("gpu", augment=AUGMENT, seed=5)
    _epoch(uninterrupted, 0)
    images, labels = _epoch(uninterrupted, 1)
    resumed_images, resumed_labels = _epoch(cifar("gpu", augment=AUGMENT, seed=5), 1)
    assert torch.equal(labels, resumed_labels)
    assert torch.equal(images, resumed_images)  # augmentation included


def test_another_epoch_or_seed_gives_another_order_and_augmentation(cifar):
    bundle = cifar("gpu", augment=AUGMENT, seed=5)
    orders = [_indices(bundle, epoch) for epoch in (0, 1, 2)]
    assert orders[0] != orders[1] != orders[2] != orders[0]
    assert _indices(cifar("gpu", seed=6), 0) != orders[0]
    assert not torch.equal(_draws(bundle, 0), _draws(bundle, 1))


def test_loading_batches_leaves_the_global_rng_alone(cifar):
    bundle = cifar("gpu", augment=AUGMENT)
    state = torch.get_rng_state()
    _epoch(bundle, 0)
    assert torch.equal(state, torch.get_rng_state())


def test_two_processes_take_contiguous_slices_of_the_single_process_batches(cifar):
    """As samplers.EpochShuffle: unsynchronised BatchNorm on 2 processes normalises GhostNorm(gm=2)'s groups,
    and here the augmentation of each image is the single process's too."""
    single = list(cifar("gpu", augment=AUGMENT, batch_size=40).train)
    shards = [list(cifar("gpu", augment=AUGMENT, batch_size=20, rank=r, world_size=2).train) for r in (0, 1)]
    assert len(single) == len(shards[0]) == len(shards[1]) == 4  # 180 // 40: the last partial batch dropped
    for step, (images, labels) in enumerate(single):
        for rank, shard in enumerate(shards):
            part = slice(rank * 20, (rank + 1) * 20)
            assert torch.equal(shard[step][0], images[part])
            assert torch.equal(shard[step][1], labels[part])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_batches_match_the_cpu_arithmetic_without_host_syncs(cifar):
    loader = cifar("gpu", augment=AUGMENT, device="cuda").train
    indices, draws = loader.plan()
    assert indices.is_cuda and loader.images.is_cuda
    batch = slice(0, loader.batch_size)
    torch.cuda.set_sync_debug_mode("error")  # the per-batch work: a host sync would stall the trainer
    try:
        images = loader.augment(loader.images, indices[batch], draws[batch])
        labels = loader.labels[indices[batch]]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    on_cpu = DeviceAugment(AUGMENT, *MEAN_STD["cifar10"], 32, "cpu")
    expected = on_cpu(loader.images.cpu(), indices[batch].cpu(), draws[batch].cpu())
    torch.testing.assert_close(images.cpu(), expected)
    assert labels.is_cuda and images.is_cuda
