"""The typed config schema: Hydra merges conf/ into these dataclasses, so a wrong type or an unknown
key fails at composition, and `validate` checks ranges and cross-field rules before any data loads.

Every group of conf/ has one dataclass here; the yaml files only set values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from seqnorm_repro import REPO_ROOT

# A new dataset: its name here and in data/stats.py (IMAGE_SHAPES, MEAN_STD), its loader in
# data/build.load_source and find_dataset (torchvision's sets: data/torchvision_sets._SETS, whose classes
# must take (root, train=, download=) and have .targets and .classes: wrap one that differs, as SVHN's
# split= does), conf/dataset/<name>.yaml, and a case in tests/data/test_datasets.py with a writer of tiny
# files in the real format (data/synthetic.py) and its <name>_root fixture (tests/conftest.py).
# dataset.loader=gpu reads CIFAR's (N, H, W, C) uint8 arrays (data/device_loader.py).
DATASETS = ("mnist5k", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet")
MODELS = ("simplenet", "resnet56", "wide_resnet", "resnet18", "timm")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "onecycle")
AMP_MODES = ("none", "bf16", "fp16")
LOGGERS = ("wandb", "none")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the fix."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass
class PathsConfig:
    data_dir: str = "${oc.env:SEQNORM_DATA_DIR,data}"
    imagenet_dir: str = "${paths.data_dir}/imagenet"
    output_dir: str | None = "${hydra:runtime.output_dir}"  # None only in `--cfg job --resolve`: no run

    def __post_init__(self) -> None:
        # relative to where the command ran, also when hydra.job.chdir=true moves into the run directory
        self.data_dir = to_absolute_path(self.data_dir)
        self.imagenet_dir = to_absolute_path(self.imagenet_dir)


@dataclass
class DatasetConfig:
    name: str = "mnist5k"
    val_size: int = 500  # stratified validation split taken from the training set; 0 for none
    test_size: int = 1000  # mnist5k only: stratified test split of the 5,000 digits
    split_seed: int = 0  # the validation (and mnist5k test) split; fixed across a sweep's runs
    download: bool = True  # torchvision datasets: download when missing (needs the internet)
    verify_checksums: bool = True  # torchvision's md5 checks of the CIFAR files
    num_workers: int = 2
    loader: str = "cpu"  # cpu: DataLoader workers | gpu: CIFAR held and augmented on the device

    def __post_init__(self) -> None:
        _require(self.name in DATASETS, f"dataset.name={self.name!r} is not one of {DATASETS}")
        _require(self.loader in ("cpu", "gpu"), f"dataset.loader={self.loader!r}: cpu or gpu")
        _require(
            self.loader == "cpu" or self.name in ("cifar10", "cifar100"),
            f"dataset.loader=gpu holds CIFAR-10/100 only, not dataset={self.name}: use dataset.loader=cpu",
        )
        for key in ("val_size", "test_size", "split_seed"):
            _require(getattr(self, key) >= 0, f"dataset.{key}={getattr(self, key)} must be >= 0")
        _require(self.num_workers >= 0, f"dataset.num_workers={self.num_workers} must be >= 0")


# ModelConfig's fields that one model alone reads (the others ignore them)
_MODEL_SETTINGS = {
    "hidden": "simplenet",
    "dropout": "wide_resnet",
    "depth": "wide_resnet",
    "widen_factor": "wide_resnet",
    "library": "resnet18",
    "init": "resnet18",
    "arch": "timm",
}


def _as_override(value: Any) -> str:
    """`value` as a command-line override writes it: null, true, [512,300], library."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _model_reads(model_name: str, setting: str) -> bool:
    """Whether `model_name` reads ModelConfig's `setting` (every model reads those no model owns)."""
    return _MODEL_SETTINGS.get(setting, model_name) == model_name


