"""How much slower is ``lamina`` ``fit`` than a hand-written PyTorch loop? Plus peak RSS and import cost.

Method. Three models (MLP 784-256-256-10, a small CNN, an LSTM reading each image as 28 steps of
28 features) are trained on MNIST twice: by ``model.fit(x, y, epochs=E, batch_size=128, verbose=0)``
after ``compile(optimizer="adam", loss="cross_entropy")``, and by the loop a careful user writes
(``randperm`` per epoch, index slicing, forward, ``cross_entropy``, ``zero_grad(set_to_none=True)``,
backward, Adam step, the running loss summed as a tensor and read once per epoch). Both sides get
the same architecture and parameter count, Adam(lr=1e-3), and the same float32 tensors already in
memory on the device. Models and optimizers are built once; only the ``fit`` call / the loop is
timed (``time.perf_counter``, after ``gc.collect()``, with a CUDA sync where relevant). Each round
runs both sides, alternating which goes first; round 0 is a warm-up (lazy layers, Adam state,
allocator) and is discarded. The ratio lamina/raw is taken per round; the median is compared with
the target 1.05. Note that every ``fit`` call also pays lamina's fixed per-call cost (input
validation), which is part of what is measured.

Peak RSS: a 1-epoch MLP fit on all 60,000 MNIST rows in a fresh child process per side (the raw
child never imports lamina), read with ``os.wait4`` (the per-child form of
``getrusage(RUSAGE_CHILDREN)``, so one child's peak cannot mask the other's). Import cost: fresh
interpreters timing ``import torch`` against ``import torch, lamina``, alternated, medians.

    python benchmarks/fit_overhead.py [--rounds 5] [--only mlp] [--markdown benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO, TARGET_IMPORT_S = 1.05, 0.3
DEFAULT_ROWS = {"mlp": 60_000, "cnn": 10_000, "lstm": 10_000}


def import_lamina() -> Any:
    """Import lamina from this checkout (works without ``pip install -e .``); only the lamina side calls it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import lamina

    return lamina


def load_mnist(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``rows`` MNIST training images as float32 (N, 28, 28) in [0, 1], and int64 labels."""
    env = os.environ.get("LAMINA_DATA")
    base = (Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets") / "mnist"
    images = gzip.open(base / "train-images-idx3-ubyte.gz").read()
    labels = gzip.open(base / "train-labels-idx1-ubyte.gz").read()
    x = np.frombuffer(images, np.uint8, offset=16).reshape(-1, 28, 28)[:rows]
    y = np.frombuffer(labels, np.uint8, offset=8)[:rows]
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


class LSTMClassifier(nn.Module):
    """Each image as 28 time steps of 28 features; classify from the last hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])  # type: ignore[no-any-return]


def raw_model(name: str) -> nn.Module:
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 10))
    return LSTMClassifier()


def lamina_model(name: str) -> Any:
    lamina = import_lamina()
    layers = lamina.layers
    if name == "mlp":
        model = lamina.Sequential([layers.Dense(256, "relu"), layers.Dense(256, "relu"), layers.Dense(10)])
    elif name == "cnn":
        model = lamina.Sequential([layers.Conv2D(32, 3, activation="relu"), layers.MaxPool2D(2),
                                   layers.Conv2D(64, 3, activation="relu"), layers.MaxPool2D(2),
                                   layers.Flatten(), layers.Dense(10)])
    else:
        model = lamina.Model(LSTMClassifier())
    return model.compile(optimizer="adam", loss="cross_entropy")


def model_input(name: str, x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> what the model reads: (N, 784), (N, 1, 28, 28) or (N, 28, 28); views, no copies."""
    return {"mlp": x.reshape(len(x), 784), "cnn": x.unsqueeze(1), "lstm": x}[name]


def raw_fit(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
            epochs: int, batch_size: int) -> float:
    """The hand-written loop; returns the last epoch's mean loss."""
    model.train()
    n, mean_loss = len(x), float("nan")
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, batch_size):
            index = perm[start:start + batch_size]
            xb, yb = x[index], y[index]
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(xb)
        mean_loss = total.item() / n
    return mean_loss


def timed(fn: Callable[[], float], device: torch.device) -> tuple[float, float]:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    loss = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, loss


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    rows = args.rows or DEFAULT_ROWS[name]
    images, y = load_mnist(rows)
    x, y = model_input(name, images.to(device)), y.to(device)
    torch.manual_seed(args.seed)
    raw = raw_model(name).to(device)
    optimizer = torch.optim.Adam(raw.parameters(), lr=1e-3)
    torch.manual_seed(args.seed)
    lam = lamina_model(name)
    epochs, batch = args.epochs_per_round, args.batch_size
    sides: dict[str, Callable[[], float]] = {
        "lamina": lambda: lam.fit(x, y, epochs=epochs, batch_size=batch, verbose=0,
                                  device=str(device)).history["loss"][-1],
        "raw": lambda: raw_fit(raw, optimizer, x, y, epochs, batch)}
    times: dict[str, list[float]] = {"lamina": [], "raw": []}
    for round_ in range(args.rounds + 1):  # round 0: warm-up, discarded
        order = ["lamina", "raw"] if round_ % 2 == 0 else ["raw", "lamina"]
        results = {side: timed(sides[side], device) for side in order}
        label = "warm-up" if round_ == 0 else f"round {round_}"
        print(f"{name} {label}: lamina {results['lamina'][0]:.3f} s (loss {results['lamina'][1]:.4f}), "
              f"raw {results['raw'][0]:.3f} s (loss {results['raw'][1]:.4f}), "
              f"ratio {results['lamina'][0] / results['raw'][0]:.3f}", flush=True)
        if round_ > 0:
            for side in times:
                times[side].append(results[side][0])
    params = {side: sum(p.numel() for p in m.parameters()) for side, m in (("lamina", lam), ("raw", raw))}
    assert params["lamina"] == params["raw"], f"{name}: parameter counts differ: {params}"
    samples, steps = rows * epochs, -(-rows // batch) * epochs
    ratios = [a / b for a, b in zip(times["lamina"], times["raw"])]
    median = {side: statistics.median(t) for side, t in times.items()}
    return {"model": name, "params": params["raw"], "rows": rows, "ratio": statistics.median(ratios),
            "min": min(ratios), "max": max(ratios), **{f"{s}_sps": samples / median[s] for s in median},
            **{f"{s}_us": median[s] / steps * 1e6 for s in median}}


def rss_child(side: str, device: torch.device) -> None:
    """Body of the RSS child: one epoch of the MLP on all of MNIST."""
    images, y = load_mnist(60_000)
    x, y = model_input("mlp", images.to(device)), y.to(device)
    if side == "lamina":
        lamina_model("mlp").fit(x, y, epochs=1, batch_size=128, verbose=0, device=str(device))
    else:
        model = raw_model("mlp").to(device)
        raw_fit(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, 1, 128)


def peak_rss_mib(side: str, args: argparse.Namespace) -> float:
    command = [sys.executable, __file__, "--rss-child", side, "--threads", str(args.threads), "--device", args.device]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"RSS child for {side} failed")
    return usage.ru_maxrss / 1024  # KiB on Linux


