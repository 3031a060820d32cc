"""How much slower is lamina's ``fit`` than a hand-written PyTorch loop? Plus peak RSS and import cost.

Method. An MLP (784-256-256-10), a small CNN and an LSTM (28 steps of 28 features) are trained on
MNIST by ``compile(optimizer="adam", loss="cross_entropy")`` + ``fit(x, y, batch_size=128, verbose=0)``
and by the loop a careful user writes (``randperm`` per epoch, index slicing, forward, cross-entropy,
``zero_grad(set_to_none=True)``, backward, Adam step, running loss summed as a tensor, read once per
epoch): same architecture and parameter count (checked), Adam(lr=1e-3), the same float32 tensors in
memory on the device. Models and optimizers are built once; only ``fit`` / the loop is timed
(``perf_counter`` after ``gc.collect()``). Each round runs both sides, alternating which goes first;
round 0 is a warm-up and is discarded. The median of the per-round ratios lamina/raw is compared with
the target; the ratio of best times is shown too (less sensitive to a busy machine). Each ``fit`` call
pays lamina's fixed per-call cost (input checks), so one epoch per round is the least favourable case.

Peak RSS: a 1-epoch MLP fit on all 60,000 rows in a fresh process per side (the raw one never imports
lamina), ``getrusage(RUSAGE_CHILDREN).ru_maxrss``. Import: fresh interpreters, alternated, medians;
the target is judged on ``import lamina`` timed inside the process after ``import torch``.

Rows with metrics and lamina's own families: ``mlp_accuracy`` and ``cnn_accuracy`` compile with
``metrics=["accuracy"]`` and the raw loop counts correct predictions on the device (a tensor, one
``.item()`` per epoch); ``rnn`` (``lamina.models.RNN``, an LSTM) and ``transformer_lm``
(``lamina.models.TransformerLM`` on windows of 32 token ids) run the same module in both loops, with
accuracy, so the ratio is the cost of ``fit`` itself.

    python benchmarks/fit_overhead.py [--rounds 5] [--only mlp] [--threads 2] [--markdown PATH]
    python benchmarks/fit_overhead.py --quick     # a smoke run: tiny data, one round, no RSS or import rows
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
DEFAULT_ROWS = {
    "mlp": 60_000,
    "cnn": 10_000,
    "lstm": 10_000,
    "mlp_accuracy": 60_000,
    "cnn_accuracy": 10_000,
    "rnn": 10_000,
    "transformer_lm": 4_000,
}
METRIC_ROWS = (
    "mlp_accuracy",
    "cnn_accuracy",
    "rnn",
    "transformer_lm",
)  # compiled with metrics=["accuracy"]
LM_VOCABULARY, LM_LENGTH = 64, 32
# A small python that runs the child and reports RUSAGE_CHILDREN. Spawning the child from this big
# process would not do: Linux counts the peak RSS of the pre-exec image (a copy of ours) in ru_maxrss.
RSS_PROBE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def import_lamina() -> Any:
    """lamina from this checkout (no install needed); imported lazily so the raw RSS child never loads it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import lamina

    return lamina


def load_mnist(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``rows`` MNIST training images as float32 (N, 28, 28) in [0, 1], and int64 labels."""
    env = os.environ.get("LAMINA_DATA")
    base = (
        Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    ) / "mnist"
    with gzip.open(base / "train-images-idx3-ubyte.gz") as images:
        x = np.frombuffer(images.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:rows]
    with gzip.open(base / "train-labels-idx1-ubyte.gz") as labels:
        y = np.frombuffer(labels.read(), np.uint8, offset=8)[:rows]
    return torch.from_numpy(x.astype(np.float32)).div_(255.0), torch.from_numpy(y.astype(np.int64))


class LSTMClassifier(nn.Module):
    """Each image as 28 time steps of 28 features; classify from the last hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])  # type: ignore[no-any-return]


def family_model(name: str) -> Any:
    """lamina's own family for the ``rnn`` and ``transformer_lm`` rows (the raw loop trains the same module)."""
    models = import_lamina().models
    if name == "rnn":
        return models.RNN(cell="lstm", units=128, outputs=10)
    return models.TransformerLM(
        vocabulary_size=LM_VOCABULARY,
        embedding_dim=64,
        num_heads=4,
        num_layers=2,
        max_length=LM_LENGTH,
    )