@dataclass
class ModelConfig:
    name: str = "simplenet"
    hidden: list[int] = field(default_factory=lambda: [512, 300])  # simplenet's hidden widths
    dropout: float = 0.0  # wide_resnet's dropout between the convolutions of a block
    depth: int = 28  # wide_resnet: WRN-depth-widen_factor (the paper's WRN-28-10)
    widen_factor: int = 10
    library: str = "timm"  # resnet18: "timm" or "torchvision"
    init: str = "library"  # resnet18: the library's own, or "nvidia_fanin" (NVIDIA's recipe, the paper's)
    arch: str | None = None  # timm: any timm model name with BatchNorm layers (resnet50, efficientnet_b0)

    def __post_init__(self) -> None:
        _require(self.name in MODELS, f"model.name={self.name!r} is not one of {MODELS}")
        _require(0.0 <= self.dropout < 1.0, f"model.dropout={self.dropout} must be in [0, 1)")
        _require(all(width >= 1 for width in self.hidden), f"model.hidden={self.hidden}: widths must be >= 1")
        _require(self.widen_factor >= 1, f"model.widen_factor={self.widen_factor} must be >= 1")
        _require(
            self.library in ("timm", "torchvision"), f"model.library={self.library!r}: timm or torchvision"
        )
        _require(
            self.init in ("library", "nvidia_fanin"), f"model.init={self.init!r}: library or nvidia_fanin"
        )
        _require(
            self.name != "timm" or bool(self.arch),
            "model=timm needs model.arch=<a timm model name>, e.g. model.arch=resnet50",
        )
        for f in fields(self):  # a setting of another model would be ignored silently
            default = f.default_factory() if callable(f.default_factory) else f.default
            _require(
                _model_reads(self.name, f.name) or getattr(self, f.name) == default,
                f"model.{f.name}={getattr(self, f.name)} applies to model.name={_MODEL_SETTINGS.get(f.name)} "
                f"only: drop the override, or set model.{f.name}={_as_override(default)} if a preset sets "
                f"it ({self.name} does not read it)",
            )


