"""Level 2: override train_step; the engine keeps the loop, callbacks and progress.

Here the step adds an L2 penalty on the weights and logs it next to the loss.
"""

import torch

import lamina


class PenalisedMLP(lamina.Model):
    """A small MLP whose training step adds ``penalty * sum(w**2)`` to the loss."""

    def __init__(self, units: int = 64, classes: int = 10, penalty: float = 1e-4):
        super().__init__()
        self.hidden = lamina.layers.Dense(units, activation="relu")
        self.out = lamina.layers.Dense(classes)
        self.penalty = penalty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))

    def train_step(self, batch):
        x, y = batch
        y_pred = self(x)
        l2 = sum((p**2).sum() for name, p in self.named_parameters() if name.endswith("weight"))
        loss = self.compute_loss(y_pred, y) + self.penalty * l2
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_metrics(y_pred.detach(), y)
        return {"loss": loss.detach(), "l2": l2.detach()}


(x_train, y_train), (x_test, y_test) = lamina.datasets.load("digits")
model = PenalisedMLP(units=64).compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
history = model.fit(x_train / 16.0, y_train, epochs=10, seed=0, verbose=2)
l2 = history.history["l2"]
print(f"sum of squared weights: {l2[0]:.1f} in the first epoch, {l2[-1]:.1f} in the last")
print("test:", model.evaluate(x_test / 16.0, y_test))
