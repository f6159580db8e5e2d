#!/usr/bin/env python3
"""A ComfyUI-API-compatible stand-in server for tests (Python stdlib + Pillow).

It speaks ComfyUI's HTTP API and its /ws WebSocket protocol as ComfyUI 0.3.64 does (shapes read from its server.py and
execution.py) for a handful of real node kinds, with no torch and no model weights:

  EmptyImage, ImageInvert, LoadImage, SaveImage (PNG with the prompt in tEXt metadata), PreviewImage (temp),
  CheckpointLoaderSimple (checks the file exists in the checkpoints folder), PrimitiveString, PrimitiveInt,
  PreviewAny (a text output), VHS_VideoCombine (an animated GIF under `gifs`, as VideoHelperSuite reports it),
  SaveAudio (a WAV under `audio`), and the stand-in's own StandInNoise (seeded noise image), StandInTone (audio),
  StandInSave3D (a file output under `3d`), StandInSleep (interruptible, with progress), StandInFail (execution
  error), StandInCrash (the process exits mid-job), StandInHang (never finishes, ignores interrupt).

Routes: POST /prompt, GET /prompt, GET /history, GET /history/{id}, POST /history, GET /view, POST /upload/image,
POST /upload/mask, GET /object_info, GET /object_info/{class}, GET /system_stats, GET /queue, POST /queue,
POST /interrupt, POST /free, GET /models, GET /models/{folder}, GET /embeddings, GET /features, GET /ws?clientId=
(status, execution_start, execution_cached, executing (node null = done), progress, executed, execution_success,
execution_error, execution_interrupted). Identical prompts are served from the node cache (no new file written,
outputs still in history), like ComfyUI's classic cache. Test-only: GET /standin/stats.

It accepts ComfyUI's real command line (`--listen --port --cpu --disable-auto-launch --extra-model-paths-config
--input-directory --output-directory --temp-directory --user-directory --disable-metadata`, others ignored), so it
can pose as ComfyUI's main.py. `--port 0` binds a free port and prints "READY <port>". Modes
(`--standin-mode` or $COMFYUI_STANDIN_MODE): normal; crash (the process exits in the middle of every job); hang (the
WebSocket stays open but nothing is ever sent on it; jobs still complete, so only /history tells); slow (every node
takes --standin-slow-seconds, with progress). Fake failing custom nodes (`--standin-failing-node NAME` or
$COMFYUI_STANDIN_FAILING_NODES, comma-separated) are logged with ComfyUI's "IMPORT FAILED" lines. It exits when its
parent process dies (unless $COMFYUI_STANDIN_NO_PARENT_WATCH=1, used to test the parent's own guarantee).

Without --base-directory, the directories it is not given live where ComfyUI keeps them (beside main.py) when it
poses as a checkout's main.py; run as comfyui_standin.py from the source tree it never writes beside itself: they go
beside --output-directory (the caller's scratch), else into a fresh temp directory.
"""

import argparse
import asyncio
import base64
import copy
import hashlib
import heapq
import io
import json
import math
import os
import random
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
import wave
from email.parser import BytesParser
from email.policy import HTTP

from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

VERSION = "0.3.64-standin"
MODEL_FOLDERS = ["checkpoints", "loras", "vae", "embeddings", "upscale_models", "controlnet", "clip", "unet",
                 "diffusion_models", "text_encoders", "clip_vision"]
MODEL_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf", ".onnx")
MAX_BODY = 64 << 20
MAXIMUM_HISTORY_SIZE = 10000  # ComfyUI's execution.py: the oldest entry goes when a prompt finishes beyond this
MAX_HEADER = 64 << 10


class InterruptProcessing(Exception):
    pass


class Config:
    host = "127.0.0.1"
    port = 8188
    base = os.path.dirname(os.path.abspath(__file__))
    input_dir = output_dir = temp_dir = user_dir = None
    model_paths = {}  # folder -> [dirs]
    disable_metadata = False
    mode = "normal"
    slow_seconds = 0.5
    alter_nodes = {}  # class type -> "fixed" | "random" (--standin-alter-node)


CONFIG = Config()


def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------- models ---

def parse_extra_model_paths(path):
    """The subset of YAML that extra_model_paths.yaml uses: `name:` blocks of `key: value` lines (values may be
    `|` blocks of several directories)."""
    result = {}
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    blocks = {}
    current = None
    pending_key = None
    for raw in lines:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if indent == 0 and text.endswith(":"):
            current = blocks.setdefault(text[:-1], {})
            pending_key = None
            continue
        if current is None:
            continue
        if pending_key is not None and ":" not in text:
            current[pending_key].append(text)
            continue
        key, _, value = text.partition(":")
        value = value.strip().strip("'\"")
        if value == "|":
            current[key.strip()] = []
            pending_key = key.strip()
        else:
            current[key.strip()] = [value]
            pending_key = None
    for block in blocks.values():
        base = (block.pop("base_path", [""]) or [""])[0]
        block.pop("is_default", None)
        base = os.path.expanduser(base)
        if base and not os.path.isabs(base):
            base = os.path.join(os.path.dirname(os.path.abspath(path)), base)
        for folder, dirs in block.items():
            for d in dirs:
                full = os.path.join(base, d) if base else d
                result.setdefault(folder, []).append(os.path.normpath(full))
    return result


def model_dirs(folder):
    dirs = list(CONFIG.model_paths.get(folder, []))
    dirs.append(os.path.join(CONFIG.base, "models", folder))
    return dirs


def model_files(folder):
    names = set()
    for directory in model_dirs(folder):
        if not os.path.isdir(directory):
            continue
        for root, _dirs, files in os.walk(directory, followlinks=True):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), directory)
                if folder == "embeddings" or name.lower().endswith(MODEL_EXTENSIONS):
                    names.add(rel)
    return sorted(names)


def input_files():
    try:
        return sorted(f for f in os.listdir(CONFIG.input_dir) if os.path.isfile(os.path.join(CONFIG.input_dir, f)))
    except OSError:
        return []


# ------------------------------------------------------------------------------------------------------ nodes ---