@dataclass
class NormConfig:
    name: str = "batchnorm"  # see seqnorm_repro.norms.NORM_LAYERS
    # ghost groups per forward pass, or per paper_device_batch samples under a paper preset
    # (train/norm_groups.plan_norm); read by ghostnorm, seqnorm, noisy_batchnorm
    gm: int | None = None
    gc: int | None = None  # channel groups (seqnorm, groupnorm)
    noise_std: float | None = None  # noisy_batchnorm
    impl: str | None = None  # ghostnorm, seqnorm: auto | triton | fused | reference
    eps: float | None = None  # every norm but none: added to the variance
    momentum: float | None = None  # norms with running statistics (not groupnorm, none)

    def __post_init__(self) -> None:
        _require(self.eps is None or self.eps > 0, f"norm.eps={self.eps} must be > 0")
        _require(
            self.momentum is None or 0 < self.momentum <= 1,
            f"norm.momentum={self.momentum} must be in (0, 1] (BatchNorm's: this batch's weight in the "
            "running averages)",
        )

    def params(self) -> dict[str, Any]:
        """The keyword arguments for make_norm: every field but the name that this norm's yaml set (a new
        layer setting needs only a field here and a key in its yaml)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class OptimConfig:
    lr: float = 0.4
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    norm_weight_decay: bool = False  # decay norm weights and biases (ndim <= 1) too
    reference_batch: int | None = None  # linear scaling: lr is per this many images

    def __post_init__(self) -> None:
        _require(self.lr > 0, f"optim.lr={self.lr} must be > 0")
        _require(0 <= self.momentum < 1, f"optim.momentum={self.momentum} must be in [0, 1)")
        _require(self.weight_decay >= 0, f"optim.weight_decay={self.weight_decay} must be >= 0")
        _require(not self.nesterov or self.momentum > 0, "optim.nesterov=true needs optim.momentum > 0")
        _require(
            self.reference_batch is None or self.reference_batch >= 1,
            f"optim.reference_batch={self.reference_batch} must be >= 1 (or null: lr is per batch)",
        )


@dataclass
class ScheduleConfig:
    """Learning-rate multipliers of optim.lr, stepped per iteration.

    constant: 1. cosine: 1 -> end_factor. warmup_cosine: start_factor -> peak_factor linearly over
    warmup_epochs, then cosine -> end_factor. onecycle: start_factor -> peak_factor over warmup_epochs,
    -> start_factor over cooldown_epochs, then -> end_factor linearly over the remaining epochs.
    """

    name: str = "constant"
    warmup_epochs: float = 0.0
    cooldown_epochs: float = 0.0
    start_factor: float = 1.0
    peak_factor: float = 1.0
    end_factor: float = 0.0

    def __post_init__(self) -> None:
        _require(self.name in SCHEDULES, f"schedule.name={self.name!r} is not one of {SCHEDULES}")
        _require(self.warmup_epochs >= 0 and self.cooldown_epochs >= 0, "schedule epochs must be >= 0")
        for key in ("start_factor", "peak_factor", "end_factor"):
            _require(getattr(self, key) >= 0, f"schedule.{key}={getattr(self, key)} must be >= 0")


@dataclass
class AugmentConfig:
    flip: bool = False
    pad_crop: int = 0  # random crop after zero-padding by this many pixels (CIFAR: 4)
    cutout: int = 0  # side of the square Cutout patch (CIFAR: 16)
    randaugment_n: int = 0  # torchvision RandAugment num_ops; 0 turns it off
    randaugment_m: int = 9  # RandAugment magnitude
    random_resized_crop: int = 0  # ImageNet training crop size (224)
    eval_resize: int = 0  # ImageNet evaluation: resize to this, then centre-crop
    eval_crop: int = 0
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup of batches; 0 turns it off

    def __post_init__(self) -> None:
        for key in ("pad_crop", "cutout", "randaugment_n", "random_resized_crop", "eval_resize", "eval_crop"):
            _require(getattr(self, key) >= 0, f"augment.{key}={getattr(self, key)} must be >= 0")
        _require(
            0 <= self.randaugment_m <= 30, f"augment.randaugment_m={self.randaugment_m} must be in [0, 30]"
        )
        _require(self.mixup_alpha >= 0, f"augment.mixup_alpha={self.mixup_alpha} must be >= 0")


@dataclass
class LoggerConfig:
    name: str = "wandb"
    mode: str = "offline"  # offline (the default: no account; `wandb sync` uploads later) | online | disabled
    project: str = "seqnorm-repro"
    entity: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        _require(self.name in LOGGERS, f"logger.name={self.name!r} is not one of {LOGGERS}")
        modes = ("offline", "online", "disabled", "dryrun", "run", "shared")  # W&B's, with its aliases
        _require(
            self.mode in modes,
            f"logger.mode={self.mode!r} is not one of {modes} (unless set, it is $WANDB_MODE or offline)",
        )


@dataclass
class TrainerConfig:
    epochs: int = 15
    batch_size: int = 128  # global batch per optimizer step
    eval_batch_size: int = 1000
    accumulate_steps: int = 1  # forward passes per step; each sees batch_size / accumulate_steps
    device: str = "auto"  # auto: cuda when available, else cpu
    amp: str = "none"  # none | bf16 | fp16 (torch.autocast on any device; fp16 uses a GradScaler)
    channels_last: bool = False
    compile: bool = False
    grad_clip: float | None = None  # max global gradient norm
    label_smoothing: float = 0.0
    deterministic: bool = False
    resume: str = "auto"  # auto: continue from checkpoints/last.pt in the run dir | never
    # smoke runs: stop each epoch after this many optimizer steps (each of trainer.accumulate_steps batches)
    limit_train_batches: int | None = None
    limit_eval_batches: int | None = None
    progress: bool = True  # tqdm bars on a terminal
    sync_bn: bool = False  # BatchNorm over the global batch of all processes (SyncBatchNorm)
    dist_timeout_s: float = 600.0  # a collective waiting longer (a dead or hung rank) ends the job

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_batch_size", "accumulate_steps"):
            _require(getattr(self, key) >= 1, f"trainer.{key}={getattr(self, key)} must be >= 1")
        for key in ("limit_train_batches", "limit_eval_batches"):
            value = getattr(self, key)
            _require(value is None or value >= 1, f"trainer.{key}={value} must be >= 1 (or null: no limit)")
        _require(
            re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device) is not None,
            f"trainer.device={self.device!r} is not one of auto, cpu, cuda, cuda:N, mps",
        )
        _require(self.amp in AMP_MODES, f"trainer.amp={self.amp!r} is not one of {AMP_MODES}")
        _require(self.resume in ("auto", "never"), f"trainer.resume={self.resume!r}: auto or never")
        _require(
            self.grad_clip is None or self.grad_clip > 0, f"trainer.grad_clip={self.grad_clip} must be > 0"
        )
        _require(
            0 <= self.label_smoothing < 1, f"trainer.label_smoothing={self.label_smoothing} not in [0, 1)"
        )
        _require(
            self.batch_size % self.accumulate_steps == 0,
            f"trainer.batch_size={self.batch_size} is not divisible by trainer.accumulate_steps="
            f"{self.accumulate_steps}",
        )


@dataclass
class LandscapeConfig:
    """The loss-landscape probe (Santurkar et al. 2018; the paper's Section 3.1 and A.2)."""

    enabled: bool = False
    every: int = 1  # probe every k-th optimizer step
    mode: str = "fixed"  # fixed: step_sizes are learning rates | schedule: multiples of the current lr
    step_sizes: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    test_every_epoch: bool = True  # test error after every epoch: the figures' test-error panel

    def __post_init__(self) -> None:
        _require(self.every >= 1, f"landscape.every={self.every} must be >= 1")
        _require(self.mode in ("fixed", "schedule"), f"landscape.mode={self.mode!r}: fixed or schedule")
        _require(
            len(self.step_sizes) > 0 and all(s > 0 for s in self.step_sizes),
            f"landscape.step_sizes={self.step_sizes} must be positive",
        )


@dataclass
class Config:
    seed: int = 0
    gm: int = 8  # fed to norm.gm by conf/norm/{ghostnorm,seqnorm}.yaml
    gc: int = 4  # fed to norm.gc by conf/norm/{seqnorm,groupnorm}.yaml
    # Paper presets: gm counts groups per this many samples (the paper's per-GPU batch), and every
    # BatchNorm-type layer keeps the paper's samples per group on any device count (README,
    # "Normalisation groups"). None: gm counts groups per forward pass on each device.
    paper_device_batch: int | None = None
    name: str = "mnist5k_simplenet"
    tags: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    norm: NormConfig = field(default_factory=NormConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    landscape: LandscapeConfig = field(default_factory=LandscapeConfig)


def settings_the_run_reads(config: dict[str, Any]) -> dict[str, Any]:
    """The resolved `config` less what the run cannot read: the top-level gm and gc (norm.gm and norm.gc
    hold what the norm takes) and the model settings another model owns, so that a dashboard shows a
    BatchNorm run no gm and a ResNet-56 run no WRN depth."""
    model = config["model"]
    return {
        **{key: value for key, value in config.items() if key not in ("gm", "gc")},
        "model": {key: value for key, value in model.items() if _model_reads(model["name"], key)},
    }


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore; conf/config.yaml lists it first in its defaults."""
    ConfigStore.instance().store(name="schema", node=Config)


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """conf/ composed with Hydra's compose API, exactly as `python train.py <overrides>` would."""
    register_configs()
    GlobalHydra.instance().clear()  # a Hydra app (or an earlier compose) may hold it
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def override_key(override: str) -> str:
    """The setting a command-line override names: `+norm.eps=1e-3` -> `norm.eps`."""
    return override.partition("=")[0].lstrip("+~")


def _require_known_keys(cfg: DictConfig) -> None:
    """`+group.key=value` adds a key the schema lacks (Hydra allows it), which nothing would read."""
    defaults = Config()
    unknown = [key for key in cfg if not hasattr(defaults, key)]
    for f in fields(Config):
        group = getattr(defaults, f.name)
        if is_dataclass(group) and isinstance(cfg.get(f.name), DictConfig):
            unknown += [f"{f.name}.{key}" for key in cfg[f.name] if not hasattr(group, key)]
    _require(
        not unknown,
        f"{', '.join(map(str, unknown))}: no such setting, so nothing would read it; remove it (or add the "
        "field to its dataclass in seqnorm_repro/config.py and use it)",
    )


def _require_run_dir(cfg: DictConfig) -> None:
    """paths.output_dir is the run directory that `python train.py` makes, which also holds the run's log
    and .hydra/ record, so there it stays Hydra's; composed outside it (a notebook) it must be given."""
    given = OmegaConf.to_container(cfg.paths, resolve=False).get("output_dir")
    if not HydraConfig.initialized():
        _require(
            "${hydra:" not in str(given),
            f"paths.output_dir={given} is the run directory that `python train.py` makes; composed "
            "outside it, add the override paths.output_dir=<run dir>",
        )
        return
    _require(
        Path(cfg.paths.output_dir).resolve() == Path(HydraConfig.get().runtime.output_dir).resolve(),
        f"paths.output_dir={given} would split the run from its train.log and .hydra/ (and under -m put "
        f"every job in one directory): set hydra.run.dir={given} instead (hydra.sweep.dir=... under -m)",
    )


def _require_one_preset() -> None:
    """`experiment=[a,b]` merges two presets into a hybrid of both named after the last (Hydra allows it)."""
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    presets = [o.partition("=")[2] for o in overrides if override_key(o) == "experiment"]
    _require(
        not any(p.startswith("[") and "," in p for p in presets),
        f"experiment={presets[-1] if presets else ''}: each preset is a whole setup and they would merge "
        "into a hybrid; pick one (sweep several with -m experiment=a,b)",
    )


def validate(cfg: DictConfig) -> Config:
    """Resolve `cfg` into typed dataclasses (running their range checks), then the cross-field rules.

    Raises ConfigError with the key to change; needs no data and builds no model. The rules that need
    the process count (gm divides the per-device batch, sync_bn) are `train.norm_groups.plan_norm`'s,
    and those that need the model (gc divides its channels) `train.runner._check_model_builds`'s.
    """
    _require_known_keys(cfg)
    _require_run_dir(cfg)
    _require_one_preset()
    try:
        typed: Config = OmegaConf.to_object(cfg)
    except ValueError as err:  # a __post_init__ check; OmegaConf wraps it with its own context
        raise ConfigError(str(err).splitlines()[0]) from None
    from seqnorm_repro.norms import NORM_LAYERS  # imports torch: not for every config user

    norm = typed.norm
    _require(norm.name in NORM_LAYERS, f"norm.name={norm.name!r} is not one of {sorted(NORM_LAYERS)}")
    _require(  # null would leave the layer's 0.1, not torch's cumulative average
        norm.momentum is not None or not hasattr(NORM_LAYERS[norm.name], "reset_running_stats"),
        f"norm.momentum=null: norm={norm.name} keeps running statistics and needs a momentum in (0, 1]; "
        "the cumulative average (momentum=None) is the Python API's only",
    )
    if norm.gm is not None:
        _require(norm.gm >= 1, f"gm={norm.gm} must be >= 1")
    if norm.gc is not None:
        _require(norm.gc >= 1, f"gc={norm.gc} must be >= 1")
    if typed.dataset.loader == "gpu":
        from seqnorm_repro.data.device_augment import check_supported  # the data package imports config

        check_supported(typed.augment)
    return typed
