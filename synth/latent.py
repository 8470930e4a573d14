"""Where each class's sound sits in latent space for a given controller state (pure numpy).

Morph: every class moves from its own centre toward a target (the preset's ``morph_target``
class, or the XY point once the XY pad has been moved). XY: bilinear blend of four corner class
centres (NSynth Super's layout, continuous). Macros: offsets along the preset's PCA axes, in
standard deviations of the latent means along each axis. Variation: a random offset in units of
the class's own per-dimension std, re-drawn (seeded, so renders repeat) each time the variation
knob moves. The knobs' ranges and tapers are in ``synth.params.PARAMETERS``; a ``LatentState``
arrives in those units.
"""

from __future__ import annotations

import numpy as np
from vae_synth.synth.params import PCA_MACROS, LatentState


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear interpolation. a, b: [..., D]; returns [..., D] float32."""
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of the directions of a and b with the norm interpolated linearly
    (keeps the path at a typical distance from the origin of a Gaussian latent space).

    a, b: [..., D]; returns [..., D] float32. Falls back to ``lerp`` for (anti)parallel or zero
    vectors, where the great circle is undefined.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    safe = (na > 1e-8) & (nb > 1e-8)
    ua = np.where(safe, a / np.where(safe, na, 1.0), 0.0)
    ub = np.where(safe, b / np.where(safe, nb, 1.0), 0.0)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    ok = safe & (sin > 1e-6)
    wa = np.where(ok, np.sin((1.0 - t) * omega) / np.where(ok, sin, 1.0), 1.0 - t)
    wb = np.where(ok, np.sin(t * omega) / np.where(ok, sin, 1.0), t)
    direction = wa * ua + wb * ub
    norm = (1.0 - t) * na + t * nb
    dn = np.linalg.norm(direction, axis=-1, keepdims=True)
    spherical = direction / np.where(dn > 1e-12, dn, 1.0) * norm
    return np.where(ok, spherical, (1.0 - t) * a + t * b).astype(np.float32)


def bilinear(corners: np.ndarray, x: float, y: float) -> np.ndarray:
    """Blend four corner points: corners [4, D] in the order (x0,y0), (x1,y0), (x0,y1), (x1,y1)
    i.e. bottom-left, bottom-right, top-left, top-right. x, y in [0, 1]. Returns [D] float32."""
    c = np.asarray(corners, dtype=np.float64)
    if c.shape[0] != 4:
        raise ValueError(f"bilinear needs 4 corners, got {c.shape[0]}")
    bottom = (1.0 - x) * c[0] + x * c[1]
    top = (1.0 - x) * c[2] + x * c[3]
    return ((1.0 - y) * bottom + y * top).astype(np.float32)


class LatentMap:
    """Maps a ``LatentState`` to one latent point per class.

    centroids, stds: [C, D]; pca_components: [k, D]; pca_variance: [k];
    target: class index of the morph target; corners: 4 class indices for the XY pad.
    """

    def __init__(self, centroids, stds, pca_components, pca_variance, target: int,
                 corners, interpolation: str = "lerp", seed: int = 0):
        if interpolation not in ("lerp", "slerp"):
            raise ValueError(f"interpolation must be 'lerp' or 'slerp', got {interpolation!r}")
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.stds = np.asarray(stds, dtype=np.float32)
        comps = np.asarray(pca_components, dtype=np.float32).reshape(-1, self.centroids.shape[1])
        var = np.asarray(pca_variance, dtype=np.float32).reshape(-1)[: comps.shape[0]]
        # A macro value of 1.0 moves one standard deviation of the latent means along the axis.
        self.pca_axes = comps[:PCA_MACROS] * np.sqrt(np.maximum(var[:PCA_MACROS], 0.0))[:, None]
        self.target = int(target)
        self.corners = np.asarray(corners, dtype=np.intp)
        self.interpolation = interpolation
        self.seed = int(seed)

    @classmethod
    def from_preset(cls, preset, interpolation: str = "lerp", seed: int = 0) -> LatentMap:
        names = list(preset.class_names)
        midi = preset.midi
        target_name = getattr(midi, "morph_target", None) or names[min(1, len(names) - 1)]
        corners = list(getattr(midi, "xy_corners", None) or [])
        if len(corners) != 4:
            corners = [names[i % len(names)] for i in range(4)]
        return cls(
            preset.centroids,
            np.stack([np.asarray(c.std, dtype=np.float32) for c in preset.classes]),
            preset.pca.components,
            preset.pca.explained_variance,
            target=names.index(target_name),
            corners=[names.index(n) for n in corners],
            interpolation=interpolation,
            seed=seed,
        )

    @property
    def n_classes(self) -> int:
        return self.centroids.shape[0]

    def target_point(self, state: LatentState) -> np.ndarray:
        """The point the morph knob moves toward: [D]."""
        if state.xy_touched:
            return bilinear(self.centroids[self.corners], state.x, state.y)
        return self.centroids[self.target]

    def points(self, state: LatentState, classes=None) -> np.ndarray:
        """Latent points for ``classes`` (default: all) at ``state``. Returns [len(classes), D]."""
        idx = np.arange(self.n_classes) if classes is None else np.asarray(classes, dtype=np.intp)
        base = self.centroids[idx]
        target = np.broadcast_to(self.target_point(state), base.shape)
        mix = slerp if self.interpolation == "slerp" else lerp
        z = mix(base, target, state.morph) if state.morph > 0.0 else base.copy()
        macros = np.asarray(state.pca[: self.pca_axes.shape[0]], dtype=np.float32)
        if macros.size and np.any(macros != 0.0):
            for i, amount in enumerate(macros):  # element-wise: no alignment-dependent BLAS sums
                if amount != 0.0:
                    z = z + amount * self.pca_axes[i]
        if state.variation > 0.0:
            # Same seed + same knob history -> same noise: renders stay deterministic.
            rng = np.random.default_rng([self.seed, state.variation_seed])
            noise = rng.standard_normal(self.centroids.shape).astype(np.float32)[idx]
            z = z + state.variation * self.stds[idx] * noise
        return np.ascontiguousarray(z, dtype=np.float32)