def save_path(directory, prefix):
    """ComfyUI's folder_paths.get_save_image_path: "<subfolder>/<name>_<counter:05>_"."""
    subfolder = os.path.dirname(os.path.normpath(prefix))
    name = os.path.basename(os.path.normpath(prefix))
    full = os.path.join(directory, subfolder)
    if os.path.commonpath((directory, os.path.abspath(full))) != directory:
        raise Exception("Saving image outside the output folder is not allowed.")
    os.makedirs(full, exist_ok=True)
    counter = 1
    for existing in os.listdir(full):
        if existing.startswith(name + "_"):
            digits = existing[len(name) + 1:].split("_")[0]
            if digits.isdigit():
                counter = max(counter, int(digits) + 1)
    return full, name, counter, subfolder


def check_interrupt(state):
    if state.interrupted.is_set():
        state.interrupted.clear()
        raise InterruptProcessing()


class Node:
    CATEGORY = "image"
    OUTPUT_NODE = False
    RETURN_TYPES = ()
    MODULE = "nodes"
    DESCRIPTION = ""

    @classmethod
    def input_types(cls):
        return {"required": {}}


class EmptyImage(Node):
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls):
        return {"required": {
            "width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
            "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
            "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
            "color": ["INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"}]}}

    def run(self, ctx, width, height, batch_size, color):
        rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
        return ([Image.new("RGB", (width, height), rgb) for _ in range(batch_size)],)


class ImageInvert(Node):
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls):
        return {"required": {"image": ["IMAGE"]}}

    def run(self, ctx, image):
        return ([ImageOps.invert(i.convert("RGB")) for i in image],)


class LoadImage(Node):
    RETURN_TYPES = ("IMAGE", "MASK")

    @classmethod
    def input_types(cls):
        return {"required": {"image": [input_files(), {"image_upload": True}]}}

    @staticmethod
    def changed(image):
        path = os.path.join(CONFIG.input_dir, image)
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    def run(self, ctx, image):
        path = os.path.join(CONFIG.input_dir, image)
        with Image.open(path) as img:
            rgba = img.convert("RGBA")
        return ([rgba.convert("RGB")], [rgba.getchannel("A")])


class SaveImage(Node):
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls):
        return {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    directory_kind = "output"
    compress_level = 4

    def directory(self):
        return CONFIG.output_dir

    def run(self, ctx, images, filename_prefix="ComfyUI"):
        full, name, counter, subfolder = save_path(self.directory(), filename_prefix)
        results = []
        for image in images:
            metadata = None
            if not CONFIG.disable_metadata:
                metadata = PngInfo()
                metadata.add_text("prompt", json.dumps(ctx.prompt))
                for key, value in (ctx.extra_data.get("extra_pnginfo") or {}).items():
                    metadata.add_text(key, json.dumps(value))
            filename = "%s_%05d_.png" % (name, counter)
            image.save(os.path.join(full, filename), pnginfo=metadata, compress_level=self.compress_level)
            results.append({"filename": filename, "subfolder": subfolder, "type": self.directory_kind})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    directory_kind = "temp"
    compress_level = 1

    @classmethod
    def input_types(cls):
        return {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def directory(self):
        return CONFIG.temp_dir

    def run(self, ctx, images):
        suffix = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        return SaveImage.run(self, ctx, images, "ComfyUI_temp_" + suffix)


class CheckpointLoaderSimple(Node):
    CATEGORY = "loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")

    @classmethod
    def input_types(cls):
        return {"required": {"ckpt_name": [model_files("checkpoints")]}}

    def run(self, ctx, ckpt_name):
        for directory in model_dirs("checkpoints"):
            path = os.path.join(directory, ckpt_name)
            if os.path.isfile(path):
                return ({"model": path}, {"clip": path}, {"vae": path})
        raise FileNotFoundError("checkpoint %s not found" % ckpt_name)


class PrimitiveString(Node):
    CATEGORY = "utils/primitive"
    MODULE = "comfy_extras.nodes_primitive"
    RETURN_TYPES = ("STRING",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["STRING", {"multiline": False}]}}

    def run(self, ctx, value):
        return (value,)


class PrimitiveInt(Node):
    CATEGORY = "utils/primitive"
    MODULE = "comfy_extras.nodes_primitive"
    RETURN_TYPES = ("INT",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["INT", {"min": -(1 << 63), "max": (1 << 63) - 1}]}}

    def run(self, ctx, value):
        return (value,)


class PreviewAny(Node):
    CATEGORY = "utils"
    MODULE = "comfy_extras.nodes_preview_any"
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls):
        return {"required": {"source": ["*", {}]}}

    def run(self, ctx, source):
        text = source if isinstance(source, str) else json.dumps(source) if not isinstance(source, list) else str(
            source)
        return {"ui": {"text": [text]}}


