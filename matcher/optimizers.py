"""Optimisers behind one batch ask/tell interface over the unit cube.

Every optimiser works on ``u`` in ``[0, 1]^dim``; choices are binned by the
parameter space, so any optimiser can switch oscillator and filter type.  The
batch size is a property of the optimiser (never of the number of worker
processes), so a seed gives the same sequence of candidates whatever ``--jobs``.

Registered names (kebab-case): ``ga`` (DEAP), ``cma``, ``diagonal-cma`` (pycma, the
CMA-ES library Nevergrad wraps, called directly for its lower overhead), ``de``, ``pso``,
``ngopt``, ``one-plus-one`` (Nevergrad, on a flat ``ng.p.Array``), ``random``, and
``nsga2`` (DEAP's NSGA-II on the two objectives spectral and envelope distance).
"""

from __future__ import annotations

import random as _random
from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

__all__ = ["Optimizer", "OPTIMIZERS", "make_optimizer", "register", "DEFAULT_OPTIMIZER"]

DEFAULT_OPTIMIZER = "cma"


class Optimizer(ABC):
    """Seeded batch ask/tell minimiser on the unit cube.

    Parameters
    ----------
    dim : int
        Dimension of ``u``.
    budget : int
        Planned number of evaluations (some optimisers size themselves by it).
    seed : int
        Seed; the same seed and the same losses give the same candidates.
    x0 : ndarray, shape (dim,), optional
        Starting point (centre of the initial search), in [0, 1].
    sigma0 : float or ndarray, optional
        Initial spread in unit-cube coordinates.
    """

    batch_size: int = 1
    n_objectives: int = 1
    """Objectives the optimiser minimises; with 2 the search calls ``tell(u, losses, objectives=...)``
    with the ``(spectral, envelope)`` split of each loss (:meth:`objectives.distance.Fitness.objectives`)."""

    def __init__(self, dim: int, budget: int, seed: int = 0, x0: np.ndarray | None = None, sigma0: float | np.ndarray | None = None) -> None:
        if dim < 1:
            raise ValueError("dim must be at least 1")
        self.dim = int(dim)
        self.budget = int(budget)
        self.seed = int(seed)
        self.x0 = None if x0 is None else np.clip(np.asarray(x0, dtype=float), 0.0, 1.0)
        self.sigma0 = sigma0
        self._best_u: np.ndarray | None = None
        self._best_loss = np.inf

    @abstractmethod
    def _ask(self) -> np.ndarray:
        """Return the next batch, shape (batch_size, dim)."""

    @abstractmethod
    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        """Take the losses of the batch last asked."""

    def ask(self) -> np.ndarray:
        """Next batch of candidates, shape (batch_size, dim), within [0, 1]."""
        return np.clip(np.asarray(self._ask(), dtype=float).reshape(-1, self.dim), 0.0, 1.0)

    def tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        """Report the losses (shape (n,)) of candidates ``u`` (shape (n, dim))."""
        u = np.asarray(u, dtype=float).reshape(-1, self.dim)
        losses = np.asarray(losses, dtype=float).reshape(-1)
        i = int(np.argmin(losses))
        if losses[i] < self._best_loss:
            self._best_loss, self._best_u = float(losses[i]), u[i].copy()
        self._tell(u, losses)

    def recommend(self) -> np.ndarray:
        """Best point evaluated so far, shape (dim,)."""
        if self._best_u is None:
            return self.x0 if self.x0 is not None else np.full(self.dim, 0.5)
        return self._best_u.copy()

    @property
    def best_loss(self) -> float:
        return self._best_loss


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {}
"""Registry: kebab-case name -> optimiser class."""


def register(name: str) -> Callable[[type[Optimizer]], type[Optimizer]]:
    """Class decorator adding an optimiser to :data:`OPTIMIZERS`."""

    def deco(cls: type[Optimizer]) -> type[Optimizer]:
        OPTIMIZERS[name] = cls
        cls.name = name
        return cls

    return deco


