"""matplotlib's backend inside tasks (MPLBACKEND=module://nbflow.cards.mpl_backend):
Agg drawing, and `plt.show()` displays the open figures into the task's card, as the
notebook's inline backend does."""
from __future__ import annotations

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs) -> None:
    from .capture import show_figures

    show_figures()