class StandInNoise(Node):
    """Seeded RGB noise: the same seed gives the same pixels, another seed other pixels."""
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls):
        return {"required": {"seed": ["INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}],
                             "width": ["INT", {"default": 64, "min": 1, "max": 4096}],
                             "height": ["INT", {"default": 64, "min": 1, "max": 4096}]}}

    def run(self, ctx, seed, width, height):
        data = random.Random(seed).randbytes(width * height * 3)
        return ([Image.frombytes("RGB", (width, height), data)],)


class ImageAddNoise(Node):
    """ComfyUI's core ImageAddNoise (comfy_extras/nodes_images.py): image + strength * seeded noise, clipped. The
    stand-in draws the noise from random.Random(seed) instead of torch: other numbers, same contract."""
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def input_types(cls):
        return {"required": {"image": ["IMAGE"],
                             "seed": ["INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                              "control_after_generate": True}],
                             "strength": ["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}]}}

    def run(self, ctx, image, seed, strength):
        rng = random.Random(seed)
        out = []
        for i in image:
            rgb = i.convert("RGB")
            noise = bytes(max(0, min(255, int(v + strength * 255 * rng.gauss(0, 1)))) for v in rgb.tobytes())
            out.append(Image.frombytes("RGB", rgb.size, noise))
        return (out,)


def alter_outputs(class_type, outs):
    """--standin-alter-node CLASS[=random]: the first pixel of every image CLASS outputs is changed — always the same
    way (a node whose code changed), or randomly per run (a nondeterministic node). For reproducibility tests."""
    how = CONFIG.alter_nodes.get(class_type)
    if how is None or not isinstance(outs, (list, tuple)):
        return outs
    altered = []
    for value in outs:
        if isinstance(value, list) and value and all(isinstance(i, Image.Image) for i in value):
            images = []
            for i in value:
                i = i.convert("RGB").copy()
                r, g, b = i.getpixel((0, 0))
                r = random.SystemRandom().randrange(256) if how == "random" else r ^ 1
                i.putpixel((0, 0), (r, g, b))
                images.append(i)
            value = images
        altered.append(value)
    return tuple(altered)


class VHS_VideoCombine(Node):
    CATEGORY = "Video Helper Suite"
    MODULE = "custom_nodes.ComfyUI-VideoHelperSuite"
    OUTPUT_NODE = True
    RETURN_TYPES = ("VHS_FILENAMES",)

    @classmethod
    def input_types(cls):
        return {"required": {"images": ["IMAGE"],
                             "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
                             "loop_count": ["INT", {"default": 0, "min": 0, "max": 100}],
                             "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
                             "format": [["image/gif", "image/webp"]],
                             "pingpong": ["BOOLEAN", {"default": False}],
                             "save_output": ["BOOLEAN", {"default": True}]},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, ctx, images, frame_rate=8, loop_count=0, filename_prefix="AnimateDiff", format="image/gif",
            pingpong=False, save_output=True):
        frames = list(images)
        if len(frames) == 1:  # a one-frame "video" still animates: add its inverse
            frames.append(ImageOps.invert(frames[0].convert("RGB")))
        if pingpong:
            frames = frames + frames[-2:0:-1]
        directory = CONFIG.output_dir if save_output else CONFIG.temp_dir
        full, name, counter, subfolder = save_path(directory, filename_prefix)
        extension = "gif" if format == "image/gif" else "webp"
        filename = "%s_%05d.%s" % (name, counter, extension)
        path = os.path.join(full, filename)
        frames[0].save(path, format=extension.upper(), save_all=True, append_images=frames[1:],
                       duration=round(1000 / frame_rate), loop=loop_count)
        entry = {"filename": filename, "subfolder": subfolder, "type": "output" if save_output else "temp",
                 "format": format, "frame_rate": frame_rate, "workflow": "", "fullpath": path}
        return {"ui": {"gifs": [entry]}, "result": ((save_output, [path]),)}


class StandInTone(Node):
    CATEGORY = "audio"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("AUDIO",)

    @classmethod
    def input_types(cls):
        return {"required": {"seconds": ["FLOAT", {"default": 0.25, "min": 0.01, "max": 10}],
                             "frequency": ["FLOAT", {"default": 440, "min": 1, "max": 20000}]}}

    def run(self, ctx, seconds, frequency):
        rate = 16000
        samples = [int(12000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(int(seconds * rate))]
        return ({"sample_rate": rate, "samples": samples},)


class SaveAudio(Node):
    CATEGORY = "audio"
    MODULE = "comfy_extras.nodes_audio"
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls):
        return {"required": {"audio": ["AUDIO"], "filename_prefix": ["STRING", {"default": "audio/ComfyUI"}]},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def run(self, ctx, audio, filename_prefix="audio/ComfyUI"):
        # ComfyUI writes FLAC; the stand-in writes WAV (stdlib only) with the same naming.
        full, name, counter, subfolder = save_path(CONFIG.output_dir, filename_prefix)
        filename = "%s_%05d_.wav" % (name, counter)
        with wave.open(os.path.join(full, filename), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(audio["sample_rate"])
            out.writeframes(struct.pack("<%dh" % len(audio["samples"]), *audio["samples"]))
        return {"ui": {"audio": [{"filename": filename, "subfolder": subfolder, "type": "output"}]}}


class StandInSave3D(Node):
    CATEGORY = "3d"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    OUTPUT_NODE = True

    @classmethod
    def input_types(cls):
        return {"required": {"text": ["STRING", {"default": "mesh"}],
                             "filename_prefix": ["STRING", {"default": "mesh/ComfyUI"}]}}

    def run(self, ctx, text, filename_prefix="mesh/ComfyUI"):
        full, name, counter, subfolder = save_path(CONFIG.output_dir, filename_prefix)
        filename = "%s_%05d_.glb" % (name, counter)
        body = json.dumps({"asset": {"version": "2.0"}, "extras": {"text": text}}).encode()
        body += b" " * (-len(body) % 4)
        glb = struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(body)) + struct.pack("<I4s", len(body), b"JSON") + body
        with open(os.path.join(full, filename), "wb") as out:
            out.write(glb)
        return {"ui": {"3d": [{"filename": filename, "subfolder": subfolder, "type": "output"}]}}


class StandInSleep(Node):
    """Passes `value` through after `seconds`, reporting progress; honours /interrupt."""
    CATEGORY = "testing"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("*",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["*", {}], "seconds": ["FLOAT", {"default": 1, "min": 0, "max": 3600}]}}

    def run(self, ctx, value, seconds):
        steps = max(1, min(int(seconds * 20), 1000))
        for step in range(steps):
            check_interrupt(ctx.state)
            time.sleep(seconds / steps)
            ctx.progress(step + 1, steps)
        return (value,)


class StandInFail(Node):
    CATEGORY = "testing"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("*",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["*", {}], "message": ["STRING", {"default": "stand-in failure"}]}}

    def run(self, ctx, value, message):
        raise RuntimeError(message)


class StandInCrash(Node):
    CATEGORY = "testing"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("*",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["*", {}]}}

    def run(self, ctx, value):
        time.sleep(0.2)  # mid-job: the prompt was accepted and is running
        log("!!! Exception during processing !!! (stand-in crash: the process exits now)")
        os._exit(3)


class StandInHang(Node):
    CATEGORY = "testing"
    MODULE = "custom_nodes.comfyui-standin-nodes"
    RETURN_TYPES = ("*",)

    @classmethod
    def input_types(cls):
        return {"required": {"value": ["*", {}]}}

    def run(self, ctx, value):
        while True:  # ignores /interrupt, like a node stuck in native code
            time.sleep(3600)


NODES = {cls.__name__: cls for cls in [
    EmptyImage, ImageInvert, LoadImage, SaveImage, PreviewImage, CheckpointLoaderSimple, PrimitiveString,
    PrimitiveInt, PreviewAny, StandInNoise, ImageAddNoise, VHS_VideoCombine, StandInTone, SaveAudio, StandInSave3D, StandInSleep,
    StandInFail, StandInCrash, StandInHang]}


def node_info(name):
    cls = NODES[name]
    inputs = cls.input_types()
    return {
        "input": inputs,
        "input_order": {key: list(value.keys()) for key, value in inputs.items()},
        "output": list(cls.RETURN_TYPES),
        "output_is_list": [False] * len(cls.RETURN_TYPES),
        "output_name": list(cls.RETURN_TYPES),
        "name": name,
        "display_name": name,
        "description": cls.DESCRIPTION,
        "python_module": cls.MODULE,
        "category": cls.CATEGORY,
        "output_node": cls.OUTPUT_NODE,
    }


# ------------------------------------------------------------------------------------------------- validation ---

def validate_prompt(prompt):
    """ComfyUI's execution.validate_prompt: (ok, error, outputs, node_errors)."""
    if not isinstance(prompt, dict):
        return False, {"type": "invalid_prompt", "message": "Prompt is not a dictionary", "details": "",
                       "extra_info": {}}, [], {}
    outputs = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, {"type": "invalid_prompt",
                           "message": "Cannot execute because a node is missing the class_type property.",
                           "details": "Node ID '#%s'" % node_id, "extra_info": {}}, [], {}
        cls = NODES.get(node["class_type"])
        if cls is None:
            return False, {"type": "invalid_prompt",
                           "message": "Cannot execute because node %s does not exist." % node["class_type"],
                           "details": "Node ID '#%s'" % node_id, "extra_info": {}}, [], {}
        if cls.OUTPUT_NODE:
            outputs.append(node_id)
    if not outputs:
        return False, {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                       "extra_info": {}}, [], {}
    validated = {}
    node_errors = {}
    good = []
    lines = []
    for output in outputs:
        ok = validate_node(prompt, output, validated)
        if ok:
            good.append(output)
            continue
        for node_id, (valid, reasons) in validated.items():
            if not valid and reasons:
                entry = node_errors.setdefault(node_id, {"errors": reasons, "dependent_outputs": [],
                                                         "class_type": prompt[node_id]["class_type"]})
                if output not in entry["dependent_outputs"]:
                    entry["dependent_outputs"].append(output)
                lines += ["%s: %s" % (r["message"], r["details"]) for r in reasons]
    if not good:
        return False, {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                       "details": "\n".join(lines), "extra_info": {}}, [], node_errors
    return True, None, good, node_errors


def error(kind, message, details, input_name, extra=None):
    info = {"input_name": input_name}
    info.update(extra or {})
    return {"type": kind, "message": message, "details": details, "extra_info": info}


def validate_node(prompt, node_id, validated):
    if node_id in validated:
        return validated[node_id][0]
    node = prompt[node_id]
    cls = NODES[node["class_type"]]
    inputs = node.get("inputs") or {}
    required = cls.input_types().get("required", {})
    reasons = []
    valid = True
    for name, spec in required.items():
        kind = spec[0]
        options = spec[1] if len(spec) > 1 else {}
        if name not in inputs:
            reasons.append(error("required_input_missing", "Required input is missing", name, name))
            valid = False
            continue
        value = inputs[name]
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            source_id = value[0]
            if source_id not in prompt:
                reasons.append(error("bad_linked_input", "Bad linked input, must be a length-2 list of [string, int]",
                                     "%s, %s" % (name, value), name))
                valid = False
                continue
            source = NODES.get(prompt[source_id].get("class_type"))
            if source is None:
                valid = False
                continue
            try:
                received = source.RETURN_TYPES[int(value[1])]
            except (IndexError, ValueError, TypeError):
                received = None
            if received is None or (kind != "*" and received != "*" and received != kind):
                reasons.append(error("return_type_mismatch", "Return type mismatch between linked nodes",
                                     "%s, received_type(%s) mismatch input_type(%s)" % (name, received, kind), name,
                                     {"input_config": spec, "received_type": received, "linked_node": value}))
                valid = False
                continue
            if not validate_node(prompt, source_id, validated):
                valid = False
            continue
        if isinstance(kind, list):
            if value not in kind:
                shown = kind if len(kind) < 20 else kind[:20] + ["..."]
                reasons.append(error("value_not_in_list", "Value not in list",
                                     "%s: '%s' not in %s" % (name, value, shown), name,
                                     {"input_config": spec, "received_value": value}))
                valid = False
            continue
        if kind == "INT" or kind == "FLOAT":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                reasons.append(error("invalid_input_type", "Failed to convert an input value to a %s value" % kind,
                                     "%s, %s" % (name, value), name, {"input_config": spec, "received_value": value}))
                valid = False
                continue
            if "min" in options and value < options["min"]:
                reasons.append(error("value_smaller_than_min", "Value %s smaller than min of %s" % (
                    value, options["min"]), "%s" % name, name, {"input_config": spec, "received_value": value}))
                valid = False
            if "max" in options and value > options["max"]:
                reasons.append(error("value_bigger_than_max", "Value %s bigger than max of %s" % (
                    value, options["max"]), "%s" % name, name, {"input_config": spec, "received_value": value}))
                valid = False
        elif kind == "STRING" and not isinstance(value, str):
            reasons.append(error("invalid_input_type", "Failed to convert an input value to a STRING value",
                                 "%s, %s" % (name, value), name, {"input_config": spec, "received_value": value}))
            valid = False
    validated[node_id] = (valid, reasons)
    return valid


# -------------------------------------------------------------------------------------------------- execution ---

class Context:
    def __init__(self, state, prompt, prompt_id, extra_data, node_id):
        self.state = state
        self.prompt = prompt
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.node_id = node_id

    def progress(self, value, maximum):
        self.state.send("progress", {"value": value, "max": maximum, "prompt_id": self.prompt_id,
                                     "node": self.node_id}, self.state.client_id)


class State:
    def __init__(self):
        self.lock = threading.RLock()
        self.not_empty = threading.Condition(self.lock)
        self.queue = []
        self.running = {}
        self.history = {}
        self.number = 0
        self.task_counter = 0
        self.interrupted = threading.Event()
        self.client_id = None
        self.last_node_id = None
        self.cache = {}  # signature -> (outputs, ui)
        self.loop = None
        self.sockets = {}  # sid -> WebSocket
        self.free_calls = []
        self.prompts_executed = 0
        self.nodes_executed = 0

    # Messages are sent from the executor thread: hop onto the event loop.
    def send(self, event, data, sid=None):
        if CONFIG.mode == "hang" or self.loop is None:
            return
        message = json.dumps({"type": event, "data": data})
        self.loop.call_soon_threadsafe(self._send, message, sid)

    def _send(self, message, sid):
        targets = [self.sockets[sid]] if sid is not None and sid in self.sockets else (
            list(self.sockets.values()) if sid is None else [])
        for socket in targets:
            socket.send_text(message)

    def queue_info(self):
        with self.lock:
            return {"exec_info": {"queue_remaining": len(self.queue) + len(self.running)}}

    def queue_updated(self):
        self.send("status", {"status": self.queue_info()})

    def put(self, item):
        with self.lock:
            heapq.heappush(self.queue, item)
            self.queue_updated()
            self.not_empty.notify()

    def get(self):
        with self.not_empty:
            while not self.queue:
                self.not_empty.wait()
            item = heapq.heappop(self.queue)
            index = self.task_counter
            self.running[index] = copy.deepcopy(item)
            self.task_counter += 1
            self.queue_updated()
            return item, index

    def task_done(self, index, result, status):
        with self.lock:
            item = self.running.pop(index)
            if len(self.history) > MAXIMUM_HISTORY_SIZE:
                self.history.pop(next(iter(self.history)))
            self.history[item[1]] = {"prompt": list(item), "outputs": {}, "status": status}
            self.history[item[1]].update(result)
            self.queue_updated()


STATE = State()


def signature(prompt, node_id, memo):
    if node_id in memo:
        return memo[node_id]
    node = prompt[node_id]
    parts = [node["class_type"]]
    for name in sorted((node.get("inputs") or {}).keys()):
        value = node["inputs"][name]
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] in prompt:
            parts.append((name, "link", signature(prompt, value[0], memo), value[1]))
        else:
            parts.append((name, json.dumps(value, sort_keys=True)))
    if node["class_type"] == "LoadImage":
        try:
            parts.append(LoadImage.changed(node["inputs"]["image"]))
        except (OSError, KeyError, TypeError):
            parts.append(str(uuid.uuid4()))
    key = hashlib.sha256(repr(parts).encode()).hexdigest()
    memo[node_id] = key
    return key


def execute_prompt(item):
    number, prompt_id, prompt, extra_data, outputs = item
    state = STATE
    state.interrupted.clear()
    state.client_id = extra_data.get("client_id")
    messages = []

    def add_message(event, data, broadcast):
        data = dict(data)
        data["timestamp"] = int(time.time() * 1000)
        messages.append([event, data])
        if state.client_id is not None or broadcast:
            state.send(event, data, state.client_id)

    add_message("execution_start", {"prompt_id": prompt_id}, False)
    memo = {}
    signatures = {node_id: signature(prompt, node_id, memo) for node_id in prompt}
    cached = [node_id for node_id in prompt if signatures[node_id] in state.cache]
    add_message("execution_cached", {"nodes": cached, "prompt_id": prompt_id}, False)
    results = {}
    ui_outputs = {}
    meta = {}
    executed = []
    order = []

    def visit(node_id, seen):
        if node_id in seen:
            return
        seen.add(node_id)
        for value in (prompt[node_id].get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] in prompt:
                visit(value[0], seen)
        order.append(node_id)

    seen = set()
    for output in outputs:
        visit(output, seen)

    failure = None
    current = None
    try:
        first = True
        for node_id in order:
            current = node_id
            node = prompt[node_id]
            key = signatures[node_id]
            if key in state.cache:
                outs, ui = state.cache[key]
                results[node_id] = outs
                if ui is not None:
                    ui_outputs[node_id] = ui
                    meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                     "real_node_id": node_id}
                    if state.client_id is not None:
                        state.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                                "prompt_id": prompt_id}, state.client_id)
                continue
            check_interrupt(state)
            state.last_node_id = node_id
            state.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                       state.client_id)
            if CONFIG.mode == "crash" and first:
                time.sleep(0.05)
                log("!!! Exception during processing !!! (stand-in crash mode: the process exits now)")
                os._exit(3)
            first = False
            cls = NODES[node["class_type"]]
            kwargs = {}
            for name, value in (node.get("inputs") or {}).items():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] in prompt:
                    kwargs[name] = results[value[0]][int(value[1])]
                else:
                    kwargs[name] = value
            ctx = Context(state, prompt, prompt_id, extra_data, node_id)
            if CONFIG.mode == "slow":
                steps = 5
                for step in range(steps):
                    check_interrupt(state)
                    time.sleep(CONFIG.slow_seconds / steps)
                    ctx.progress(step + 1, steps)
            try:
                returned = cls().run(ctx, **kwargs)
            except InterruptProcessing:
                raise
            except Exception as ex:  # noqa: BLE001 - reported like ComfyUI does
                failure = (node_id, ex, traceback.format_tb(ex.__traceback__), kwargs)
                break
            executed.append(node_id)
            state.nodes_executed += 1
            ui = None
            if isinstance(returned, dict):
                ui = returned.get("ui")
                outs = returned.get("result", ())
            else:
                outs = returned
            outs = alter_outputs(node["class_type"], outs)
            results[node_id] = outs
            state.cache[key] = (outs, ui)
            if ui is not None:
                ui_outputs[node_id] = ui
                meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                 "real_node_id": node_id}
                state.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                        "prompt_id": prompt_id}, state.client_id)
        if failure is not None:
            node_id, ex, tb, kwargs = failure
            add_message("execution_error", {
                "prompt_id": prompt_id, "node_id": node_id, "node_type": prompt[node_id]["class_type"],
                "executed": executed, "exception_message": str(ex),
                "exception_type": type(ex).__module__ + "." + type(ex).__name__ if type(ex).__module__ != "builtins"
                else type(ex).__name__,
                "traceback": tb, "current_inputs": {k: repr(v)[:200] for k, v in kwargs.items()},
                "current_outputs": list(results.keys())}, False)
        else:
            add_message("execution_success", {"prompt_id": prompt_id}, False)
    except InterruptProcessing:
        add_message("execution_interrupted", {"prompt_id": prompt_id, "node_id": current,
                                              "node_type": prompt[current]["class_type"] if current else None,
                                              "executed": executed}, True)
        failure = "interrupted"
    # The classic cache keeps only what the last prompt used.
    used = set(signatures.values())
    for key in list(state.cache):
        if key not in used:
            del state.cache[key]
    state.last_node_id = None
    state.prompts_executed += 1
    ok = failure is None
    status = {"status_str": "success" if ok else "error", "completed": ok, "messages": messages}
    return {"outputs": ui_outputs, "meta": meta}, status


