"""The options of CRC-MF: their defaults, checks and descriptions, written once.

:class:`CRCOptions` serves the compiled filter, its reference, dask, tuning and the
command line; :func:`takes_options` gives a function that takes them its signature
and docstring. Pure Python: the reference imports it.
"""
import dataclasses
import inspect
import math
import numbers
import re
import textwrap
import types
from dataclasses import dataclass, fields

import numpy as np

from crcx._common.arguments import ArgumentError

IMPULSES = ("adaptive", "hwang-haddad", "switching", "none")
BASES = ("nonlocal", "median")
GAINS = ("wiener", "crc", "wiener+crc", "none")

# Widest side of any window of CRC-MF (window, s_max, patch, majority; search reaches
# half of it).
MAX_SIDE = 255
# Widest square of the DCT estimate (§3): its cost per pixel grows as the side cubed.
MAX_DCT = 16


def _check(name, ok, message):
    if not ok:
        raise ArgumentError(f"{name}: {message}")


def _odd(value):
    """An odd integer from 1 to MAX_SIDE (windows wider than that cost more than any
    image could repay: a 10**4-wide s_max lists 10**8 offsets)."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and 1 <= value <= MAX_SIDE and value % 2 == 1)


def _number(value):
    """A finite real number that is not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


# The `size` of a call to CRC-MF that gives none: that of its options.
FROM_OPTIONS = object()


