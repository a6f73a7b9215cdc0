"""TrainState: the only mutable state of a run, saved with every checkpoint."""
import json
from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass
class TrainState:
    gen_iter: int = 0              # generator iterations completed
    critic_iters_total: int = 0    # critic iterations completed
    batches: int = 0               # real batches drawn from the data stream (its position)
    seconds: float = 0.0           # training wall-clock seconds, summed over resumed sessions
    skipped_records: int = 0       # corrupt or unreadable images met and skipped

    def to_json(self):
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text):
        """The TrainState of `text`; ValueError unless it is an object of this class's counters."""
        saved = json.loads(text)
        kinds = {f.name: f.type for f in fields(cls)}
        if not isinstance(saved, dict) or set(saved) != set(kinds):
            raise ValueError(f"not an object with exactly the keys {', '.join(sorted(kinds))}")
        for name, value in saved.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (kinds[name] in (int, "int") and not isinstance(value, int)):
                raise ValueError(f"{name} is {value!r}, not a count")
        return cls(**saved)


def worker_seed(seed, rank):
    """The seed of worker `rank` of a dist_sync run: `seed` itself for rank 0, so one worker is one machine."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0] % (2 ** 31 - 1))


def iteration_seed(seed, gen_iter):
    """MXNet's random state cannot be saved, so each generator iteration reseeds from (seed, gen_iter).

    A resumed run therefore draws exactly the noise the uninterrupted run would have drawn.
    """
    return int(np.random.SeedSequence([seed, gen_iter]).generate_state(1)[0] % (2 ** 31 - 1))