def worker():
    while True:
        item, index = STATE.get()
        started = time.perf_counter()
        result, status = execute_prompt(item)
        STATE.task_done(index, result, status)
        # "executing" with node null after the history is written: a client that sees it finds the outputs.
        if STATE.client_id is not None:
            STATE.send("executing", {"node": None, "prompt_id": item[1]}, STATE.client_id)
        log("Prompt executed in %.2f seconds" % (time.perf_counter() - started))


# ----------------------------------------------------------------------------------------------- HTTP server ---

class Request:
    def __init__(self, method, target, headers, body):
        self.method = method
        parsed = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(parsed.path)
        self.query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8") or "null")


class Response:
    def __init__(self, status=200, body=b"", content_type="text/plain; charset=utf-8", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


REASONS = {200: "OK", 101: "Switching Protocols", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}


def json_response(value, status=200):
    return Response(status, json.dumps(value).encode(), "application/json; charset=utf-8")


def directory_of(kind):
    return {"output": CONFIG.output_dir, "input": CONFIG.input_dir, "temp": CONFIG.temp_dir}.get(kind)


def upload(request, mask=False):
    content_type = request.headers.get("content-type", "")
    if "multipart/form-data" not in content_type:
        return Response(400)
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" +
                                                  request.body)
    fields = {}
    files = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = (part.get_filename(), payload)
        else:
            fields[name] = payload.decode("utf-8", "replace")
    if "image" not in files:
        return Response(400)
    filename, data = files["image"]
    if not filename:
        return Response(400)
    kind = fields.get("type") or "input"
    upload_dir = directory_of(kind)
    if upload_dir is None:
        kind, upload_dir = "input", CONFIG.input_dir
    subfolder = fields.get("subfolder", "")
    folder = os.path.join(upload_dir, os.path.normpath(subfolder))
    path = os.path.abspath(os.path.join(folder, filename))
    if os.path.commonpath((upload_dir, path)) != upload_dir:
        return Response(400)
    os.makedirs(folder, exist_ok=True)
    overwrite = fields.get("overwrite") in ("true", "1")
    if not overwrite:
        base, ext = os.path.splitext(filename)
        i = 1
        while os.path.exists(path):
            with open(path, "rb") as handle:
                if hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest():
                    return json_response({"name": filename, "subfolder": subfolder, "type": kind})
            filename = "%s (%d)%s" % (base, i, ext)
            path = os.path.join(folder, filename)
            i += 1
    if mask:
        ref = json.loads(fields.get("original_ref") or "{}")
        original = os.path.join(directory_of(ref.get("type", "output")) or CONFIG.output_dir,
                                ref.get("subfolder", ""), os.path.basename(ref.get("filename", "")))
        if os.path.isfile(original):
            with Image.open(original) as img:
                rgba = img.convert("RGBA")
            alpha = Image.open(io.BytesIO(data)).convert("RGBA").getchannel("A")
            rgba.putalpha(alpha)
            rgba.save(path, compress_level=4)
        else:
            return Response(400)
    else:
        with open(path, "wb") as handle:
            handle.write(data)
    return json_response({"name": filename, "subfolder": subfolder, "type": kind})


