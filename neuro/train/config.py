"""Run configuration: TOML -> validated frozen dataclasses, and back to TOML.

A config file has three tables, ``[data]``, ``[model]`` and ``[train]``; every key is optional
(defaults below) and an unknown key or a value outside its allowed set is a ``ConfigError``
naming the key and what is allowed. ``--set train.epochs=3`` overrides one key (the value is
parsed as TOML, falling back to a bare string).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from neuro.errors import ConfigError
from neuro.train.contrastive_config import ContrastiveConfig
from neuro.train.hebbian_config import HebbianConfig
from neuro.train.ff_config import FFConfig
from neuro.train.amsu_config import AMSUConfig
from neuro.train.nalsm_config import NALSMConfig

DatasetName = Literal["digits", "mnist", "fashion_mnist"]
EncodingName = Literal["rate", "latency", "direct"]
ModelKind = Literal["spiking_mlp", "spiking_conv", "ann_mlp", "ann_conv"]
NeuronName = Literal["lif", "alif"]
ResetName = Literal["subtract", "zero"]
SurrogateName = Literal["fast_sigmoid", "atan", "straight_through"]
ReadoutName = Literal["membrane_mean", "membrane_max", "membrane_last", "spike_count"]
LossName = Literal["membrane_ce", "rate_ce", "count_mse"]
OptimizerName = Literal["adam", "sgd"]
ScheduleName = Literal["cosine", "step", "none"]
BackendName = Literal["torch", "numba"]
# learning rules `neuro train` dispatches on (train.rule); "backprop" = surrogate BPTT / backprop.
RuleName = Literal["backprop", "ff", "ff_unsup", "ff_spiking", "ff_model_free", "ep", "chl", "dualprop",
                   "krotov", "softhebb", "amsu", "nalsm"]


@dataclass(frozen=True)
class DataConfig:
    """Dataset and spike encoding. ``limit_*`` > 0 keeps the first N samples (quick runs)."""

    name: DatasetName = "digits"
    val_fraction: float = 0.0
    encoding: EncodingName = "rate"
    num_steps: int = 25
    gain: float = 1.0
    limit_train: int = 0
    limit_test: int = 0

    def __post_init__(self) -> None:
        _range("data.val_fraction", self.val_fraction, 0.0, 0.5)
        _range("data.num_steps", self.num_steps, 1, 10_000)
        _range("data.gain", self.gain, 0.0, 100.0)
        _range("data.limit_train", self.limit_train, 0, 10**9)
        _range("data.limit_test", self.limit_test, 0, 10**9)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and neuron. MLPs use ``hidden``; conv nets use ``channels`` and ``kernel_size``.
    ``rho`` and ``adapt`` apply to ``neuron = "alif"`` only."""

    kind: ModelKind = "spiking_mlp"
    hidden: tuple[int, ...] = (128,)
    channels: tuple[int, ...] = (12, 32)
    kernel_size: int = 5
    neuron: NeuronName = "lif"
    beta: float = 0.9
    v_th: float = 1.0
    reset: ResetName = "subtract"
    refractory_steps: int = 0
    rho: float = 0.95
    adapt: float = 0.2
    surrogate: SurrogateName = "fast_sigmoid"
    surrogate_slope: float = 0.0
    readout: ReadoutName = "membrane_mean"

    def __post_init__(self) -> None:
        for i, h in enumerate(self.hidden):
            _range(f"model.hidden[{i}]", h, 1, 1_000_000)
        if len(self.channels) != 2:
            raise ConfigError(f"model.channels={list(self.channels)} has {len(self.channels)} entries; "
                              "allowed: exactly 2 (conv-pool-conv-pool-fc).")
        for i, c in enumerate(self.channels):
            _range(f"model.channels[{i}]", c, 1, 4096)
        _range("model.kernel_size", self.kernel_size, 1, 15)
        _range("model.beta", self.beta, 0.0, 1.0)
        _range("model.v_th", self.v_th, 1e-6, 1e6)
        _range("model.refractory_steps", self.refractory_steps, 0, 10_000)
        _range("model.rho", self.rho, 0.0, 1.0)
        _range("model.adapt", self.adapt, 0.0, 1e3)
        _range("model.surrogate_slope", self.surrogate_slope, 0.0, 1e4)

    @property
    def spiking(self) -> bool:
        return self.kind.startswith("spiking")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. ``eval_backends``: backends the final model is evaluated on (spiking models)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: OptimizerName = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: ScheduleName = "cosine"
    step_size: int = 10
    gamma: float = 0.1
    loss: LossName = "membrane_ce"
    seed: int = 0
    device: str = "auto"
    eval_backends: tuple[BackendName, ...] = ("torch", "numba")
    rule: RuleName = "backprop"

    def __post_init__(self) -> None:
        _range("train.epochs", self.epochs, 1, 100_000)
        _range("train.batch_size", self.batch_size, 1, 1_000_000)
        _range("train.lr", self.lr, 1e-12, 10.0)
        _range("train.momentum", self.momentum, 0.0, 1.0)
        _range("train.weight_decay", self.weight_decay, 0.0, 1.0)
        _range("train.step_size", self.step_size, 1, 100_000)
        _range("train.gamma", self.gamma, 0.0, 1.0)
        _range("train.seed", self.seed, 0, 2**63 - 1)
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ConfigError(f"train.device={self.device!r} is not supported; allowed: auto, cpu, cuda, cuda:N.")
        if not self.eval_backends:
            raise ConfigError("train.eval_backends is empty; allowed: a non-empty list of torch, numba.")