def raw_model(name: str) -> nn.Module:
    name = name.removesuffix("_accuracy")
    if name in ("rnn", "transformer_lm"):
        return family_model(name)  # type: ignore[no-any-return]
    if name == "mlp":
        return nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
        )
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 5 * 5, 10),
        )
    return LSTMClassifier()


def lamina_model(name: str) -> Any:
    lamina = import_lamina()
    layers = lamina.layers
    metrics = ["accuracy"] if name in METRIC_ROWS else None
    name = name.removesuffix("_accuracy")
    if name in ("rnn", "transformer_lm"):
        return family_model(name).compile(optimizer="adam", loss="cross_entropy", metrics=metrics)
    if name == "mlp":
        model = lamina.Sequential(
            [layers.Dense(256, "relu"), layers.Dense(256, "relu"), layers.Dense(10)]
        )
    elif name == "cnn":
        model = lamina.Sequential(
            [
                layers.Conv2D(32, 3, activation="relu"),
                layers.MaxPool2D(2),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPool2D(2),
                layers.Flatten(),
                layers.Dense(10),
            ]
        )
    else:
        model = lamina.Model(LSTMClassifier())
    return model.compile(optimizer="adam", loss="cross_entropy", metrics=metrics)


def model_input(name: str, x: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) -> (N, 784), (N, 1, 28, 28) or (N, 28, 28): views, no copies."""
    name = name.removesuffix("_accuracy")
    return {"mlp": x.reshape(len(x), 784), "cnn": x.unsqueeze(1), "lstm": x, "rnn": x}[name]


def lm_windows(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` next-token windows of a random walk over ``LM_VOCABULARY`` ids (learnable, no data set needed)."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randint(-2, 3, (rows * LM_LENGTH + 1,), generator=g)
    ids = steps.cumsum(0).remainder(LM_VOCABULARY)
    return ids[:-1].reshape(rows, LM_LENGTH), ids[1:].reshape(rows, LM_LENGTH)


def raw_fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    accuracy: bool = False,
) -> float:
    """The hand-written loop (index_select batches); returns the last epoch's mean loss.

    With ``accuracy``, correct predictions are counted on the device and read once per epoch, as a
    careful user would (sequence outputs ``(N, T, V)`` count every position).
    """
    model.train()
    n, mean_loss = len(x), float("nan")
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device, dtype=torch.long)
        for start in range(0, n, batch_size):
            index = perm[start : start + batch_size]
            xb, yb = x.index_select(0, index), y.index_select(0, index)
            logits = model(xb)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(xb)
            if accuracy:
                correct += (logits.detach().argmax(-1) == yb).sum()
        mean_loss = total.item() / n
        if accuracy:
            mean_loss += 0.0 * correct.item()  # the one metric read of the epoch
    return mean_loss


def timed(fn: Callable[[], float], device: torch.device) -> tuple[float, float]:
    """(seconds, returned loss) of one call."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    loss = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, loss


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    rows, epochs, batch = args.rows or DEFAULT_ROWS[name], args.epochs_per_round, args.batch_size
    if name == "transformer_lm":
        ids, targets = lm_windows(rows, args.seed)
        x, y = ids.to(device), targets.to(device)
    else:
        images, labels = load_mnist(rows)
        x, y = model_input(name, images.to(device)), labels.to(device)
    torch.manual_seed(args.seed)
    raw = raw_model(name).to(device)
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in raw.parameters()):
        with torch.no_grad():
            raw(x[:2])  # size lamina's lazy layers before the optimizer sees them
    optimizer = torch.optim.Adam(raw.parameters(), lr=1e-3)
    torch.manual_seed(args.seed)
    lam = lamina_model(name)
    accuracy = name in METRIC_ROWS
    sides: dict[str, Callable[[], float]] = {
        "lamina": lambda: lam.fit(
            x, y, epochs=epochs, batch_size=batch, verbose=0, device=str(device)
        ).history["loss"][-1],
        "raw": lambda: raw_fit(raw, optimizer, x, y, epochs, batch, accuracy),
    }
    times: dict[str, list[float]] = {"lamina": [], "raw": []}
    for round_ in range(args.rounds + 1):  # round 0: warm-up, discarded
        order = ["lamina", "raw"] if round_ % 2 == 0 else ["raw", "lamina"]
        results = {side: timed(sides[side], device) for side in order}
        (lam_s, lam_loss), (raw_s, raw_loss) = results["lamina"], results["raw"]
        label = "warm-up" if round_ == 0 else f"round {round_}"
        print(
            f"{name} {label}: lamina {lam_s:.3f} s (loss {lam_loss:.4f}), raw {raw_s:.3f} s "
            f"(loss {raw_loss:.4f}), ratio {lam_s / raw_s:.3f}",
            flush=True,
        )
        if round_ > 0:
            times["lamina"].append(lam_s)
            times["raw"].append(raw_s)
    params = {
        side: sum(p.numel() for p in m.parameters()) for side, m in (("lamina", lam), ("raw", raw))
    }
    if params["lamina"] != params["raw"]:
        raise RuntimeError(f"{name}: the two sides differ in parameter count: {params}")
    ratios = [a / b for a, b in zip(times["lamina"], times["raw"])]
    median = {side: statistics.median(t) for side, t in times.items()}
    steps = -(-rows // batch) * epochs
    return {
        "model": name,
        "params": params["raw"],
        "rows": rows,
        "ratio": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "best": min(times["lamina"]) / min(times["raw"]),
        "spread": max(max(t) / min(t) for t in times.values()),
        **{f"{side}_sps": rows * epochs / median[side] for side in median},
        **{f"{side}_us": median[side] / steps * 1e6 for side in median},
    }


def rss_child(side: str, device: torch.device) -> None:
    """Body of an RSS child: one MLP epoch on all of MNIST; prints its peak RSS (KiB) before fit."""
    import resource

    images, labels = load_mnist(60_000)
    x, y = model_input("mlp", images.to(device)), labels.to(device)
    model: Any = lamina_model("mlp") if side == "lamina" else raw_model("mlp").to(device)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
    if side == "lamina":
        model.fit(x, y, epochs=1, batch_size=128, verbose=0, device=str(device))
    else:
        raw_fit(model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, 1, 128)


def peak_rss_mib(side: str, args: argparse.Namespace) -> tuple[float, float]:
    """(peak RSS of the child, its peak before fit started) in MiB; ru_maxrss is in KiB on Linux."""
    child = [
        sys.executable,
        __file__,
        "--rss-child",
        side,
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, *child], capture_output=True, text=True, check=True
    )
    before, peak = (int(value) for value in done.stdout.split()[-2:])
    return peak / 1024, before / 1024


