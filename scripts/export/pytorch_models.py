"""PyTorch modules whose parameter names are those `onecycle export` writes for the CIFAR ResNets
(resnet20/32/44/56/110) and ResNet-9; ResNet-50 is torchvision's own. The layers compute what
onecycle's models compute (crates/vision/src/models), so the exported weights give the same
outputs."""
import torch
import torch.nn.functional as F
from torch import nn


class ConvBn(nn.Module):
    """A 3x3 (or k x k) convolution without bias and its BatchNorm: `conv`, `bn`."""

    def __init__(self, c_in, c_out, k=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Head(nn.Module):
    def __init__(self, c_in, classes, bias=True):
        super().__init__()
        self.fc = nn.Linear(c_in, classes, bias=bias)


class BasicBlock(nn.Module):
    """He et al.'s CIFAR block with the option-A shortcut (subsample, zero-pad channels)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, (c_out - c_in) // 2

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride != 1 or self.pad:
            x = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + x)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR: `stem.{conv,bn}`, `stage{1,2,3}.{b}.*`, `head.fc`."""

    def __init__(self, depth, classes):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = ConvBn(3, 16)
        c_in = 16
        for s, c_out in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if s > 0 and b == 0 else 1))
                c_in = c_out
            setattr(self, f"stage{s + 1}", nn.Sequential(*blocks))
        self.head = Head(64, classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.head.fc(x.mean((2, 3)))


class Residual(nn.Module):
    """A ResNet-9 layer: conv-BN-ReLU, max-pool, then (when `res`) x + res2(res1(x))."""

    def __init__(self, c_in, c_out, res):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        if res:
            self.res1, self.res2 = ConvBn(c_out, c_out), ConvBn(c_out, c_out)
        self.res = res

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return x + self.res2(self.res1(x)) if self.res else x


class ResNet9(nn.Module):
    """Page's ResNet-9: `prep`, `layer{1,2,3}` (1 and 3 with `res{1,2}`), `head.fc` (no bias)."""

    def __init__(self, classes):
        super().__init__()
        self.prep = ConvBn(3, 64)
        self.layer1 = Residual(64, 128, True)
        self.layer2 = Residual(128, 256, False)
        self.layer3 = Residual(256, 512, True)
        self.head = Head(512, classes, bias=False)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.head.fc(torch.amax(x, (2, 3))) * 0.125


def build(name, classes):
    """The PyTorch module for an onecycle model name."""
    if name == "resnet9":
        return ResNet9(classes)
    if name == "resnet50":
        import torchvision

        return torchvision.models.resnet50(num_classes=classes)
    depths = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
    return CifarResNet(depths[name], classes)
