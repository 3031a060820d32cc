"""Level 3: your own torch loop. A lamina model is an nn.Module; lamina parts still help."""

import torch

import lamina

(x_train, y_train), (x_test, y_test) = lamina.datasets.load("digits")
x, y = torch.from_numpy(x_train / 16.0).float(), torch.from_numpy(y_train)

model = lamina.Sequential([lamina.layers.Dense(64, activation="relu"), lamina.layers.Dense(10)])
model.build(x)  # size the lazy layers before handing parameters to an optimizer
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
accuracy = lamina.metrics.Accuracy()
loader = lamina.data.ArrayLoader((x, y), batch_size=32, shuffle=True)

for epoch in range(10):
    accuracy.reset()
    for xb, yb in loader:
        logits = model(xb)
        loss = torch.nn.functional.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy.update(logits.detach(), yb)
    print(f"epoch {epoch + 1}: train accuracy {accuracy.compute():.3f}")

# The same model still has the lamina surface: evaluate, save, load.
model.compile(loss="cross_entropy", metrics=["accuracy"])
print("test:", model.evaluate(x_test / 16.0, y_test))
