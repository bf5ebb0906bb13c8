#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses into corpus/<harness>/.

A few valid and near-valid small files per reader. The safetensors, config and
descriptor seeds need only the standard library; the torch.save seeds need
Debian's python3-torch (run with /usr/bin/python3) and are skipped without it.
The output is committed; rerun this only to change the seeds.
"""

import io
import json
import os
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(harness, name, data):
    folder = os.path.join(HERE, "corpus", harness)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors(header, data=b"", length=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def safetensors_seeds():
    f32 = struct.pack("<4f", 1.5, -2.0, 0.25, 3.0)
    f16 = struct.pack("<3e", 0.5, -4.0, 1.0)
    bf16 = bytes.fromhex("c03f80be")  # 1.5, -0.25
    both = {
        "__metadata__": {"format": "pt"},
        "blocks.0.w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "half": {"dtype": "F16", "shape": [3], "data_offsets": [16, 22]},
    }
    write("safetensors", "valid_f32_f16", safetensors(both, f32 + f16))
    write("safetensors", "valid_bf16_empty", safetensors({
        "bf16": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
        "empty": {"dtype": "F32", "shape": [0, 4], "data_offsets": [4, 4]},
        "a/b": {"dtype": "F32", "shape": [], "data_offsets": [4, 8]},
    }, bf16 + f32[:4]))
    write("safetensors", "valid_no_tensors", safetensors({}))
    overlap = dict(both)
    overlap["half"] = {"dtype": "F16", "shape": [3], "data_offsets": [10, 16]}
    write("safetensors", "bad_overlap", safetensors(overlap, f32 + f16))
    write("safetensors", "bad_truncated", safetensors(both, f32))
    write("safetensors", "bad_dtype", safetensors(
        {"i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)))
    write("safetensors", "bad_shape", safetensors(
        {"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}}, f32))
    write("safetensors", "bad_length", safetensors(both, f32 + f16, length=1 << 40))


def config_seeds():
    def cfg(arch, **args):
        out = {"architecture": arch, "model_args": args}
        return json.dumps(out)
    write("vit_config", "tiny", json.dumps({
        "architecture": "vit_tiny_patch16_224.augreg_in21k",
        "num_classes": 0,
        "model_args": {"num_heads": 2, "embed_dim": 8, "depth": 1, "patch_size": 4},
        "pretrained_cfg": {"input_size": [3, 16, 16], "mean": [0.5, 0.5, 0.5],
                           "std": [0.5, 0.5, 0.5]}}))
    write("vit_config", "dinov2_reg", cfg("vit_small_patch14_reg4_dinov2.lvd142m", num_heads=4,
                                          no_embed_class=True, final_norm=False))
    write("vit_config", "deit3", cfg("deit3_small_patch16_224", num_heads=1, act_layer="gelu"))
    write("vit_config", "siglip", cfg("vit_base_patch16_siglip_224", num_heads=2,
                                      act_layer="gelu_tanh", pos_embed="learn"))
    write("vit_config", "eva", cfg("eva_large_patch14_196", num_heads=8))
    write("vit_config", "flexivit", cfg("flexivit_small", num_heads=4, qk_norm=False))
    write("vit_config", "refused_clip", cfg("vit_base_patch16_clip_224.openai", num_heads=2))
    write("vit_config", "refused_args", cfg("vit_tiny_patch16_224", num_heads=2,
                                            mlp_layer="SwiGLU", depth=12))
    write("vit_config", "no_architecture", '{"model_args": {"num_heads": 2}}')
    write("vit_config", "utf16", "\ufeff{\"architecture\": \"vit_tiny_patch16_224\"}"
          .encode("utf-16-le"))


def descriptor_seeds():
    write("descriptor", "vitfeat", json.dumps({
        "vitfeat": 1, "source": "scene.tif",
        "options": {"MODEL": "models/dinov2", "STRIDE": "112", "BLEND": "cosine"}}))
    write("descriptor", "vitfeat_loop", '{"vitfeat": 1, "source": "features.vitfeat"}')
    write("descriptor", "vitfeat_prefixed",
          '{"vitfeat": 1, "source": "VITFEAT:VITPCA:view.vitpca", "options": {"model": "hf-hub:x/y"}}')
    write("descriptor", "vitfeat_v2", '{"vitfeat": 2, "source": "/vsicurl/http://h/a.tif"}')
    write("descriptor", "view", json.dumps({
        "vitview": 1, "driver": "VITPCA", "source": "features.vitfeat",
        "source_options": {"MODEL": "models/dinov2", "STRIDE": "112"},
        "options": {"N_COMPONENTS": "3"}, "fit": {"mean": [0.0, 1.0], "components": [[1, 0]]}}))
    write("descriptor", "view_loop",
          '{"vitview": 1, "driver": "VITPCA", "source": "VITPCA:./view.vitpca"}')
    write("descriptor", "view_other_driver",
          '{"vitview": 1, "driver": "VITCLUSTER", "source": "f.vitfeat"}')
    write("descriptor", "not_json", '{"vitfeat": 1, "source": ')


def torch_seeds():
    try:
        import collections
        import torch
    except ImportError:
        print("python3-torch missing: torch seeds left as they are", file=sys.stderr)
        return

    def saved(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    def pickle_of(archive):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))

    # Storages sized for fuzz_torch_pickle's fixed records: "0" 64 bytes,
    # "1" 8 bytes, "2" empty, "3" 8 bytes, numbered by first use.
    base = torch.arange(16.0).reshape(4, 4)
    sd = collections.OrderedDict()
    sd["blocks.0.w"] = base
    sd["half"] = torch.tensor([0.5, -4.0, 1.0, 2.0], dtype=torch.float16)
    sd["empty"] = torch.zeros(0)
    sd["view.t"] = base.t()
    sd["view.row"] = base[1, 1:3]
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    norm = torch.nn.LayerNorm(2)
    seeds = {
        "plain": sd,
        "nested": {"epoch": 3, "state_dict": sd, "optimizer": {"lr": 0.1}, "steps": 2**40,
                   "min": -2**35, "tags": ["x"]},
        "model": {"model": collections.OrderedDict(one=base), "args": ["--lr", "0.1"]},
        "module": norm.state_dict(),
        "list": [base, (1, 2.5, None, True), "text"],
    }
    for name, obj in seeds.items():
        archive = saved(obj)
        write("torch_pickle", name, pickle_of(archive))
        if name in ("plain", "module", "list"):
            write("torch_checkpoint", name, archive)
    small = collections.OrderedDict(w=torch.tensor([1.5, -2.0]))
    write("torch_checkpoint", "small", saved(small))
    buf = io.BytesIO()
    torch.save(small, buf, _use_new_zipfile_serialization=False)
    write("torch_checkpoint", "legacy", buf.getvalue())
    damaged = bytearray(saved(small))
    at = damaged.find(b"\x80\x02")  # data.pkl's PROTO 2: break its first opcodes
    damaged[at + 2:at + 4] = b"\xff\xff"
    write("torch_checkpoint", "damaged_pickle", bytes(damaged))


def regression_seeds():
    """Inputs that crashed a reader once (see README.md), hand-minimised."""
    write("vit_config", "regress_patch_overflow",
          '{"architecture": "deit3_small_patch214748364816_224"}')
    write("vit_config", "regress_reg_overflow",
          '{"architecture": "vit_small_patch14_reg99999999999_dinov2"}')
    write("vit_config", "regress_long_name",
          json.dumps({"architecture": "vit_tiny_patch16_" + "a" * 300}))
    # EMPTY_DICT, LONG_BINPUT 2**31-1, STOP: LibTorch grew its memo to that.
    write("torch_pickle", "regress_memo_index", b"\x80\x02}r\xff\xff\xff\x7f.")


if __name__ == "__main__":
    safetensors_seeds()
    config_seeds()
    descriptor_seeds()
    torch_seeds()
    regression_seeds()
