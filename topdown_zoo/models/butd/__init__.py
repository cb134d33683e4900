"""BU-TD: a bottom-up network and its mirrored top-down network for Counter-Hebbian learning and
task attention (Top-Down Network Combines Back-Propagation with Attention)."""
from topdown_zoo.models.butd.bodies import BODIES, build_butd
from topdown_zoo.models.butd.mirror import mirror
from topdown_zoo.models.butd.model import BUTDModel

__all__ = ["BODIES", "BUTDModel", "build_butd", "mirror"]
