"""Dynamic batching for the model server: one asyncio worker that groups queued requests.

A request waits in a bounded queue; the worker takes up to ``max_batch_size`` of them (waiting
``max_wait_ms`` for more to arrive), predicts once per model in a worker thread, writes the batch's
prediction records (group commit) and only then answers each request. A request keeps the model it
was checked against, so a hot swap never fails or splits one.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lamina.deploy.asgi import Metrics
from lamina.deploy.served import InputError, Served

__all__ = ["Batcher"]


class Batcher:
    """One asyncio worker: batches queued requests, predicts once in a thread, answers each.

    Args:
        max_batch_size: most requests per prediction.
        max_wait_ms: longest wait for more requests to fill a batch.
        queue_size: most waiting requests (``queue.put_nowait`` raises ``asyncio.QueueFull``).
        metrics: the server's counters (batches, batch sizes, queue depth).
        log: a ``lamina.predlog.PredictionLog`` or None.

    Each queued item is ``(served, input, rows, future, meta)``: the model checked against, its
    input, the number of rows, the future that gets the outputs (or an exception) and the record's
    fields ``{"request_id", "endpoint", "received"}``.
    """

    def __init__(
        self, max_batch_size: int, max_wait_ms: float, queue_size: int, metrics: Metrics, log: Any
    ) -> None:
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(queue_size)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.metrics = metrics
        self.log = log
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lamina-predict")

    async def run(self) -> None:
        """Answer queued requests batch by batch, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            if self.queue.qsize() < self.max_batch_size - 1 and self.max_wait > 0:
                await asyncio.sleep(self.max_wait)  # let more requests arrive
            while len(batch) < self.max_batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.metrics.queue_depth = self.queue.qsize()
            batch = [item for item in batch if not item[3].done()]  # timed-out requests are gone
            for served in {id(item[0]): item[0] for item in batch}.values():
                await self._answer(loop, served, [item for item in batch if item[0] is served])

    async def _answer(
        self, loop: asyncio.AbstractEventLoop, served: Served, group: list[Any]
    ) -> None:
        rows = [item[2] for item in group]  # rows per request
        self.metrics.batches += 1
        self.metrics.batch_items += sum(rows)
        results: list[Any] = []
        try:
            outputs = await loop.run_in_executor(
                self.executor, served.predict, served.concat([i[1] for i in group])
            )
            results += [
                {k: v[end - n : end] for k, v in outputs.items()}
                for end, n in zip(np.cumsum(rows), rows)
            ]
        except Exception:  # one bad request spoils the batch: answer each on its own
            for item in group:
                try:
                    results.append(
                        await loop.run_in_executor(self.executor, served.predict, item[1])
                    )
                except Exception as exc:
                    results.append(InputError(f"The model could not predict on this input: {exc}"))
        # group commit: the batch's records are on disk before any of its replies leaves
        if self.log is not None:
            records = [
                {**item[4], "version": served.version, "inputs": item[1], "outputs": result}
                for item, result in zip(group, results)
                if not item[3].done() and not isinstance(result, InputError)
            ]
            try:
                await loop.run_in_executor(self.executor, self.log.write, records)
            except Exception as exc:
                # no reply without its record: the batch fails (500), the worker lives on
                results = [r if isinstance(r, InputError) else exc for r in results]
        for item, result in zip(group, results):
            if not item[3].done():
                item[3].set_result(result)
