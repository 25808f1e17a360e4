"""The nodes view: cores and GPUs used/free per node, and activity sparklines."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Label, Sparkline, Static

from flux_restful_client import FluxRestfulError, Node

from ..context import DashContext
from ..widgets.footer import KeysFooter

__all__ = ["NodesScreen", "usage_bar"]


def usage_bar(used: int | None, total: int | None, width: int = 20) -> Text:
    """``████░░░░ 2/4`` (used/total), or ``-`` when unknown."""
    if not total or used is None:
        return Text("-", style="dim")
    filled = round(width * used / total)
    style = "red" if used >= total else ("yellow" if used * 2 >= total else "green")
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"), f" {used}/{total}")


def _used(total: int | None, free: int | None) -> int | None:
    return None if total is None or free is None else max(0, total - free)


class NodesScreen(Screen[None]):
    """Nodes that are up, refreshed every few seconds."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("r", "reload", "Reload")]

    def __init__(self, ctx: DashContext, *, refresh_every: float = 5.0) -> None:
        super().__init__(id="nodes-screen")
        self.ctx = ctx
        """The client, the store and the session."""
        self.refresh_every = refresh_every
        """Seconds between reloads."""

    def compose(self) -> ComposeResult:
        yield Label("Nodes", classes="title")
        yield DataTable(id="nodes", cursor_type="row")
        yield Static(id="nodes-total")
        with Horizontal(id="sparklines"):
            with Vertical(classes="spark-box"):
                yield Label("Running jobs (per minute, last hour)", id="spark-running-label")
                yield Sparkline([], id="spark-running")
            with Vertical(classes="spark-box"):
                yield Label("Completions per minute", id="spark-done-label")
                yield Sparkline([], id="spark-done")
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one("#nodes", DataTable)
        table.add_column("Node", key="name", width=16)
        table.add_column("Cores used", key="cores", width=30)
        table.add_column("Free", key="free_cores", width=5)
        table.add_column("GPUs used", key="gpus", width=30)
        table.add_column("Free", key="free_gpus", width=5)
        self.action_reload()
        self.set_interval(self.refresh_every, self.action_reload)

    def action_reload(self) -> None:
        self.show_activity()
        self.load()

    def show_activity(self) -> None:
        activity = self.ctx.store.activity
        running = [float(v) for v in activity.running] or [0.0]
        done = [float(v) for v in activity.completions] or [0.0]
        self.query_one("#spark-running", Sparkline).data = running
        self.query_one("#spark-done", Sparkline).data = done
        self.query_one("#spark-running-label", Label).update(
            f"Running jobs per minute (now {int(running[-1])}, max {int(max(running))})"
        )
        self.query_one("#spark-done-label", Label).update(
            f"Completions per minute (last {int(done[-1])}, total {int(sum(done))})"
        )

    def show_nodes(self, nodes: list[Node]) -> None:
        table = self.query_one("#nodes", DataTable)
        table.clear()
        cores = free_cores = gpus = free_gpus = 0
        for node in nodes:
            table.add_row(
                node.name,
                usage_bar(_used(node.cores, node.free_cores), node.cores),
                "" if node.free_cores is None else str(node.free_cores),
                usage_bar(_used(node.gpus, node.free_gpus), node.gpus),
                "" if node.free_gpus is None else str(node.free_gpus),
                key=node.name,
            )
            cores += node.cores or 0
            free_cores += node.free_cores or 0
            gpus += node.gpus or 0
            free_gpus += node.free_gpus or 0
        self.query_one("#nodes-total", Static).update(
            Text.assemble(
                (f"{len(nodes)} nodes", "bold"),
                f" · cores {cores - free_cores}/{cores} used",
                f" · GPUs {gpus - free_gpus}/{gpus} used" if gpus else " · no GPUs",
            )
        )

    @work(exclusive=True, group="nodes")
    async def load(self) -> None:
        try:
            nodes = await self.ctx.client.get_nodes()
        except FluxRestfulError as exc:
            self.notify(str(exc), title="Nodes", severity="error")
            return
        self.show_nodes(nodes)