@dataclass(frozen=True, kw_only=True)
class CRCOptions:
    """The options of CRC-MF: its parameters, their defaults and their checks.

    One object serves :func:`crcx.crc_median`, :func:`crcx.crc_map`,
    :func:`crcx.estimate_noise`, their references in :mod:`crcx.reference.crc`,
    :func:`crcx.dask.crc_median`, :func:`crcx.tune` and the ``crcx`` command. The
    defaults are those of docs/algorithm.md §9, chosen by the quality benchmark. Frozen
    and checked when made: a variant is ``options.replace(h=0.8)``; the repr shows the
    fields that differ from the defaults, :func:`dataclasses.asdict` gives them all.

    Parameters
    ----------
    size : int or sequence of int, optional
        Median footprint k of the intensity proxy M = median_k(J) (§2) and of the
        base for ``base="median"``.
    window : int, optional
        Odd side w of the windows of the gain and of the correlation map (§4, §5).
    correlation : {"pearson", "renyi"}, optional
        Correlation of the CRC map: linear canonical correlation or the Rényi maximal
        correlation of `bins`-level quantised residuals (§4).
    bins : int, optional
        Quantisation levels (2 to 4) for ``correlation="renyi"``.
    s_max : int, optional
        Largest window of the adaptive median (odd, §1.1).
    impulses : {"adaptive", "hwang-haddad", "switching", "none"}, optional
        Impulse stage: the full §1, the plain adaptive median (flags and replacement
        of Hwang & Haddad 1995), the real-time switching median of §13 (the full
        stage's estimate, on a sample, decides whether a 3x3 test flags fixed-valued
        impulses or the full stage runs for random-valued ones), or no impulse stage.
    sample : int, optional
        Pixels of the mosaic, spread evenly over each plane, on which the switching
        stage makes its estimate (§13); 0, or a plane no larger, uses the whole plane.
    noisy_size : int, optional
        With the switching stage, the median footprint M instead of `size` on a 2-d
        plane whose estimate finds no random-valued impulses and a noise standard
        deviation of at least NOISY_BASE of the sample's range; where it finds
        random-valued ones and a lower deviation, the 3x3 median (§13). 0 keeps
        `size` everywhere.
    kappa : float, optional
        Noise gate of §1.2: a flagged pixel within `kappa` noise standard deviations
        of the adaptive median is not an impulse.
    sparse_kappa : float, optional
        The gate's width instead of `kappa` where it flags under 2 % of the pixels
        (blended between 2 and 5 %): there the flags are mostly detail, not impulses.
    isolation : float, optional
        Floor of the isolation test (§1.5), as a fraction of the image's range: the
        test that tells random-valued from fixed-valued impulses and a clean image
        from an image with impulses. 0 turns it off (the flags of §1.1-§1.3 stay).
    majority : int, optional
        Window of the majority rule of §1.3 and of its excess rule (0 disables both).
    majority_density : float, optional
        The majority rule applies only while the flagged fraction is below this.
    excess : float, optional
        Excess rule of §1.3, at any density: a flagged pixel equal to the image's
        minimum or maximum is kept where that value is more frequent in its s_max
        window than impulses explain by `excess` binomial standard deviations and
        the Bayes test on its `majority` window says the clean window holds that
        value (0 disables it).
    line_density : float, optional
        The structure rule of §1.3 (a flagged pixel on a straight run of five similar
        values, or at the corner of a block, is detail) applies only while the flagged
        fraction is below this (0 disables it).
    noise : {"affine", "constant"} or float, optional
        Noise model of §2: variance a + b * intensity, a constant, or a known
        standard deviation (which also makes the result independent of the rest of
        the image).
    noise_bins : int, optional
        Intensity bins of the affine fit.
    base : {"nonlocal", "median"}, optional
        Estimate B whose residual the gain restores: the non-local mean of §3 or the
        median M (the source article's plain form).
    search : int, optional
        Radius of the search window of §3 (side ``2 search + 1``).
    patch : int, optional
        Odd side of the patches compared in §3.
    h : float, optional
        Filtering parameter of §3, relative to the noise standard deviation.
    passes : {1, 2}, optional
        Non-local passes of §3: with 2, a second pass weighs the patches of the
        first pass's estimate, which are far less noisy than the image's.
    pilot_h : float, optional
        Filtering parameter of that second pass.
    dct : int, optional
        Side of the squares of the DCT estimate that the base of §3 averages with the
        non-local mean (0: the non-local mean alone).
    dct_threshold : float, optional
        The DCT coefficients kept are those larger than this many noise standard
        deviations.
    joint_channels : bool, optional
        With a channel axis: the channels share the non-local weights, from their
        patches compared together (colour). False filters them as independent planes
        (a stack of frames).
    gain : {"wiener", "crc", "wiener+crc", "none"}, optional
        Restoration gain of §5.
    wiener_c : float, optional
        Over-subtraction factor c of the Wiener gain.
    t0, t1 : float, optional
        Thresholds of the correlation gain clip((CRC - t0) / (t1 - t0), 0, 1).

    Raises
    ------
    ValueError
        A value out of its range, named (``size`` is checked against the image, by
        the functions that take these options).

    Examples
    --------
    >>> from crcx import CRCOptions
    >>> options = CRCOptions(h=1.25)
    >>> options, options.replace(passes=1).passes
    (CRCOptions(h=1.25), 1)
    >>> CRCOptions(window=4)
    Traceback (most recent call last):
        ...
    crcx._common.arguments.ArgumentError: window: expected an odd integer from 3 to 255, got 4
    """
    # The annotation is the type a value is stored as (int, float or bool: converted).
    size: int | tuple = 5
    window: int = 7
    correlation: str = "pearson"
    bins: int = 2
    s_max: int = 19
    impulses: str = "adaptive"
    sample: int = 0
    noisy_size: int = 0
    kappa: float = 4.0
    sparse_kappa: float = 6.0
    isolation: float = 0.04
    majority: int = 5
    majority_density: float = 0.35
    excess: float = 4.0
    line_density: float = 0.2
    noise: str | float = "affine"
    noise_bins: int = 8
    base: str = "nonlocal"
    search: int = 3
    patch: int = 3
    h: float = 1.0
    passes: int = 2
    pilot_h: float = 0.3
    dct: int = 8
    dct_threshold: float = 2.7
    joint_channels: bool = True
    gain: str = "wiener"
    wiener_c: float = 2.0
    t0: float = 0.1
    t1: float = 0.5

    def __post_init__(self):
        _check("window", _odd(self.window) and self.window >= 3,
               f"expected an odd integer from 3 to {MAX_SIDE}, got {self.window!r}")
        _check("correlation", self.correlation in ("pearson", "renyi"),
               f"expected 'pearson' or 'renyi', got {self.correlation!r}")
        _check("bins", isinstance(self.bins, numbers.Integral) and 2 <= self.bins <= 4,
               f"expected 2, 3 or 4, got {self.bins!r}")
        _check("s_max", _odd(self.s_max) and self.s_max >= 3,
               f"expected an odd integer from 3 to {MAX_SIDE}, got {self.s_max!r}")
        _check("impulses", self.impulses in IMPULSES,
               f"expected one of {IMPULSES}, got {self.impulses!r}")
        for name in ("kappa", "sparse_kappa", "excess", "wiener_c"):
            value = getattr(self, name)
            _check(name, _number(value) and value >= 0, f"expected >= 0, got {value!r}")
        _check("sample", isinstance(self.sample, numbers.Integral)
               and not isinstance(self.sample, bool) and self.sample >= 0,
               f"expected an integer >= 0, got {self.sample!r}")
        _check("noisy_size", self.noisy_size == 0 or _odd(self.noisy_size),
               f"expected 0 or an odd integer from 1 to {MAX_SIDE}, got {self.noisy_size!r}")
        _check("isolation", _number(self.isolation) and 0 <= self.isolation <= 1,
               f"expected a fraction of the range in [0, 1], got {self.isolation!r}")
        _check("majority", self.majority == 0 or _odd(self.majority),
               f"expected 0 or an odd integer, got {self.majority!r}")
        for name in ("majority_density", "line_density", "t0"):
            value = getattr(self, name)
            _check(name, _number(value), f"expected a number, got {value!r}")
        _check("noise", self.noise in ("affine", "constant") or (
            _number(self.noise) and self.noise >= 0),
            f"expected 'affine', 'constant' or a standard deviation >= 0, got {self.noise!r}")
        _check("noise_bins", isinstance(self.noise_bins, numbers.Integral)
               and not isinstance(self.noise_bins, bool) and self.noise_bins >= 2,
               f"expected an integer >= 2, got {self.noise_bins!r}")
        _check("base", self.base in BASES, f"expected one of {BASES}, got {self.base!r}")
        _check("search", isinstance(self.search, numbers.Integral)
               and not isinstance(self.search, bool) and 0 <= self.search <= MAX_SIDE // 2,
               f"expected an integer from 0 to {MAX_SIDE // 2}, got {self.search!r}")
        _check("patch", _odd(self.patch),
               f"expected an odd integer from 1 to {MAX_SIDE}, got {self.patch!r}")
        for name in ("h", "pilot_h"):
            value = getattr(self, name)
            _check(name, _number(value) and value > 0, f"expected > 0, got {value!r}")
        _check("passes", self.passes in (1, 2) and not isinstance(self.passes, bool),
               f"expected 1 or 2, got {self.passes!r}")
        _check("dct", isinstance(self.dct, numbers.Integral) and not isinstance(self.dct, bool)
               and (self.dct == 0 or 2 <= self.dct <= MAX_DCT),
               f"expected 0 or an integer from 2 to {MAX_DCT}, got {self.dct!r}")
        _check("dct_threshold", _number(self.dct_threshold) and self.dct_threshold >= 0,
               f"expected >= 0, got {self.dct_threshold!r}")
        _check("joint_channels", isinstance(self.joint_channels, (bool, np.bool_)),
               f"expected True or False, got {self.joint_channels!r}")
        _check("gain", self.gain in GAINS, f"expected one of {GAINS}, got {self.gain!r}")
        _check("t1", _number(self.t1) and self.t1 > self.t0,
               f"expected t1 > t0, got t0={self.t0!r}, t1={self.t1!r}")
        for option in fields(self):
            if option.type in (int, float, bool):
                object.__setattr__(self, option.name, option.type(getattr(self, option.name)))

    @staticmethod
    def preset(name):
        """The options of the preset `name` (``"quality"``, the defaults, or
        ``"realtime"``, docs/algorithm.md §13): what ``preset=name`` starts from.

        Examples
        --------
        >>> from crcx import CRCOptions
        >>> CRCOptions.preset("realtime").base
        'median'
        """
        if name not in PRESETS:
            raise ArgumentError(f"preset: expected one of {tuple(PRESETS)}, got {name!r}")
        return PRESETS[name]

    def replace(self, **changes):
        """These options with `changes` (checked as when made).

        Examples
        --------
        >>> from crcx import CRCOptions
        >>> CRCOptions(h=1.25).replace(h=1.0, passes=1)
        CRCOptions(passes=1)
        """
        unknown = sorted(set(changes) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}; the options of "
                            f"CRC-MF are {sorted(OPTION_NAMES)}")
        return dataclasses.replace(self, **changes)

    def __repr__(self):
        changed = (f"{option.name}={getattr(self, option.name)!r}" for option in fields(self)
                   if not _same(getattr(self, option.name), option.default))
        return f"{type(self).__name__}({', '.join(changed)})"