def view(request):
    filename = request.query.get("filename")
    if not filename:
        return Response(400)
    if filename[0] == "/" or ".." in filename:
        return Response(400)
    output_dir = directory_of(request.query.get("type", "output"))
    if output_dir is None:
        return Response(400)
    if "subfolder" in request.query:
        full = os.path.join(output_dir, request.query["subfolder"])
        if os.path.commonpath((os.path.abspath(full), output_dir)) != output_dir:
            return Response(403)
        output_dir = full
    path = os.path.join(output_dir, os.path.basename(filename))
    if not os.path.isfile(path):
        return Response(404)
    with open(path, "rb") as handle:
        data = handle.read()
    import mimetypes
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(200, data, content_type, {"Content-Disposition": 'filename="%s"' % os.path.basename(path)})


def system_stats():
    total = free = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
                elif line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        pass
    vram_total = int(os.environ.get("COMFYUI_STANDIN_VRAM_TOTAL", "0"))
    vram_free = int(os.environ.get("COMFYUI_STANDIN_VRAM_FREE", str(vram_total)))
    return {
        "system": {"os": os.name, "ram_total": total, "ram_free": free, "comfyui_version": VERSION,
                   "required_frontend_version": "1.27.10", "installed_templates_version": None,
                   "required_templates_version": None, "python_version": sys.version, "pytorch_version": "none",
                   "embedded_python": False, "argv": sys.argv},
        "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": vram_total, "vram_free": vram_free,
                     "torch_vram_total": vram_total, "torch_vram_free": vram_free}],
    }


