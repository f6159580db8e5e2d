#!/usr/bin/env python3
"""Writes a deterministic lock-like JSON document of about SIZE bytes (default 10 MB) for the canonical-JSON
benchmark: models with hashes, sizes and URLs, Python packages with artifacts, custom nodes, and inline workflows
with floats, negative numbers and non-ASCII text. Pretty-printed with unsorted keys, so canonicalization has work to do.

Usage: make-lock-like.py OUT [SIZE_BYTES]
"""
import hashlib
import json
import random
import sys

out = sys.argv[1]
target = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
rng = random.Random(8785)


def sha(i: int, salt: str) -> str:
    return hashlib.sha256(f"{salt}-{i}".encode()).hexdigest()


doc = {
    "tag": "bench-lock",
    "schemaVersion": 1,
    "createdBy": "comfylock bench",
    "comfyui": {"url": "https://github.com/comfyanonymous/ComfyUI", "commit": sha(0, "comfy")[:40]},
    "customNodes": [],
    "python": {"version": "3.11.2", "platform": "manylinux_2_36_x86_64", "indexUrls": ["https://pypi.org/simple"],
               "packages": []},
    "models": [],
    "workflows": [],
}
kinds = ["checkpoints", "loras", "vae", "controlnet", "clip", "unet", "upscale_models", "embeddings"]
words = ["détail", "日本語", "naïve", "smile 😂", "ünïcödé", "plain", "tab\tand\nnewline", "quote\"s", "back\\slash"]
i = 0
while True:
    if i % 2000 == 0 and i > 0 and len(json.dumps(doc, indent=2, ensure_ascii=False).encode()) >= target:
        break
    kind = kinds[i % len(kinds)]
    doc["models"].append({
        "sources": [f"https://huggingface.co/org{i % 97}/repo{i}/resolve/{sha(i, 'rev')[:40]}/model-{i}.safetensors",
                    f"https://mirror.example.com/{kind}/model-{i}.safetensors"],
        "sha256": sha(i, "model"),
        "size": rng.randrange(1, 2**40),
        "path": f"{kind}/{words[i % len(words)] if i % 5 == 0 else 'model'}-{i}.safetensors",
    })
    if i % 3 == 0:
        doc["python"]["packages"].append({
            "version": f"{i % 7}.{i % 13}.{i % 100}",
            "name": f"package-{i}",
            "artifacts": [{"url": f"https://files.pythonhosted.org/packages/{sha(i, 'p')[:2]}/package_{i}-1.0-py3-none-any.whl",
                           "sha256": sha(i, "artifact"), "filename": f"package_{i}-1.0-py3-none-any.whl"}],
        })
    if i % 5 == 0:
        doc["customNodes"].append({"name": f"node-{i}", "kind": "git", "url": f"https://github.com/u{i}/node-{i}",
                                   "commit": sha(i, "node")[:40], "enabled": i % 10 != 0})
    if i % 10 == 0:
        doc["workflows"].append({
            "name": f"wf-{i}",
            "inline": {str(n): {"class_type": "KSampler", "inputs": {
                "seed": rng.randrange(0, 2**53), "cfg": rng.uniform(0, 20), "denoise": rng.random(),
                "steps": rng.randrange(1, 150), "scale": rng.choice([1e-7, 1e21, 0.1 + 0.2, -0.0, 5e-324, 1.5e300]),
                "text": words[(i + n) % len(words)], "ratio": rng.uniform(-1e6, 1e6)}} for n in range(4)},
            "expectedOutputs": [{"name": f"out_{i}.png", "sha256": sha(i, "out")}],
        })
    i += 1

with open(out, "w", encoding="utf-8") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