def make_optimizer(name: str, dim: int, budget: int, seed: int = 0, **kwargs) -> Optimizer:
    """Instantiate a registered optimiser.

    Raises
    ------
    KeyError
        Listing the known names.
    """
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise KeyError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})") from None
    return cls(dim=dim, budget=budget, seed=seed, **kwargs)


@register("random")
class RandomSearch(Optimizer):
    """Uniform random sampling of the unit cube (the baseline); evaluates ``x0`` first if given."""

    batch_size = 16

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)
        self._first = True

    def _ask(self) -> np.ndarray:
        u = self._rng.random((self.batch_size, self.dim))
        if self._first and self.x0 is not None:
            u[0] = self.x0
        self._first = False
        return u

    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        pass


@register("ga")
class DeapGA(Optimizer):
    """Generational GA with DEAP's bounded real-valued operators.

    Tournament selection (size 3), simulated binary crossover
    (``cxSimulatedBinaryBounded``, eta 15) and polynomial mutation
    (``mutPolynomialBounded``, eta 20, one gene in ``dim`` on average), one elite.
    DEAP's operators draw from Python's ``random`` module; the GA swaps its own
    generator state in and out around each call so the global state is untouched.
    """

    batch_size = 32
    cx_prob = 0.9
    eta_cx = 15.0
    eta_mut = 20.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from deap import tools  # noqa: PLC0415 - optional heavy import

        self._tools = tools
        self._rng = _random.Random(self.seed)
        nprng = np.random.default_rng(self.seed)
        pop = nprng.random((self.batch_size, self.dim))
        if self.x0 is not None:
            spread = 0.15 if self.sigma0 is None else self.sigma0
            pop = np.clip(self.x0 + nprng.normal(0.0, 1.0, pop.shape) * spread, 0.0, 1.0)
            pop[0] = self.x0
        self._pop = pop
        self._fit: np.ndarray | None = None

    def _with_rng(self, fn, *args, **kwargs):
        saved = _random.getstate()
        _random.setstate(self._rng.getstate())
        try:
            return fn(*args, **kwargs)
        finally:
            self._rng.setstate(_random.getstate())
            _random.setstate(saved)

    def _ask(self) -> np.ndarray:
        return self._pop.copy()

    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        self._pop, self._fit = u.copy(), losses.copy()
        self._pop = self._with_rng(self._next_generation)

    def _next_generation(self) -> np.ndarray:
        n, pop, fit = self.batch_size, self._pop, self._fit
        rnd = _random

        def tournament() -> list[float]:
            idx = [rnd.randrange(n) for _ in range(3)]
            return list(pop[min(idx, key=lambda i: fit[i])])

        children: list[list[float]] = [list(pop[int(np.argmin(fit))])]  # elitism
        indpb = 1.0 / self.dim
        while len(children) < n:
            a, b = tournament(), tournament()
            if rnd.random() < self.cx_prob:
                a, b = self._tools.cxSimulatedBinaryBounded(a, b, eta=self.eta_cx, low=0.0, up=1.0)
            for child in (a, b):
                (child,) = self._tools.mutPolynomialBounded(child, eta=self.eta_mut, low=0.0, up=1.0, indpb=indpb)
                children.append(child)
        return np.clip(np.array(children[:n], dtype=float), 0.0, 1.0)


class _Nevergrad(Optimizer):
    """Adapter for a Nevergrad optimiser on a flat ``ng.p.Array`` in [0, 1]^dim."""

    ng_name: str = ""
    batch_size = 8

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import nevergrad as ng  # noqa: PLC0415 - heavy import

        init = self.x0 if self.x0 is not None else np.full(self.dim, 0.5)
        param = ng.p.Array(init=init, lower=0.0, upper=1.0)
        sigma = self.sigma0 if self.sigma0 is not None else (0.15 if self.x0 is not None else 0.3)
        param.set_mutation(sigma=sigma)
        param.random_state = np.random.RandomState(self.seed)
        self._opt = ng.optimizers.registry[self.ng_name](parametrization=param, budget=max(self.budget, self.batch_size), num_workers=self.batch_size)
        self._pending: list = []

    def _ask(self) -> np.ndarray:
        self._pending = [self._opt.ask() for _ in range(self.batch_size)]
        return np.array([c.value for c in self._pending])

    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        for cand, loss in zip(self._pending, losses):
            self._opt.tell(cand, float(loss))
        self._pending = []


