"""What every built-in generator provides; the runner and the card use nothing else."""

from typing import ClassVar


class Generator:
    """Base of the generator dataclasses, whose fields are the settings: name, events (per process),
    chunk_events (per chunk file), workers (0: one per core), ...

    Subclasses define process_names(), make_chunk(process, seed, n) -> (columns, metadata) and,
    for the card, CARD_BRANCHES, sanity(data) and card_plots(data, directory)."""

    TREE: ClassVar[str] = "events"

    @classmethod
    def summary(cls) -> str:
        """The docstring's first line (the CLI help)."""
        return cls.__doc__.strip().splitlines()[0]

    def events_for(self, process: str) -> int:
        """Events to generate for `process` (default: `events`)."""
        return self.events