def post_prompt(request):
    log("got prompt")
    try:
        data = request.json()
    except ValueError:
        return Response(400, b"invalid json")
    if not isinstance(data, dict) or "prompt" not in data:
        return json_response({"error": {"type": "no_prompt", "message": "No prompt provided",
                                        "details": "No prompt provided", "extra_info": {}}, "node_errors": {}}, 400)
    with STATE.lock:
        if "number" in data:
            number = float(data["number"])
        else:
            number = STATE.number
            if data.get("front"):
                number = -number
            STATE.number += 1
    prompt = data["prompt"]
    prompt_id = str(data.get("prompt_id") or uuid.uuid4())
    ok, err, outputs, node_errors = validate_prompt(prompt)
    extra_data = dict(data.get("extra_data") or {})
    if "client_id" in data:
        extra_data["client_id"] = data["client_id"]
    if ok:
        STATE.put((number, prompt_id, prompt, extra_data, outputs))
        return json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})
    log("invalid prompt: %s" % err)
    return json_response({"error": err, "node_errors": node_errors}, 400)


def route(request):
    method, path = request.method, request.path
    if method == "GET" and path == "/system_stats":
        return json_response(system_stats())
    if method == "GET" and path == "/object_info":
        return json_response({name: node_info(name) for name in NODES})
    if method == "GET" and path.startswith("/object_info/"):
        name = path[len("/object_info/"):]
        return json_response({name: node_info(name)} if name in NODES else {})
    if method == "POST" and path == "/prompt":
        return post_prompt(request)
    if method == "GET" and path == "/prompt":
        return json_response(STATE.queue_info())
    if method == "GET" and path == "/history":
        with STATE.lock:
            items = list(STATE.history.items())
        max_items = request.query.get("max_items")
        if max_items:
            items = items[-int(max_items):]
        return json_response(dict(items))
    if method == "GET" and path.startswith("/history/"):
        prompt_id = path[len("/history/"):]
        with STATE.lock:  # ComfyUI answers a deep copy of the entry
            entry = copy.deepcopy(STATE.history.get(prompt_id))
        return json_response({prompt_id: entry} if entry is not None else {})
    if method == "POST" and path == "/history":
        data = request.json() or {}
        with STATE.lock:
            if data.get("clear"):
                STATE.history.clear()
            for prompt_id in data.get("delete", []):
                STATE.history.pop(prompt_id, None)
        return Response(200)
    if method == "GET" and path == "/queue":
        with STATE.lock:
            return json_response({"queue_running": [list(x) for x in STATE.running.values()],
                                  "queue_pending": [list(x) for x in STATE.queue]})
    if method == "POST" and path == "/queue":
        data = request.json() or {}
        with STATE.lock:
            if data.get("clear"):
                STATE.queue = []
            for prompt_id in data.get("delete", []):
                STATE.queue = [x for x in STATE.queue if x[1] != prompt_id]
                heapq.heapify(STATE.queue)
            STATE.queue_updated()
        return Response(200)
    if method == "POST" and path == "/interrupt":
        try:
            data = request.json() or {}
        except ValueError:
            data = {}
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        with STATE.lock:
            running = [x[1] for x in STATE.running.values()]
        if prompt_id:
            if prompt_id in running:
                log("Interrupting prompt %s" % prompt_id)
                STATE.interrupted.set()
            else:
                log("Prompt %s is not currently running, skipping interrupt" % prompt_id)
        else:
            log("Global interrupt (no prompt_id specified)")
            STATE.interrupted.set()
        return Response(200)
    if method == "POST" and path == "/free":
        data = request.json() or {}
        STATE.free_calls.append({"unload_models": bool(data.get("unload_models", False)),
                                 "free_memory": bool(data.get("free_memory", False))})
        return Response(200)
    if method == "GET" and path == "/models":
        return json_response(MODEL_FOLDERS)
    if method == "GET" and path.startswith("/models/"):
        folder = path[len("/models/"):]
        if folder not in MODEL_FOLDERS:
            return Response(404)
        return json_response(model_files(folder))
    if method == "GET" and path == "/embeddings":
        return json_response([os.path.splitext(f)[0] for f in model_files("embeddings")])
    if method == "GET" and path == "/features":
        return json_response({"supports_preview_metadata": True, "max_upload_size": MAX_BODY})
    if method == "GET" and path == "/view":
        return view(request)
    if method == "POST" and path == "/upload/image":
        return upload(request)
    if method == "POST" and path == "/upload/mask":
        return upload(request, mask=True)
    if method == "GET" and path == "/standin/stats":
        return json_response({"free_calls": STATE.free_calls, "prompts_executed": STATE.prompts_executed,
                              "nodes_executed": STATE.nodes_executed, "pid": os.getpid(), "mode": CONFIG.mode,
                              "sockets": len(STATE.sockets)})
    if method == "GET" and path == "/":
        return Response(200, b"<html><body>ComfyUI stand-in</body></html>", "text/html")
    return Response(404, b"404: Not Found")