OPTION_NAMES = tuple(option.name for option in fields(CRCOptions))

# The presets of CRC-MF, by name: the options a call starts from (docs/algorithm.md §9
# and §13 give their measurements). "realtime" trades the non-local stage and the full
# impulse stage for a median base and a switching median whose decisions come from
# the full stage's estimate on a sample.
PRESETS = types.MappingProxyType({
    "quality": CRCOptions(),
    "realtime": CRCOptions(impulses="switching", sample=65536, noisy_size=7, base="median",
                           wiener_c=1.0),
})


def _same(value, default):
    return type(value) is type(default) and value == default


def given_options(options, algorithm, size=FROM_OPTIONS):
    """The options of a call: `options` (default those of the preset named by
    ``algorithm["preset"]``, "quality" if absent) with the fields given as keywords,
    `size` and the rest of `algorithm`, on top."""
    algorithm = dict(algorithm)
    preset = algorithm.pop("preset", "quality")
    named = CRCOptions.preset(preset)
    if options is None:
        options = named
    elif not isinstance(options, CRCOptions):
        raise TypeError(f"options: expected a CRCOptions, got {type(options).__name__}")
    elif preset != "quality":
        raise ArgumentError("preset: give either options or a preset, not both")
    if size is not FROM_OPTIONS:
        algorithm = {**algorithm, "size": size}
    return options.replace(**algorithm) if algorithm else options