@register("de")
class NevergradDE(_Nevergrad):
    """Differential evolution (Nevergrad ``DE``)."""

    ng_name = "DE"
    batch_size = 16


@register("pso")
class NevergradPSO(_Nevergrad):
    """Particle swarm (Nevergrad ``PSO``)."""

    ng_name = "PSO"
    batch_size = 16


@register("ngopt")
class NevergradNGOpt(_Nevergrad):
    """Nevergrad's ``NGOpt`` selector.

    Asked in batches of 8, NGOpt still picks its ``MetaModel`` wrapper for most
    budgets and dimensions of a match (``CMA`` inside it).  That metamodel converts
    a 1-element array to float: a DeprecationWarning with numpy < 2.4 and a
    ``TypeError`` from numpy 2.4 on, hence the numpy pin below 2.4.  With a batch
    of 1 NGOpt picks ``MetaModel(CmaFmin2)``, whose helper thread is not a daemon
    and keeps the process from exiting: keep the batch above 1.
    """

    ng_name = "NGOpt"
    batch_size = 8


@register("one-plus-one")
class NevergradOnePlusOne(_Nevergrad):
    """(1+1) evolution strategy with one-fifth rule (Nevergrad ``OnePlusOne``), 8 asks per batch."""

    ng_name = "OnePlusOne"
    batch_size = 8


class _PyCMA(Optimizer):
    """CMA-ES from pycma (``cma``, the library Nevergrad's CMA wraps), one generation per batch.

    Nevergrad's CMA adapter costs about 2 ms per candidate here (it re-derives
    the parametrisation's bounds and re-checks pycma's stopping rules on every
    ask and tell), more than a render; pycma directly costs a fraction of a
    millisecond per generation.  The semantics follow what Nevergrad did on a
    bounded ``ng.p.Array``: the population is the batch size, the initial step
    is 0.3 × ``sigma0`` per coordinate (Nevergrad's multiplier for a fully
    bounded space, which the tuned spreads of the hybrid assume), and the
    search stays in [0, 1] through pycma's bound transform.  When pycma's
    stopping rules fire (the step has collapsed), it restarts from the best
    point with the initial spread, as Nevergrad did.
    """

    batch_size = 12
    diagonal = False
    SIGMA_MULTIPLIER = 0.3

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import cma  # noqa: PLC0415

        self._cma = cma
        sigma = self.sigma0 if self.sigma0 is not None else (0.15 if self.x0 is not None else 0.3)
        self._stds = np.broadcast_to(np.asarray(sigma, dtype=float), (self.dim,)).copy()
        self._rng = np.random.RandomState(self.seed)
        self._restarts = 0
        self._es = self._start(self.x0 if self.x0 is not None else np.full(self.dim, 0.5))
        self._pending: list[np.ndarray] = []

    def _start(self, x0: np.ndarray):
        opts = {
            "popsize": self.batch_size, "bounds": [0.0, 1.0], "CMA_stds": self._stds, "CMA_diagonal": self.diagonal,
            "verbose": -9, "seed": self.seed * 1009 + self._restarts + 1, "randn": self._rng.randn,
            "tolx": 1e-9, "tolfun": 0.0, "tolflatfitness": 10**9, "maxiter": np.inf,
        }
        # Keep x0 strictly inside the bounds (pycma's transform is flat at the edges).
        x0 = np.clip(np.asarray(x0, dtype=float), 1e-6, 1 - 1e-6)
        return self._cma.CMAEvolutionStrategy(x0, self.SIGMA_MULTIPLIER, opts)

    def _ask(self) -> np.ndarray:
        self._pending = self._es.ask()
        return np.array(self._pending)

    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        if len(self._pending) != len(losses):
            return
        self._es.tell(self._pending, [float(x) for x in losses])
        self._pending = []
        if self._es.stop():
            self._restarts += 1
            self._es = self._start(self._best_u if self._best_u is not None else self._es.mean)


