"""Text-embedding throughput: all ML-1M-CD item texts (or short titles) with MiniLM.

    .venv/bin/python benchmarks/text_speed.py                    # 3,883 item texts, auto device
    .venv/bin/python benchmarks/text_speed.py --texts titles --n 100000 --device cuda  # GPU figure
    .venv/bin/python benchmarks/text_speed.py --precision fp16 --batch-size 1024

Prints texts/s, tokens/s, wall and process CPU seconds, the machine's load
average (the CPU is shared: compare CPU seconds, not only wall time), then the
cache round trip: first ``item_text_features`` call (encode + write) and the
second (load from cache). Goal on a 2-core CPU: all 3,883 texts in < 30 s;
on an H100 in fp16: >= 20,000 short texts/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

from gnnrec.data.registry import load_dataset
from gnnrec.text import TextEncoder, item_text_features, item_texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ml1m-cd")
    ap.add_argument("--texts", choices=("items", "titles"), default="items",
                    help="items: the dataset's templated item texts; titles: titles only")
    ap.add_argument("--n", type=int, default=0,
                    help="encode this many texts (cycling through the dataset's); 0 = all once")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--no-cache-check", action="store_true", help="skip the cache round trip")
    args = ap.parse_args()

    ds = load_dataset(args.dataset)
    texts, template = item_texts(ds)
    if args.texts == "titles":
        texts, template = [str(t) for t in ds.items["title"]], "{title}"
    if args.n:
        texts = [texts[i % len(texts)] for i in range(args.n)]
    enc = TextEncoder(device=args.device, precision=args.precision, max_length=args.max_length)
    t0 = time.perf_counter()
    enc._load()
    load_s = time.perf_counter() - t0
    enc.encode(texts[:64], batch_size=64, progress=False)           # warm-up (kernels, caches)
    if enc.device.startswith("cuda"):
        torch.cuda.synchronize()
    load_before = os.getloadavg()
    c0, t0 = time.process_time(), time.perf_counter()
    out = enc.encode(texts, batch_size=args.batch_size, progress=True, desc="benchmark")
    if enc.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = enc.last_stats
    gpu = torch.cuda.get_device_name() if enc.device.startswith("cuda") else platform.processor()
    print(f"\n{args.dataset} {args.texts}: template {template!r}")
    print(f"model   {enc.model_id}; {enc.pooling} pooling; load {load_s:.2f} s")
    print(f"device  {enc.device} ({gpu or 'cpu'}), {enc.precision}, torch threads "
          f"{torch.get_num_threads()}, batch {args.batch_size}, max_length {enc.max_length}")
    print(f"texts   {len(texts):,} ({s.tokens:,} tokens, {s.tokens / max(len(texts), 1):.1f} per "
          f"text; truncated {s.truncated}, empty {s.empty})")
    print(f"time    {wall:.2f} s wall, {cpu:.2f} s process CPU -> "
          f"{len(texts) / wall:,.0f} texts/s, {s.tokens / wall:,.0f} tokens/s")
    print(f"load    average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
          f"({os.cpu_count()} CPUs; > CPUs means the timing is contended)")
    assert out.shape == (len(texts), enc.dim) and np.isfinite(out).all()
    if args.no_cache_check:
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        first = item_text_features(ds, encoder=enc, cache_dir=tmp, batch_size=args.batch_size,
                                   progress=False)
        t1 = time.perf_counter()
        second = item_text_features(ds, encoder=enc, cache_dir=tmp, progress=False)
        t2 = time.perf_counter()
        assert second.stats["from_cache"] and np.array_equal(first.item, second.item)
        print(f"cache   first call {t1 - t0:.2f} s (encode + write), second call "
              f"{t2 - t1:.3f} s (checksum-verified load) for {second.item.shape}")


if __name__ == "__main__":
    main()