@dataclass(frozen=True)
class RunConfig:
    """A whole run: ``[data]``, ``[model]``, ``[train]``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ff: FFConfig = field(default_factory=FFConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    hebbian: HebbianConfig = field(default_factory=HebbianConfig)
    amsu: AMSUConfig = field(default_factory=AMSUConfig)
    nalsm: NALSMConfig = field(default_factory=NALSMConfig)

    def __post_init__(self) -> None:
        if self.train.loss in ("rate_ce", "count_mse") and not self.model.spiking:
            raise ConfigError(f"train.loss={self.train.loss!r} needs a spiking model; model.kind="
                              f"{self.model.kind!r} is an ANN: use loss = \"membrane_ce\" (plain cross-entropy).")


def _range(key: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise ConfigError(f"{key}={value!r} is out of range; allowed: a number in [{lo}, {hi}].")


# ---------------------------------------------------------------------------------------------
# dict <-> dataclass


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, checking keys, types and Literal choices."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table; got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"[{prefix}]" if prefix else "the top level"
        raise ConfigError(f"unknown key {prefix + '.' if prefix else ''}{unknown[0]} in {where}; allowed keys: "
                          f"{', '.join(names)}.")
    kwargs = {}
    for name in names:
        if name in data:
            key = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _coerce(key, data[name], hints[name])
    return cls(**kwargs)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not allowed; allowed values: {', '.join(map(str, allowed))}.")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} must be a list; e.g. {key.split('.')[-1]} = [128].")
        inner = get_args(tp)[0]
        return tuple(_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r} must be a number.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false.")
        return value
    if isinstance(tp, types.UnionType):  # pragma: no cover - not used by the tables above
        return value
    return value


def to_dict(cfg: Any) -> dict:
    """Nested plain dict (tuples become lists) of a config dataclass."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = to_dict(v) if dataclasses.is_dataclass(v) else (list(v) if isinstance(v, tuple) else v)
    return out


def to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML (every key, defaults included)."""
    lines = ["# resolved neuroforge run config (every key, defaults included)"]
    for table, values in to_dict(cfg).items():
        lines.append(f"\n[{table}]")
        for k, v in values.items():
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} to TOML")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``table.key=value`` strings to a nested dict (values parsed as TOML)."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        path, sep, raw = item.partition("=")
        parts = path.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set {item!r} is malformed; allowed: TABLE.KEY=VALUE, e.g. train.epochs=3.")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        table = data.setdefault(parts[0], {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {item!r}: {parts[0]} is not a table; allowed tables: data, model, train.")
        table[parts[1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a TOML file (or start from defaults when ``path`` is None) and apply ``--set`` overrides."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist; pass a TOML file such as "
                              "examples/configs/snn_mlp_digits.toml.")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}.") from None
    data = apply_overrides(data, overrides or [])
    return from_dict(RunConfig, data)