def import_seconds(repeats: int) -> dict[str, float]:
    """Median wall time of fresh interpreters importing torch, and torch then lamina (from this checkout)."""
    codes = {"torch": "import torch", "torch+lamina": "import torch, lamina"}
    times: dict[str, list[float]] = {key: [] for key in codes}
    for i in range(repeats + 1):  # i == 0 warms the file cache and is discarded
        for key in sorted(codes, reverse=i % 2 == 1):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", codes[key]], cwd=ROOT, check=True)
            if i:
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(t) for key, t in times.items()}


def lamina_import_profile(top: int = 8) -> list[str]:
    """The slowest modules that ``import lamina`` loads on top of torch (``-X importtime``, self time)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torch; import lamina"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    lines = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:") and "self" not in line]
    names = [parts[2].rstrip() for parts in lines]
    after_torch = lines[names.index(" torch") + 1:] if " torch" in names else lines
    rows = sorted(((int(p[0].split(":")[1]), int(p[1]), p[2].strip()) for p in after_torch), reverse=True)
    return [f"{name}: self {us / 1e3:.1f} ms, cumulative {cum / 1e3:.1f} ms" for us, cum, name in rows[:top]]


def report(results: list[dict[str, Any]], rss: dict[str, float] | None, imports: dict[str, float] | None,
           args: argparse.Namespace, device: torch.device) -> str:
    lines = [f"torch {torch.__version__}, device {device}, {args.threads} threads, batch {args.batch_size}, "
             f"{args.epochs_per_round} epoch(s) per round, {args.rounds} rounds (+1 warm-up, discarded)", "",
             "| model | params | rows | lamina samples/s | raw samples/s | lamina µs/step | raw µs/step "
             "| median ratio (min-max) | target | result |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    failed = []
    for r in results:
        ok = r["ratio"] <= TARGET_RATIO
        failed += [] if ok else [r["model"]]
        lines.append(f"| {r['model']} | {r['params']:,} | {r['rows']:,} | {r['lamina_sps']:,.0f} | "
                     f"{r['raw_sps']:,.0f} | {r['lamina_us']:,.0f} | {r['raw_us']:,.0f} | {r['ratio']:.3f} "
                     f"({r['min']:.3f}-{r['max']:.3f}) | <= {TARGET_RATIO} | {'PASS' if ok else 'FAIL'} |")
    lines.append("")
    if rss:
        lines.append(f"Peak RSS, 1-epoch MLP fit on 60,000 MNIST rows (fresh process each): lamina "
                     f"{rss['lamina']:.0f} MiB, raw {rss['raw']:.0f} MiB, ratio {rss['lamina'] / rss['raw']:.2f}")
    if imports:
        extra = imports["torch+lamina"] - imports["torch"]
        ok = extra <= TARGET_IMPORT_S
        failed += [] if ok else ["import"]
        lines.append(f"Import (median of {args.import_repeats}): `import torch` {imports['torch']:.2f} s, "
                     f"`import torch, lamina` {imports['torch+lamina']:.2f} s; lamina adds {extra:+.3f} s "
                     f"(target <= {TARGET_IMPORT_S} s): {'PASS' if ok else 'FAIL'}")
        if not ok:
            lines += ["", "Slowest modules loaded by `import lamina` after torch:"]
            lines += [f"- {line}" for line in lamina_import_profile()]
    lines += ["", f"Overall: {'PASS' if not failed else 'FAIL (' + ', '.join(failed) + ')'}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per model (after 1 warm-up)")
    parser.add_argument("--epochs-per-round", type=int, default=1)
    parser.add_argument("--rows", type=int, default=0, help="MNIST rows per model (0: mlp 60000, cnn/lstm 10000)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", choices=sorted(DEFAULT_ROWS), action="append", help="repeatable")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--import-repeats", type=int, default=7)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--rss-child", choices=["lamina", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    if args.rss_child:
        rss_child(args.rss_child, device)
        return
    results = [bench_model(name, args, device) for name in (args.only or list(DEFAULT_ROWS))]
    rss = None if args.skip_rss else {side: peak_rss_mib(side, args) for side in ("lamina", "raw")}
    imports = None if args.skip_import else import_seconds(args.import_repeats)
    text = report(results, rss, imports, args, device)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