@register("cma")
class PyCMA(_PyCMA):
    """CMA-ES with a full covariance (pycma), population asked as one batch."""


@register("diagonal-cma")
class PyDiagonalCMA(_PyCMA):
    """CMA-ES with a diagonal covariance (pycma ``CMA_diagonal``), population asked as one batch.

    Learns one step size per parameter instead of a full covariance: from a
    precise start (the hybrid's fitted seeds) it reached the plain CMA-ES's
    final distance in fewer evaluations (see ``matcher.hybrid.HYBRID_OPTIMIZER``).
    """

    diagonal = True


# -- two objectives (issue 11) -------------------------------------------------------------
class _Individual(list):
    """A DEAP individual: genes in [0, 1] and a two-objective ``fitness``."""

    fitness: object


@register("nsga2")
class DeapNSGA2(DeapGA):
    """NSGA-II (DEAP ``selNSGA2``) on two objectives: the spectral and the envelope distance.

    A generation of ``batch_size`` offspring is bred from the parents by
    dominance-and-crowding tournaments (``selTournamentDCD``), simulated binary
    crossover (``cxSimulatedBinaryBounded``, eta 20, probability 0.9) and
    polynomial mutation (``mutPolynomialBounded``, eta 20, one gene in ``dim``
    on average), all bounded to [0, 1]; parents and offspring together are cut
    back to ``batch_size`` by ``selNSGA2``.  The first population is spread
    around ``x0`` as :class:`DeapGA`'s.  Seeded with its own ``random.Random``
    (the global generator is untouched).  :meth:`recommend` is the best scalar
    loss (their sum); the Pareto front over a whole match is kept by
    :mod:`matcher.pareto`.  Told without objectives, it uses the loss as both
    (a plain single-objective NSGA-II).
    """

    n_objectives = 2
    batch_size = 32  # selTournamentDCD needs a multiple of 4
    eta_cx = 20.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from deap import base  # noqa: PLC0415

        self._fitness_cls = type("NSGA2Fitness", (base.Fitness,), {"weights": (-1.0, -1.0)})
        self._parents: list[_Individual] = []
        self._objectives: np.ndarray | None = None

    def _individual(self, genes, objectives=None) -> _Individual:
        ind = _Individual(float(g) for g in genes)
        ind.fitness = self._fitness_cls()
        if objectives is not None:
            ind.fitness.values = tuple(float(v) for v in objectives)
        return ind

    def tell(self, u: np.ndarray, losses: np.ndarray, objectives: np.ndarray | None = None) -> None:
        """Report the losses (shape (n,)) and, preferably, the objectives (shape (n, 2)) of ``u``."""
        self._objectives = None if objectives is None else np.asarray(objectives, dtype=float).reshape(-1, 2)
        super().tell(u, losses)

    def _tell(self, u: np.ndarray, losses: np.ndarray) -> None:
        objectives = self._objectives if self._objectives is not None else np.repeat(losses[:, None], 2, axis=1)
        objectives = np.where(np.isfinite(objectives), objectives, 1e12)
        offspring = [self._individual(x, o) for x, o in zip(u, objectives)]
        self._pop = self._with_rng(self._next_nsga_generation, offspring)

    def _next_nsga_generation(self, offspring: list[_Individual]) -> np.ndarray:
        tools, rnd = self._tools, _random
        self._parents = tools.selNSGA2(self._parents + offspring, self.batch_size)
        chosen = tools.selTournamentDCD(self._parents, self.batch_size)
        children = [self._individual(ind) for ind in chosen]
        indpb = 1.0 / self.dim
        for a, b in zip(children[::2], children[1::2]):
            if rnd.random() < self.cx_prob:
                tools.cxSimulatedBinaryBounded(a, b, eta=self.eta_cx, low=0.0, up=1.0)
        for child in children:
            tools.mutPolynomialBounded(child, eta=self.eta_mut, low=0.0, up=1.0, indpb=indpb)
        return np.clip(np.array(children, dtype=float), 0.0, 1.0)
# -- end of the two objectives -------------------------------------------------------------
