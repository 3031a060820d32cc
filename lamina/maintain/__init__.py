"""After deployment: drift monitoring against the training reference, label feedback on logged
predictions, and retraining a challenger that waits for approval.
"""

from lamina.maintain.retrain import POLICY, RetrainResult, approve, champion, registry, retrain

__all__ = ["POLICY", "RetrainResult", "approve", "champion", "registry", "retrain"]