def import_seconds(repeats: int) -> dict[str, list[float]]:
    """Wall times of fresh interpreters importing torch, and torch then lamina (alternated); ``lamina``: the
    time ``import lamina`` took inside the second kind, after torch, which torch's own jitter cannot blur."""
    timed_import = (
        "import time, torch; t = time.perf_counter(); import lamina; print(time.perf_counter() - t)"
    )
    codes = {"torch": "import torch", "torch+lamina": timed_import}
    times: dict[str, list[float]] = {"torch": [], "torch+lamina": [], "lamina": []}
    for i in range(repeats + 1):  # i == 0 warms the file cache and is discarded
        for key in sorted(codes, reverse=i % 2 == 1):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", codes[key]],
                cwd=ROOT,
                check=True,  # cwd: this checkout
                capture_output=True,
                text=True,
            )
            if i:
                times[key].append(time.perf_counter() - start)
                times["lamina"] += [float(done.stdout)] if done.stdout else []
    return times


def lamina_import_profile(top: int = 8) -> list[str]:
    """The slowest modules that ``import lamina`` loads after torch (``-X importtime``, by self time)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import torch; import lamina"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [
        line.split("|")
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "self" not in line
    ]
    names = [parts[2].rstrip() for parts in lines]
    after_torch = lines[names.index(" torch") + 1 :] if " torch" in names else lines
    rows = sorted(
        ((int(p[0].split(":")[1]), int(p[1]), p[2].strip()) for p in after_torch), reverse=True
    )
    return [
        f"{name}: self {us / 1e3:.1f} ms, cumulative {cum / 1e3:.1f} ms"
        for us, cum, name in rows[:top]
    ]


def report(
    results: list[dict[str, Any]],
    rss: dict[str, tuple[float, float]] | None,
    imports: dict[str, list[float]] | None,
    args: argparse.Namespace,
    load: str,
) -> str:
    lines = [
        f"torch {torch.__version__}, device {args.device}, {args.threads} threads, batch {args.batch_size}, "
        f"{args.epochs_per_round} epoch(s) per round, {args.rounds} rounds (+1 warm-up, discarded); "
        f"1-min load average before/after the training rounds: {load}",
        "",
        "| model | params | rows | lamina samples/s | raw samples/s | lamina µs/step | raw µs/step "
        "| median ratio (min-max) | best-time ratio | target | result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    failed = []
    for r in results:
        ok = r["ratio"] <= TARGET_RATIO
        failed += [] if ok else [r["model"]]
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['rows']:,} | {r['lamina_sps']:,.0f} | "
            f"{r['raw_sps']:,.0f} | {r['lamina_us']:,.0f} | {r['raw_us']:,.0f} | {r['ratio']:.3f} "
            f"({r['min']:.3f}-{r['max']:.3f}) | {r['best']:.3f} | <= {TARGET_RATIO} | "
            f"{'PASS' if ok else 'FAIL'} |"
        )
    noisy = [r["model"] for r in results if r["spread"] > 1.5]
    if noisy:
        lines += [
            "",
            f"Warning: one side's time varied more than 1.5x across rounds ({', '.join(noisy)}): the machine "
            "was busy and those ratios are unreliable; rerun with more --rounds on an idle machine.",
        ]
    if rss:
        (lam, lam_before), (raw, raw_before) = rss["lamina"], rss["raw"]
        lines += [
            "",
            f"Peak RSS, 1-epoch MLP fit on 60,000 MNIST rows (fresh process each): lamina {lam:.0f} MiB, "
            f"raw {raw:.0f} MiB, ratio {lam / raw:.2f} (peak before fit: lamina {lam_before:.0f} MiB, "
            f"raw {raw_before:.0f} MiB)",
        ]
    if imports:
        torch_s, both_s, lamina_s = (
            statistics.median(imports[key]) for key in ("torch", "torch+lamina", "lamina")
        )
        ok = lamina_s <= TARGET_IMPORT_S
        failed += [] if ok else ["import"]
        lines += [
            "",
            f"Import (medians of {args.import_repeats} fresh processes): `import torch` {torch_s:.2f} s, "
            f"`import torch, lamina` {both_s:.2f} s (difference {both_s - torch_s:+.2f} s); `import lamina` "
            f"after torch, timed inside the process: {lamina_s:.3f} s, target <= {TARGET_IMPORT_S} s: "
            f"{'PASS' if ok else 'FAIL'}",
        ]
        if not ok:
            lines += ["", "Slowest modules loaded by `import lamina` after torch:"]
            lines += [f"- {line}" for line in lamina_import_profile()]
    lines += ["", f"Overall: {'PASS' if not failed else 'FAIL (' + ', '.join(failed) + ')'}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds per model, after one warm-up round"
    )
    parser.add_argument("--epochs-per-round", type=int, default=1)
    parser.add_argument(
        "--rows", type=int, default=0, help="MNIST rows per model (default: mlp 60000, else 10000)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", choices=sorted(DEFAULT_ROWS), action="append", help="repeatable")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--import-repeats", type=int, default=7)
    parser.add_argument(
        "--skip", choices=["rss", "import"], action="append", default=[], help="repeatable"
    )
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 512 rows, 1 round, no RSS/import rows"
    )
    parser.add_argument("--rss-child", choices=["lamina", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds, args.skip = args.rows or 512, 1, ["rss", "import"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.rss_child:
        rss_child(args.rss_child, device)
        return
    load = f"{os.getloadavg()[0]:.2f}"
    results = [bench_model(name, args, device) for name in (args.only or list(DEFAULT_ROWS))]
    load += f"/{os.getloadavg()[0]:.2f}"
    rss = (
        None
        if "rss" in args.skip
        else {side: peak_rss_mib(side, args) for side in ("lamina", "raw")}
    )
    imports = None if "import" in args.skip else import_seconds(args.import_repeats)
    text = report(results, rss, imports, args, load)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
