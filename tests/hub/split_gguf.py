"""Splits a GGUF model into shards as llama.cpp's gguf-split does (`x-00001-of-0000N.gguf`)."""

from __future__ import annotations

import math
from pathlib import Path

import gguf


def split_gguf(source: Path, first_shard_stem: Path, parts: int) -> list[Path]:
    """Writes the shards beside `first_shard_stem` (e.g. dir/model-Q4_1) and returns them."""
    reader = gguf.GGUFReader(source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    per_shard = math.ceil(len(reader.tensors) / parts)
    writer = gguf.GGUFWriter(
        first_shard_stem.with_suffix(".gguf"), arch, split_max_tensors=per_shard
    )
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name,
            tensor.data.shape,
            tensor.data.dtype,
            tensor.data.nbytes,
            tensor.tensor_type,
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return sorted(first_shard_stem.parent.glob(f"{first_shard_stem.name}-*-of-*.gguf"))
