"""Caffe layer types as torch modules, each reproducing Caffe's arithmetic (see `BUILDERS`).

A builder takes the layer's spec (from the prototxt) and its parameter blobs (from the
caffemodel), checks that they agree, and returns a module whose forward takes the layer's bottom
blobs and returns its top blob (a tuple for layers with several tops). Modules never work in
place: the net keeps every blob, and hooks read them.

The builders live by kind in layers_weighted, layers_pooling, layers_activation and
layers_plumbing (importing them fills `BUILDERS`), the shared pieces in layer_base; this module
keeps the names callers import from it.
"""
from __future__ import annotations

# Imported for their builders, which register themselves in BUILDERS.
from models.caffe import layers_activation, layers_plumbing, layers_pooling, layers_weighted  # noqa: F401
from models.caffe.layer_base import BUILDERS, WEIGHTED, Builder, CaffeError, Lambda, LayerSpec, build, builder
from models.caffe.layers_activation import Dropout
from models.caffe.layers_pooling import LRN, Pooling
from models.caffe.layers_weighted import BatchNorm, ChannelAffine, InnerProduct

__all__ = ["BUILDERS", "WEIGHTED", "BatchNorm", "Builder", "CaffeError", "ChannelAffine", "Dropout", "InnerProduct",
           "LRN", "Lambda", "LayerSpec", "Pooling", "build", "builder"]
