"""A missing dataset fails with one line that says where the files go and how to run offline."""

import shutil
import urllib.error
import urllib.request

import pytest
import torchvision.datasets.cifar

from seqnorm_repro.config import AugmentConfig, DatasetConfig, PathsConfig
from seqnorm_repro.data import DatasetNotFound, build_data
from seqnorm_repro.data.errors import DatasetUnusable

AUGMENT = AugmentConfig(random_resized_crop=32, eval_crop=32)


def _build(dataset: DatasetConfig, root) -> None:
    paths = PathsConfig(data_dir=str(root), imagenet_dir=str(root))
    build_data(dataset, AUGMENT, paths, batch_size=8, eval_batch_size=8, seed=0)


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("mnist", "MNIST/raw/"),
        ("fashion_mnist", "FashionMNIST/raw/"),
        ("cifar10", "cifar-10-batches-py/"),
        ("cifar100", "cifar-100-python/"),
        ("imagenet", "train/ and "),
    ],
)
def test_missing_dataset_is_one_line_naming_its_place(tmp_path, name, folder):
    with pytest.raises(DatasetNotFound) as caught:
        _build(DatasetConfig(name=name, download=False), tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name} not found under {tmp_path}/ (expected {tmp_path / folder}")
    assert message.endswith("or run offline with dataset=mnist5k")
    assert isinstance(caught.value, FileNotFoundError)


def test_a_failed_download_says_why(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(
        DatasetNotFound, match=r"could not be downloaded \(URLError: <urlopen error \[Errno -3\]"
    ):
        _build(DatasetConfig(name="cifar10", download=True), tmp_path)


def test_cifar_failing_md5_points_to_verify_checksums(cifar10_root):
    with pytest.raises(DatasetNotFound, match=r"md5 check .*dataset\.verify_checksums=false"):
        _build(DatasetConfig(name="cifar10", download=False, verify_checksums=True), cifar10_root)


def test_partial_cifar_folder_is_not_found(cifar10_root, tmp_path):
    shutil.copytree(cifar10_root / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFound, match=r"^cifar10 not found under .*dataset\.download=false"):
        _build(DatasetConfig(name="cifar10", download=False, verify_checksums=False), tmp_path)


def test_truncated_cifar_file_is_one_line_saying_to_download_again(cifar10_root, tmp_path):
    shutil.copytree(cifar10_root / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])  # md5 checks would catch it; they are off
    with pytest.raises(
        DatasetUnusable, match=r"^cifar10 files under .* are unreadable \(.*download them again$"
    ):
        _build(DatasetConfig(name="cifar10", download=False, verify_checksums=False), tmp_path)


def test_files_this_user_cannot_read_say_so_rather_than_not_found(cifar10_root, monkeypatch):
    def forbidden(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(torchvision.datasets.cifar, "open", forbidden, raising=False)  # root reads all files
    with pytest.raises(DatasetUnusable, match=r"^cifar10 files under .* cannot be read \(PermissionError: .*"
                       r"give this user read access to them$"):  # fmt: skip
        _build(DatasetConfig(name="cifar10", download=False, verify_checksums=False), cifar10_root)


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda data: data[:1000], "RuntimeError"),  # cut inside the images
        (lambda data: b"<html>an error page saved in its place</html>", "AssertionError"),  # a bad header
    ],
)
def test_damaged_mnist_file_is_one_line_saying_to_download_again(mnist_root, tmp_path, damage, error):
    shutil.copytree(mnist_root / "MNIST", tmp_path / "MNIST")
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(damage(images.read_bytes()))
    unreadable = rf"^mnist files under .*MNIST/raw/ are unreadable \({error}[:)].*download them again$"
    with pytest.raises(DatasetUnusable, match=unreadable):
        _build(DatasetConfig(name="mnist", download=False), tmp_path)
