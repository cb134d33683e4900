"""BU-TD: a bottom-up network and its mirrored top-down network for Counter-Hebbian learning and
task attention (Top-Down Network Combines Back-Propagation with Attention)."""
from topdown_zoo.models.butd.model import BUTDModel, build_butd, mirror

__all__ = ["BUTDModel", "build_butd", "mirror"]