def gather_options(keywords):
    """The keyword arguments `keywords` of a call to CRC-MF with its options in one:
    ``options``, a CRCOptions with the fields among `keywords` on top, and the other
    keywords (``mode``, ``n_threads``...) as they are."""
    named = OPTION_NAMES + ("preset",)
    others = {name: value for name, value in keywords.items() if name not in named}
    given = {name: value for name, value in keywords.items() if name in named}
    return {**others, "options": given_options(others.get("options"), given)}


def takes_options(function):
    """Declare that `function` takes the options of CRC-MF, as ``options=`` and as
    keywords (``**algorithm``) overriding its fields, or as a preset's name: its
    signature shows `preset` and every field with its default, and ``%(options)s`` in
    its docstring becomes their descriptions (those of :class:`CRCOptions`)."""
    signature = inspect.signature(function)
    defaults = {option.name: option.default for option in fields(CRCOptions)}
    own = [parameter.replace(default=defaults.get(parameter.name, parameter.default))
           for parameter in signature.parameters.values()
           if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {parameter.name for parameter in own}
    function.__signature__ = signature.replace(parameters=own + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in {"preset": "quality", **defaults}.items() if name not in taken])
    if function.__doc__ is not None:
        function.__doc__ = re.sub(r"^( *)%\(options\)s\n",
                                  lambda line: textwrap.indent(_OPTIONS_DOC, line[1]),
                                  function.__doc__, count=1, flags=re.M)
    return function


def _section(doc, title):
    """The body of the numpydoc section `title` of `doc`, dedented."""
    lines = inspect.cleandoc(doc).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 2
    end = next(i for i in range(start, len(lines) - 1) if set(lines[i + 1].strip()) == {"-"})
    return "".join(lines[start:end]).rstrip() + "\n"


# The descriptions of the options, written once (in CRCOptions) and filled in where
# they are taken.
_OPTIONS_DOC = f"""preset : {{{", ".join(map(repr, PRESETS))}}}, optional
    The options to start from where `options` is not given (``CRCOptions.preset``;
    docs/algorithm.md §13 measures "realtime" against "quality").
""" + _section(CRCOptions.__doc__, "Parameters")
