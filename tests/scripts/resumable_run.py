"""A training run used by tests/test_checkpoint.py: prints a digest of the final weights.

Usage: python resumable_run.py CHECKPOINT_DIR OUT_FILE [--workers N] [--resume] [--no-rng-restore]
       [--sleep SECONDS]  (sleep per step, so a test can kill the process mid-epoch)
"""

import argparse
import hashlib
import os
import signal
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import lamina
import lamina.train


class Noisy(Dataset):
    """Adds random noise in __getitem__, so worker RNG and data order both matter."""

    def __init__(self, x, y):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.randn(self.x.shape[1]), self.y[i]


class Slow(lamina.callbacks.Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


class KillAt(lamina.callbacks.Callback):
    """kill -9 this process after a given number of training steps (a crash with no cleanup)."""

    def __init__(self, steps):
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.steps:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("out")
    parser.add_argument(
        "--workers", type=int, default=-1, help="-1: in-memory arrays; N>=0: DataLoader"
    )
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-rng-restore", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument(
        "--kill-at", type=int, default=0, help="SIGKILL itself after this many steps"
    )
    parser.add_argument(
        "--every", type=int, default=3, help="checkpoint every N steps; 0: epoch ends only"
    )
    parser.add_argument(
        "--kill-in-write",
        type=int,
        default=0,
        help="SIGKILL itself half-way through writing the Nth checkpoint",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.no_rng_restore:  # negative control: resume without restoring RNG states
        lamina.train.engine.set_rng_state = lambda state: None  # the engine module restores them
    if args.kill_in_write:
        import safetensors.torch

        real_save, writes = safetensors.torch.save_file, [0]

        def dying_save(tensors, path, metadata=None):
            writes[0] += 1
            real_save(tensors, path, metadata)
            if (
                writes[0] == args.kill_in_write
            ):  # leave a half-written file, then die with no cleanup
                with open(path, "r+b") as handle:
                    handle.truncate(os.path.getsize(path) // 2)
                os.kill(os.getpid(), signal.SIGKILL)

        safetensors.torch.save_file = dying_save
    x, y = lamina.testing.tiny_classification(rows=240, features=6)
    model = lamina.Sequential(
        [
            lamina.layers.Dense(32, activation="relu"),
            lamina.layers.Dropout(0.3),
            lamina.layers.Dense(3),
        ]
    )
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    callbacks = [Slow(args.sleep)] if args.sleep else []
    if args.kill_at:
        callbacks.append(KillAt(args.kill_at))
    common = dict(
        epochs=4,
        seed=11,
        verbose=0,
        checkpoint_dir=args.directory,
        checkpoint_every=args.every or None,
        resume=args.resume,
        callbacks=callbacks,
    )
    if args.workers < 0:
        history = model.fit(x, y, batch_size=16, **common)
    else:
        loader = DataLoader(
            Noisy(x, y),
            batch_size=16,
            shuffle=True,
            num_workers=args.workers,
            generator=torch.Generator().manual_seed(5),
        )
        history = model.fit(loader, **common)
    digest = hashlib.sha256(
        b"".join(v.numpy().tobytes() for v in model.state_dict().values())
    ).hexdigest()
    with open(args.out, "w") as handle:
        handle.write(digest + "\n" + repr(np.round(history.history["loss"], 10).tolist()))


if __name__ == "__main__":
    main()
