"""The physics objects features are computed from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import awkward as ak


@dataclass(frozen=True)
class EventObjects:
    """Selected objects of a set of events; the single input of every feature function.

    Attributes
    ----------
    leptons : awkward.Array
        Jagged ``PtEtaPhiMCandidate`` (pt, eta, phi, mass, charge), pT-ordered; features use the
        leading one as "the lepton".
    jets : awkward.Array
        Jagged ``PtEtaPhiMCandidate`` with ``btag`` (discriminator score) and ``is_b`` (bool),
        pT-ordered, already selected and lepton-cleaned.
    met : awkward.Array
        Records ``pt, phi`` (GeV), one per event.

    Intermediate results that several features share (the flattened jets, the W candidate, the
    neutrino...) are computed once per instance through :meth:`memo`.
    """

    leptons: ak.Array
    jets: ak.Array
    met: ak.Array
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def memo(self, key: str, compute: Callable[[EventObjects], Any]) -> Any:
        """``compute(self)``, evaluated once per instance and key (features must not mutate it).

        The built-in features use plain keys (``"jets"``, ``"w_candidate"``...); features of
        your own should prefix theirs (e.g. ``"myanalysis.dijet"``) so as not to share a value
        by accident.
        """
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]

    def __len__(self) -> int:
        return len(self.met)

    def __getitem__(self, mask) -> EventObjects:
        return EventObjects(self.leptons[mask], self.jets[mask], self.met[mask])

    @property
    def lepton(self) -> ak.Array:
        """The leading lepton, ``None`` where there is none (option type)."""
        return ak.firsts(self.leptons, axis=1)

    @property
    def bjets(self) -> ak.Array:
        """The b-tagged jets, pT-ordered."""
        return self.jets[self.jets.is_b]

    @property
    def light_jets(self) -> ak.Array:
        """The jets that are not b-tagged, pT-ordered."""
        return self.jets[~self.jets.is_b]
