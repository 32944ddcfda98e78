"""Caffe's activations, element by element: ReLU, Sigmoid, TanH, ELU, AbsVal, Power, Dropout,
Softmax."""
from __future__ import annotations

import torch
from torch import nn

from models.caffe.layer_base import Lambda, LayerSpec, builder
from models.caffe.wire import Blob


# --- activations -----------------------------------------------------------------------------
@builder("ReLU")
def relu(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    slope = spec.param("relu_param").get_float("negative_slope", 0.0)
    return nn.LeakyReLU(slope) if slope else nn.ReLU()


@builder("Sigmoid")
def sigmoid(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Sigmoid()


@builder("TanH")
def tanh(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Tanh()


@builder("ELU")
def elu(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.ELU(spec.param("elu_param").get_float("alpha", 1.0))




@builder("AbsVal")
def absval(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return Lambda(torch.abs, "abs")


@builder("Power")
def power(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    p = spec.param("power_param")
    pw, sc, sh = p.get_float("power", 1.0), p.get_float("scale", 1.0), p.get_float("shift", 0.0)
    return Lambda(lambda x: (sh + sc * x) ** pw, f"({sh} + {sc}·x)^{pw}")


class Dropout(nn.Identity):
    """Caffe's Dropout at test time passes its input through unchanged."""


@builder("Dropout")
def dropout(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return Dropout()


@builder("Softmax")
def softmax(spec: LayerSpec, blobs: list[Blob]) -> nn.Module:
    return nn.Softmax(dim=spec.param("softmax_param").get_int("axis", 1))
