"""The built-in networks as torch modules whose every operation is a module, so hooks see each layer.

Module names follow torchvision where it has the model (``layer1.0.conv1``, ``features.3``,
``classifier.6``), so its state dicts load here; elementwise steps torchvision writes inline are
modules here (`Add`, `MatMul`, ``relu1``/``relu2`` instead of one ReLU called twice, ``flatten``).
Names depend only on the architecture, never on ``width``, ``input_size``, ``num_classes`` or
``in_channels``: a narrow ResNet-18 on 8x8 images has exactly the module names of the full one, which
lets the training replay map per-layer records onto the trained model.

``vgg16`` is the plain VGG-16 (torchvision's ``vgg16``, no batch-norm) unless ``batch_norm=True``.
Each built model carries ``input_shape`` (per sample) and ``is_classifier`` (trained with cross-entropy).
Construction draws initial weights from torch's global generator like any ``nn.Module``; pass
``generator=`` to `build` for weights drawn from a seeded `torch.Generator` instead.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
from torch import nn

from models.errors import UserError


class Add(nn.Module):
    """Elementwise sum of two tensors (a residual connection)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class MatMul(nn.Module):
    """Product of two activations ``a @ b`` (batched over leading dims), times a fixed ``scale``."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(a, b)
        return out * self.scale if self.scale != 1.0 else out

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def _check(model: str, width: float, input_size: int, num_classes: int, in_channels: int,
           min_input_size: int) -> None:
    checks = (("width", width, width > 0, "must be > 0"),
              ("input_size", input_size, input_size >= min_input_size, f"must be >= {min_input_size}"),
              ("num_classes", num_classes, num_classes >= 1, "must be >= 1"),
              ("in_channels", in_channels, in_channels >= 1, "must be >= 1"))
    for key, value, ok, accepted in checks:
        if not ok:
            raise UserError(f"{model}: {key} = {value} ({accepted})")


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _finish(model: nn.Module, input_shape: tuple[int, ...], is_classifier: bool) -> nn.Module:
    model.input_shape = input_shape
    model.is_classifier = is_classifier
    return model


# ---------------------------------------------------------------- ResNet


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, downsample: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if downsample else None)
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu2(self.add(out, identity))


class ResNet(nn.Module):
    """ResNet with BasicBlocks; ``imagenet_stem`` adds the 7x7/2 stem conv and the 3x3/2 max-pool."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], in_channels: int,
                 num_classes: int, imagenet_stem: bool):
        super().__init__()
        stem = widths[0]
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet_stem else None
        cin = stem
        for i, (cout, count) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(cin, cout, stride, downsample=i > 0)]
            stage += [BasicBlock(cout, cout, 1, downsample=False) for _ in range(count - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, num_classes)
        self.stages = len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(*, width: float = 1.0, input_size: int = 224, num_classes: int = 1000,
             in_channels: int = 3) -> nn.Module:
    _check("resnet18", width, input_size, num_classes, in_channels, 1)
    widths = tuple(_scaled(c, width) for c in (64, 128, 256, 512))
    model = ResNet(widths, (2, 2, 2, 2), in_channels, num_classes, imagenet_stem=True)
    return _finish(model, (in_channels, input_size, input_size), True)


def tiny_resnet(*, width: float = 1.0, input_size: int = 8, num_classes: int = 10,
                in_channels: int = 1) -> nn.Module:
    """Two residual blocks (one identity, one with a 1x1 stride-2 downsample), 3x3 stem, no max-pool."""
    _check("tiny_resnet", width, input_size, num_classes, in_channels, 1)
    widths = tuple(_scaled(c, width) for c in (8, 16))
    model = ResNet(widths, (1, 1), in_channels, num_classes, imagenet_stem=False)
    return _finish(model, (in_channels, input_size, input_size), True)


# ---------------------------------------------------------------- VGG and AlexNet

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class Classic(nn.Module):
    """``features`` -> ``avgpool`` -> ``flatten`` -> ``classifier``, the torchvision VGG/AlexNet layout."""

    def __init__(self, features: nn.Sequential, pool: int, classifier: nn.Sequential):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.flatten = nn.Flatten()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def vgg16(*, width: float = 1.0, input_size: int = 224, num_classes: int = 1000, in_channels: int = 3,
          batch_norm: bool = False, dropout: float = 0.5) -> nn.Module:
    _check("vgg16", width, input_size, num_classes, in_channels, 32)
    layers: list[nn.Module] = []
    cin = in_channels
    for v in _VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        cout = _scaled(v, width)
        layers.append(nn.Conv2d(cin, cout, 3, 1, 1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU())
        cin = cout
    hidden = _scaled(4096, width)
    classifier = nn.Sequential(nn.Linear(cin * 49, hidden), nn.ReLU(), nn.Dropout(dropout),
                               nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                               nn.Linear(hidden, num_classes))
    return _finish(Classic(nn.Sequential(*layers), 7, classifier), (in_channels, input_size, input_size), True)


def alexnet(*, width: float = 1.0, input_size: int = 224, num_classes: int = 1000, in_channels: int = 3,
            dropout: float = 0.5) -> nn.Module:
    _check("alexnet", width, input_size, num_classes, in_channels, 63)
    c1, c2, c3, c4, c5 = (_scaled(c, width) for c in (64, 192, 384, 256, 256))
    features = nn.Sequential(
        nn.Conv2d(in_channels, c1, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c1, c2, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c2, c3, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(c3, c4, 3, 1, 1), nn.ReLU(),
        nn.Conv2d(c4, c5, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2))
    hidden = _scaled(4096, width)
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c5 * 36, hidden), nn.ReLU(),
                               nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
                               nn.Linear(hidden, num_classes))
    return _finish(Classic(features, 6, classifier), (in_channels, input_size, input_size), True)


# ---------------------------------------------------------------- MobileNetV2


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: nearest multiple of ``divisor``, never more than 10% below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int, residual: bool):
        super().__init__()
        hidden = round(cin * expand)
        layers: list[nn.Module] = [_conv_bn_relu6(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.add = Add() if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add(x, self.conv(x)) if self.add is not None else self.conv(x)


class MobileNetV2(nn.Module):
    # (expansion t, channels c, repeats n, first stride s), from the MobileNetV2 paper, table 2
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width: float, in_channels: int, num_classes: int, dropout: float):
        super().__init__()
        cin = _make_divisible(32 * width)
        last = _make_divisible(1280 * max(1.0, width))
        blocks: list[nn.Module] = [_conv_bn_relu6(in_channels, cin, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            cout = _make_divisible(c * width)
            for i in range(n):
                # the residual is decided by the unscaled architecture so names never depend on width
                blocks.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, residual=i > 0))
                cin = cout
        blocks.append(_conv_bn_relu6(cin, last, 1, 1))
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def mobilenet_v2(*, width: float = 1.0, input_size: int = 224, num_classes: int = 1000,
                 in_channels: int = 3, dropout: float = 0.2) -> nn.Module:
    _check("mobilenet_v2", width, input_size, num_classes, in_channels, 1)
    model = MobileNetV2(width, in_channels, num_classes, dropout)
    return _finish(model, (in_channels, input_size, input_size), True)


# ---------------------------------------------------------------- transformer encoder layer


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.scores = MatMul(scale=1.0 / math.sqrt(self.head_dim))
        self.softmax = nn.Softmax(dim=-1)
        self.dropout = nn.Dropout(dropout)
        self.context = MatMul()
        self.out = nn.Linear(hidden, hidden)
        self.out_dropout = nn.Dropout(dropout)
        self.add = Add()
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = t.shape
        return t.view(batch, seq, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        probs = self.dropout(self.softmax(self.scores(q, k.transpose(-1, -2))))
        ctx = self.context(probs, v).transpose(1, 2).reshape(x.shape)
        return self.norm(self.add(self.out_dropout(self.out(ctx)), x))


class FeedForward(nn.Module):
    def __init__(self, hidden: int, inner: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.gelu = nn.GELU()
        self.fc2 = nn.Linear(inner, hidden)
        self.dropout = nn.Dropout(dropout)
        self.add = Add()
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.add(self.dropout(self.fc2(self.gelu(self.fc1(x)))), x))


class EncoderLayer(nn.Module):
    """One post-LayerNorm transformer encoder layer (BERT's): attention block then feed-forward block."""

    def __init__(self, hidden: int, heads: int, inner: int, dropout: float):
        super().__init__()
        self.attn = SelfAttention(hidden, heads, dropout)
        self.ffn = FeedForward(hidden, inner, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attn(x))


def bert_encoder(*, width: float = 1.0, input_size: int = 128, num_classes: int | None = None,
                 in_channels: int | None = None, heads: int = 12, dropout: float = 0.1) -> nn.Module:
    """BERT-base encoder layer: hidden 768·width (a multiple of ``heads``), FFN 3072·width,
    ``input_size`` = sequence length. Input: embeddings ``seq x hidden`` per sample."""
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None:
            raise UserError(f"bert_encoder: {key} = {value} (not accepted: one encoder layer has no "
                            "classifier and takes hidden-size embeddings; use width)")
    if heads < 1:
        raise UserError(f"bert_encoder: heads = {heads} (must be >= 1)")
    _check("bert_encoder", width, input_size, 1, 1, 1)
    hidden = heads * max(1, round(768 * width / heads))
    model = EncoderLayer(hidden, heads, _scaled(3072, width), dropout)
    return _finish(model, (input_size, hidden), False)


# ---------------------------------------------------------------- tiny models for tests


class TinyCNN(nn.Module):
    def __init__(self, width: float, in_channels: int, num_classes: int):
        super().__init__()
        c1, c2 = _scaled(8, width), _scaled(16, width)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(c1, c2, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        return self.fc(self.flatten(x))


def tiny_cnn(*, width: float = 1.0, input_size: int = 8, num_classes: int = 10,
             in_channels: int = 1) -> nn.Module:
    _check("tiny_cnn", width, input_size, num_classes, in_channels, 2)
    return _finish(TinyCNN(width, in_channels, num_classes), (in_channels, input_size, input_size), True)


class TinyMLP(nn.Module):
    def __init__(self, features: int, width: float, num_classes: int):
        super().__init__()
        h1, h2 = _scaled(64, width), _scaled(32, width)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(features, h1)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(h1, h2)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(h2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(self.flatten(x))))))


