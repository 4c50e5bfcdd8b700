"""Training order and augmentation are functions of (seed, epoch): resuming repeats them exactly."""

import pytest
import torch

from seqnorm_repro.config import AugmentConfig

AUGMENT = AugmentConfig(flip=True, pad_crop=4, cutout=16, randaugment_n=2)


def _epoch(bundle, epoch):
    bundle.set_epoch(epoch)
    batches = list(bundle.train)
    return torch.cat([images for images, _ in batches]), torch.cat([labels for _, labels in batches])


@pytest.fixture
def cifar(make_bundle):
    return lambda **kwargs: make_bundle("cifar10", augment=AUGMENT, val_size=20, batch_size=30, **kwargs)


def test_same_seed_and_epoch_give_the_same_batches(cifar):
    images, labels = _epoch(cifar(seed=5), 3)
    again_images, again_labels = _epoch(cifar(seed=5), 3)
    assert torch.equal(labels, again_labels)
    assert torch.equal(images, again_images)  # augmentation included


def test_another_epoch_or_seed_gives_another_order(cifar):
    def order(bundle, epoch):
        bundle.set_epoch(epoch)
        return [index for index, _ in bundle.train.sampler]

    bundle = cifar(seed=5)
    orders = [order(bundle, epoch) for epoch in (0, 1, 2)]
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(orders[2])
    assert orders[0] != orders[1] != orders[2] != orders[0]
    assert order(bundle, 1) == orders[1]
    assert order(cifar(seed=6), 0) != orders[0]


def test_resumed_run_sees_the_batches_of_an_uninterrupted_one(cifar):
    uninterrupted = cifar()
    _epoch(uninterrupted, 0)
    images, labels = _epoch(uninterrupted, 1)
    resumed_images, resumed_labels = _epoch(cifar(), 1)
    assert torch.equal(labels, resumed_labels)
    assert torch.equal(images, resumed_images)


def test_batches_do_not_depend_on_worker_processes(cifar):
    in_process, workers = cifar(num_workers=0), cifar(num_workers=2)  # persistent workers
    for epoch in (0, 1):
        images, labels = _epoch(in_process, epoch)
        worker_images, worker_labels = _epoch(workers, epoch)
        assert torch.equal(labels, worker_labels)
        assert torch.equal(images, worker_images)


def test_loading_batches_leaves_the_global_rng_alone(cifar):
    bundle = cifar()
    state = torch.get_rng_state()
    _epoch(bundle, 0)
    assert torch.equal(state, torch.get_rng_state())


def test_ranks_get_disjoint_training_shards_and_full_eval_shards(make_bundle):
    shards = [
        make_bundle("cifar10", val_size=20, batch_size=10, rank=rank, world_size=2).train for rank in (0, 1)
    ]
    indices = [[index for index, _ in shard.sampler] for shard in shards]
    assert len(indices[0]) == len(indices[1]) == 90
    assert not set(indices[0]) & set(indices[1])
    tests = [make_bundle("cifar10", rank=rank, world_size=2).tests["test"] for rank in (0, 1)]
    assert sum(len(loader.sampler) for loader in tests) == 100


def test_processes_take_contiguous_slices_of_the_single_process_batches():
    """Unsynchronised BatchNorm on D processes then normalises GhostNorm(gm=D)'s groups (Section 2.3)."""
    from seqnorm_repro.data.samplers import EpochShuffle

    single = list(EpochShuffle(100, seed=3, batch_size=20))
    shards = [list(EpochShuffle(100, seed=3, batch_size=10, rank=r, world_size=2)) for r in (0, 1)]
    for step in range(5):
        global_batch = single[step * 20 : (step + 1) * 20]
        assert shards[0][step * 10 : (step + 1) * 10] == global_batch[:10]
        assert shards[1][step * 10 : (step + 1) * 10] == global_batch[10:]


def test_evaluation_shards_cover_every_sample_once():
    from seqnorm_repro.data.samplers import EvalShard

    shards = [list(EvalShard(11, rank, 3)) for rank in range(3)]
    assert sorted(index for shard in shards for index in shard) == list(range(11))


def test_every_sample_of_an_epoch_gets_its_own_augmentation_seed(cifar):
    bundle = cifar()

    def seeds(epoch):
        bundle.set_epoch(epoch)
        return [seed for _, seed in bundle.train.sampler]

    first, second = seeds(0), seeds(1)
    assert len(set(first)) == len(first) == 180
    assert len(set(second)) == len(second)
    assert not set(first) & set(second)