class WebSocket:
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, writer):
        self.writer = writer
        self.closed = False

    def send_text(self, text):
        if self.closed:
            return
        self._frame(0x1, text.encode("utf-8"))

    def _frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + struct.pack(">H", n)
        else:
            header += bytes([127]) + struct.pack(">Q", n)
        try:
            self.writer.write(header + payload)
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def serve(self, reader, sid):
        STATE.sockets[sid] = self
        log("websocket connected: %s" % sid)
        try:
            if CONFIG.mode != "hang":
                self.send_text(json.dumps({"type": "status", "data": {"status": STATE.queue_info(), "sid": sid}}))
                if STATE.client_id == sid and STATE.last_node_id is not None:
                    self.send_text(json.dumps({"type": "executing", "data": {"node": STATE.last_node_id}}))
            while True:
                head = await reader.readexactly(2)
                opcode = head[0] & 0x0F
                masked = head[1] & 0x80
                n = head[1] & 0x7F
                if n == 126:
                    n = struct.unpack(">H", await reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", await reader.readexactly(8))[0]
                if n > MAX_BODY:
                    break
                mask = await reader.readexactly(4) if masked else b"\0\0\0\0"
                data = bytearray(await reader.readexactly(n))
                for i in range(n):
                    data[i] ^= mask[i % 4]
                if opcode == 0x8:
                    self._frame(0x8, bytes(data[:2]))
                    break
                if opcode == 0x9:
                    self._frame(0xA, bytes(data))
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed = True
            if STATE.sockets.get(sid) is self:
                del STATE.sockets[sid]


async def handle_connection(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                return
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            body = await reader.readexactly(length) if length else b""
            request = Request(method, target, headers, body)
            if request.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                key = headers.get("sec-websocket-key", "")
                accept = base64.b64encode(hashlib.sha1((key + WebSocket.GUID).encode()).digest()).decode()
                writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
                await writer.drain()
                sid = request.query.get("clientId") or uuid.uuid4().hex
                await WebSocket(writer).serve(reader, sid)
                return
            try:
                response = route(request)
            except Exception:  # noqa: BLE001 - a handler bug answers 500 like aiohttp does
                log(traceback.format_exc())
                response = Response(500, b"500 Internal Server Error")
            close = headers.get("connection", "").lower() == "close"
            head = ["HTTP/1.1 %d %s" % (response.status, REASONS.get(response.status, "Status")),
                    "Content-Type: %s" % response.content_type, "Content-Length: %d" % len(response.body)]
            head += ["%s: %s" % item for item in response.headers.items()]
            if close:
                head.append("Connection: close")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
            await writer.drain()
            if close:
                return
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001
            pass


# ------------------------------------------------------------------------------------------------------- main ---

def default_base(args):
    """The base of the directories not given on the command line (see the module docstring)."""
    script = os.path.abspath(sys.argv[0])
    if os.path.basename(script) != "comfyui_standin.py":
        return os.path.dirname(script)  # posing as ComfyUI's main.py: ComfyUI's own layout
    if args.output_directory:
        return os.path.dirname(os.path.abspath(args.output_directory))
    return tempfile.mkdtemp(prefix="comfyui-standin-")


def main():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a parent may have left SIGTERM ignored
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", nargs="?", const="0.0.0.0", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--disable-auto-launch", action="store_true")
    parser.add_argument("--disable-metadata", action="store_true")
    parser.add_argument("--extra-model-paths-config", action="append", default=[], nargs="+")
    parser.add_argument("--base-directory", default=None)
    parser.add_argument("--input-directory", default=None)
    parser.add_argument("--output-directory", default=None)
    parser.add_argument("--temp-directory", default=None)
    parser.add_argument("--user-directory", default=None)
    parser.add_argument("--standin-mode", default=os.environ.get("COMFYUI_STANDIN_MODE", "normal"),
                        choices=["normal", "crash", "hang", "slow"])
    parser.add_argument("--standin-slow-seconds", type=float,
                        default=float(os.environ.get("COMFYUI_STANDIN_SLOW_SECONDS", "0.5")))
    parser.add_argument("--standin-failing-node", action="append", default=[])
    parser.add_argument("--standin-alter-node", action="append", default=[],
                        help="CLASS or CLASS=random: change the first pixel of CLASS's image outputs")
    parser.add_argument("--standin-startup-delay", type=float,
                        default=float(os.environ.get("COMFYUI_STANDIN_STARTUP_DELAY", "0")))
    args, unknown = parser.parse_known_args()

    CONFIG.host = args.listen.split(",")[0]
    CONFIG.port = args.port
    CONFIG.base = os.path.abspath(args.base_directory or default_base(args))
    CONFIG.output_dir = os.path.abspath(args.output_directory or os.path.join(CONFIG.base, "output"))
    CONFIG.input_dir = os.path.abspath(args.input_directory or os.path.join(CONFIG.base, "input"))
    # ComfyUI puts temp under the output directory's parent unless told otherwise.
    CONFIG.temp_dir = os.path.abspath(args.temp_directory or os.path.join(CONFIG.base, "temp"))
    CONFIG.user_dir = os.path.abspath(args.user_directory or os.path.join(CONFIG.base, "user"))
    for directory in (CONFIG.output_dir, CONFIG.input_dir, CONFIG.temp_dir, CONFIG.user_dir):
        os.makedirs(directory, exist_ok=True)
    CONFIG.disable_metadata = args.disable_metadata
    CONFIG.mode = args.standin_mode
    CONFIG.slow_seconds = args.standin_slow_seconds
    CONFIG.alter_nodes = dict((a.split("=", 1) + ["fixed"])[:2] for a in args.standin_alter_node)
    for group in args.extra_model_paths_config:
        for path in group:
            log("Adding extra search path from %s" % path)
            for folder, dirs in parse_extra_model_paths(path).items():
                CONFIG.model_paths.setdefault(folder, []).extend(dirs)
    if unknown:
        log("stand-in: ignoring arguments %s" % " ".join(unknown))

    log("Checkpoint files will always be loaded safely.")
    log("Total VRAM 0 MB, total RAM %d MB" % (system_stats()["system"]["ram_total"] >> 20))
    log("pytorch version: none (ComfyUI stand-in %s)" % VERSION)
    log("Device: cpu")
    failing = list(args.standin_failing_node)
    failing += [n for n in os.environ.get("COMFYUI_STANDIN_FAILING_NODES", "").split(",") if n]
    custom_dir = os.path.join(CONFIG.base, "custom_nodes")
    for name in failing:
        log("Traceback (most recent call last):")
        log('  File "%s/nodes.py", line 2131, in load_custom_node' % CONFIG.base)
        log("ModuleNotFoundError: No module named 'standin_missing_dependency'")
        log("")
        log("Cannot import %s module for custom nodes: No module named 'standin_missing_dependency'" %
            os.path.join(custom_dir, name))
    if args.standin_startup_delay > 0:
        time.sleep(args.standin_startup_delay)
    log("")
    log("Import times for custom nodes:")
    log("   0.0 seconds: %s" % os.path.join(custom_dir, "websocket_image_save.py"))
    for name in failing:
        log("   0.0 seconds (IMPORT FAILED): %s" % os.path.join(custom_dir, name))
    log("")

    if os.environ.get("COMFYUI_STANDIN_NO_PARENT_WATCH") != "1":
        parent = os.getppid()

        def watch_parent():
            while True:
                time.sleep(0.5)
                if os.getppid() != parent:
                    os._exit(0)

        threading.Thread(target=watch_parent, daemon=True).start()

    threading.Thread(target=worker, daemon=True).start()

    async def serve():
        STATE.loop = asyncio.get_running_loop()
        server = await asyncio.start_server(handle_connection, CONFIG.host, CONFIG.port, limit=MAX_HEADER)
        port = server.sockets[0].getsockname()[1]
        log("Starting server\n")
        log("To see the GUI go to: http://%s:%d" % (CONFIG.host, port))
        if CONFIG.port == 0:
            print("READY %d" % port, flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