def tiny_mlp(*, width: float = 1.0, input_size: int = 8, num_classes: int = 10,
             in_channels: int = 1) -> nn.Module:
    _check("tiny_mlp", width, input_size, num_classes, in_channels, 1)
    model = TinyMLP(in_channels * input_size * input_size, width, num_classes)
    return _finish(model, (in_channels, input_size, input_size), True)


# ---------------------------------------------------------------- registry

MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18, "vgg16": vgg16, "alexnet": alexnet, "mobilenet_v2": mobilenet_v2,
    "bert_encoder": bert_encoder, "tiny_cnn": tiny_cnn, "tiny_resnet": tiny_resnet, "tiny_mlp": tiny_mlp,
}


def init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter from ``generator``: convs He-normal (fan-out, as torchvision), linears
    PyTorch's default uniform, norms gamma = 1 and beta = 0."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


def build(name: str, *, generator: torch.Generator | None = None, **kw) -> nn.Module:
    """Build the registered model ``name`` with keyword arguments ``kw`` (``width``, ``input_size``,
    ``num_classes``, ``in_channels``, ...); with ``generator``, weights are drawn from it."""
    if name not in MODELS:
        raise UserError(f"workload {name!r} is not a built-in model (available: {', '.join(MODELS)})")
    accepted = inspect.signature(MODELS[name]).parameters
    for key in kw:
        if key not in accepted:
            raise UserError(f"{name}: unknown argument {key!r} (accepted: {', '.join(accepted)})")
    model = MODELS[name](**kw)
    if generator is not None:
        init_parameters(model, generator)
    return model
