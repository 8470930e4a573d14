"""Evaluation metrics of the thesis (§5.2, §5.3) and of this project, as pure numpy functions.

Nothing here touches a model: callers encode and decode, these functions measure arrays.

Conventions (docs/ARCHITECTURE.md): audio is float32 in [-1, 1] shaped ``[N, L]`` (``[L]`` for one
clip), latents ``[N, D]``, labels ``[N]`` int class indices.

The centroid-consistency metric follows eq. 5.1-5.3 of the thesis with the parameters of
``SPEC.md`` §3: HTK-style MFCC (the MATLAB ``htk-mfcc`` code the thesis called as
``mfcc(audio, fs, 25, 5, 0.97, @hamming, [200 1200], 20, 13, 22)``), c0 dropped, and a 1-D DTW per
cepstral track (absolute difference, steps (1,0), (0,1), (1,1) of weight 1, i.e. dtw-python's
``symmetric1``) averaged over the 12 remaining coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------------------------
# Latent-space organisation (§5.2)


def _check_latents(latents: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    latents = np.asarray(latents, dtype=np.float64)
    labels = np.asarray(labels)
    if latents.ndim != 2:
        raise ValueError(f"latents must be [N, D], got shape {latents.shape}")
    if labels.shape != (latents.shape[0],):
        raise ValueError(f"labels must be [N] with N={latents.shape[0]}, got shape {labels.shape}")
    if latents.shape[0] < 2:
        raise ValueError("need at least 2 latents for a leave-one-out evaluation")
    return latents, labels


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances. a: [N, D], b: [M, D] -> [N, M] (float64, >= 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def one_nn_predictions(latents: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Leave-one-out 1-NN class of each point (thesis Table 5.2 protocol).

    latents: [N, D]; labels: [N] -> predicted labels [N] (each point's nearest *other* point).
    """
    latents, labels = _check_latents(latents, labels)
    d = pairwise_sq_distances(latents, latents)
    np.fill_diagonal(d, np.inf)  # leave the point itself out
    return labels[np.argmin(d, axis=1)]


def one_nn_accuracy(latents: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose nearest other point has the same class. latents [N, D], labels [N]."""
    _, labels_checked = _check_latents(latents, labels)
    return float(np.mean(one_nn_predictions(latents, labels) == labels_checked))


def class_centroids(latents: np.ndarray, labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Mean latent of each class. latents [N, D], labels [N] -> [C, D] (NaN rows for empty classes).

    Which clips: a preset's class centre, the point its pads play, is this mean over the
    encoder means of the class's *training* clips (export/stats.py stores it in preset.json; a
    training run's own end figures use the same centres). The thesis's protocol figures of
    ``vae-synth evaluate`` (centroid dist, centre level, morphs; Tables 5.2-5.5) take it over the
    *evaluated* clips instead, and evaluate reports the preset's centres beside them
    (``training_centroids``).
    """
    latents = np.asarray(latents, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    out = np.full((n_classes, latents.shape[1]), np.nan)
    for c in range(n_classes):
        if np.any(labels == c):
            out[c] = latents[labels == c].mean(0)
    return out


def nearest_centroid_predictions(
    latents: np.ndarray, labels: np.ndarray, centroids: np.ndarray | None = None
) -> np.ndarray:
    """Class of the nearest class centre of each point.

    latents [N, D], labels [N] -> predictions [N]. Without ``centroids`` the centres are the class
    means of ``latents`` with the point itself left out of its own class mean (leave-one-out, so a
    class of one point cannot vote for itself). With ``centroids`` [C, D] (e.g. a preset's training
    centroids) they are used as given.
    """
    latents, labels = _check_latents(latents, labels)
    labels = labels.astype(int)
    if centroids is not None:
        d = pairwise_sq_distances(latents, np.asarray(centroids, dtype=np.float64))
        return np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)
    n_classes = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, latents.shape[1]))
    np.add.at(sums, labels, latents)
    preds = np.empty(len(labels), dtype=int)
    for i, (z, y) in enumerate(zip(latents, labels, strict=True)):
        s = sums.copy()
        n = counts.copy()
        s[y] -= z
        n[y] -= 1
        valid = n > 0
        cent = s[valid] / n[valid, None]
        preds[i] = np.flatnonzero(valid)[np.argmin(((cent - z) ** 2).sum(1))]
    return preds


def nearest_centroid_accuracy(
    latents: np.ndarray, labels: np.ndarray, centroids: np.ndarray | None = None
) -> float:
    """Accuracy of :func:`nearest_centroid_predictions`. latents [N, D], labels [N]."""
    preds = nearest_centroid_predictions(latents, labels, centroids)
    return float(np.mean(preds == np.asarray(labels).astype(int)))


# ----------------------------------------------------------------------------------------------
# HTK MFCC (the MATLAB htk-mfcc code used by the thesis)


def hz_to_mel(hz):
    """HTK mel scale: 1127 ln(1 + f/700)."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def triangular_filterbank(
    n_filters: int, n_fft: int, sample_rate: float, fmin: float, fmax: float
) -> np.ndarray:
    """Unnormalised triangles equally spaced on the HTK mel scale -> [n_filters, n_fft//2 + 1].

    Bin k sits at k * sr / n_fft; filter m rises from edge m to edge m+1 and falls to edge m+2, peak 1.
    """
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_filters + 2))
    fb = np.zeros((n_filters, freqs.size))
    for m in range(n_filters):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb


@dataclass(frozen=True)
class MfccParams:
    """Parameters of the thesis's MFCC call (SPEC.md §3); all times in milliseconds."""

    frame_ms: float = 25.0
    hop_ms: float = 5.0
    preemphasis: float = 0.97
    fmin: float = 200.0
    fmax: float = 1200.0
    n_filters: int = 20
    n_ceps: int = 13
    lifter: float = 22.0
    # HTK floors filterbank outputs at 1.0 (of 16-bit-scaled magnitude) before the log, so digital
    # silence (the zero padding of every clip) gives log 0 instead of -inf.
    mel_floor: float = 1.0


HTK_MFCC = MfccParams()


def htk_mfcc(audio: np.ndarray, sample_rate: float, params: MfccParams = HTK_MFCC) -> np.ndarray:
    """MFCCs c0..c(n_ceps-1) as in the MATLAB ``htk-mfcc`` code (Wojcicki), vectorised over clips.

    audio: [L] or [N, L] in [-1, 1] -> [n_ceps, T] or [N, n_ceps, T] float64, with
    T = floor((L - Nw) / Ns) + 1, Nw = round(frame_ms * sr / 1000), Ns = round(hop_ms * sr / 1000).

    Steps: scale to 16-bit range, pre-emphasis y[n] = x[n] - a x[n-1] over the whole clip, frames of
    Nw samples every Ns (no padding, incomplete tail dropped), symmetric Hamming window, |FFT| with
    nfft = next power of two >= Nw, triangular HTK-mel filterbank (unnormalised) on the magnitude,
    log (floored), DCT-II with sqrt(2/M) scaling, sinusoidal lifter 1 + L/2 sin(pi n / L), n = 0..N-1.
    """
    x = np.asarray(audio, dtype=np.float64)
    single = x.ndim == 1
    if single:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"audio must be [L] or [N, L], got shape {x.shape}")
    nw = int(round(params.frame_ms * 1e-3 * sample_rate))
    ns = int(round(params.hop_ms * 1e-3 * sample_rate))
    if x.shape[1] < nw:
        raise ValueError(f"clips of {x.shape[1]} samples are shorter than one MFCC frame ({nw})")
    nfft = 1 << int(np.ceil(np.log2(nw)))
    x = x * 2.0**15
    y = x.copy()
    y[:, 1:] -= params.preemphasis * x[:, :-1]
    n_frames = (y.shape[1] - nw) // ns + 1
    idx = np.arange(nw)[None, :] + ns * np.arange(n_frames)[:, None]  # [T, Nw]
    frames = y[:, idx] * np.hamming(nw)  # [N, T, Nw]; np.hamming is the symmetric window
    mag = np.abs(np.fft.rfft(frames, n=nfft, axis=-1))  # [N, T, K]
    fb = triangular_filterbank(params.n_filters, nfft, sample_rate, params.fmin, params.fmax)
    fbe = np.maximum(mag @ fb.T, params.mel_floor)  # [N, T, M]
    m = params.n_filters
    n = np.arange(params.n_ceps)[:, None]
    dct = np.sqrt(2.0 / m) * np.cos(n * np.pi * (np.arange(1, m + 1)[None, :] - 0.5) / m)
    cc = np.log(fbe) @ dct.T  # [N, T, n_ceps]
    lift = 1.0 + 0.5 * params.lifter * np.sin(np.pi * np.arange(params.n_ceps) / params.lifter)
    cc = (cc * lift).transpose(0, 2, 1)  # [N, n_ceps, T]
    return cc[0] if single else cc


def mfcc_tracks(audio: np.ndarray, sample_rate: float, params: MfccParams = HTK_MFCC) -> np.ndarray:
    """HTK MFCC without c0 (energy), as the thesis text says: [N, L] -> [N, n_ceps - 1, T]."""
    cc = htk_mfcc(np.atleast_2d(audio), sample_rate, params)
    return cc[:, 1:, :]


# ----------------------------------------------------------------------------------------------
# DTW


def dtw_distances(x: np.ndarray, y: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """1-D DTW distances of many pairs at once: x [B, n], y [B, m] -> [B] float64.

    Local cost |x_i - y_j|; steps (1,0), (0,1), (1,1) all of weight 1 (dtw-python ``symmetric1``,
    MATLAB ``dtw``); the distance is the accumulated cost at (n-1, m-1), not normalised.
    Vectorised over pairs and along anti-diagonals (each cell depends only on the two previous
    diagonals), so a batch costs n + m - 1 numpy steps instead of n * m Python steps.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be [B, n] and [B, m], got {x.shape} and {y.shape}")
    if x.shape[1] == 0 or y.shape[1] == 0:
        raise ValueError("DTW of an empty sequence is undefined")
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], chunk):
        out[start : start + chunk] = _dtw_chunk(x[start : start + chunk], y[start : start + chunk])
    return out


def _dtw_chunk(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    b, n = x.shape
    m = y.shape[1]
    inf = np.inf
    i = np.arange(n)
    # prev1[:, i] = D[i, d-1-i]; prev2[:, i] = D[i, d-2-i] (inf where off the grid)
    prev2 = np.full((b, n), inf)
    prev1 = np.full((b, n), inf)
    cur = np.empty((b, n))
    shifted1 = np.empty((b, n))
    shifted2 = np.empty((b, n))
    for d in range(n + m - 1):
        j = d - i
        valid = (j >= 0) & (j < m)
        cost = np.abs(x - y[:, np.clip(j, 0, m - 1)])
        if d == 0:
            cur.fill(inf)
            cur[:, 0] = cost[:, 0]
        else:
            # vertical step from (i-1, j) = prev1[i-1]; horizontal from (i, j-1) = prev1[i];
            # diagonal from (i-1, j-1) = prev2[i-1]
            shifted1[:, 0] = inf
            shifted1[:, 1:] = prev1[:, :-1]
            shifted2[:, 0] = inf
            shifted2[:, 1:] = prev2[:, :-1]
            np.minimum(shifted1, prev1, out=cur)
            np.minimum(cur, shifted2, out=cur)
            cur += cost
        cur[:, ~valid] = inf
        prev2, prev1, cur = prev1, cur, prev2
    return prev1[:, n - 1].copy()


def dtw_distance(x: np.ndarray, y: np.ndarray) -> float:
    """DTW distance of two 1-D sequences x [n], y [m] (see :func:`dtw_distances`)."""
    return float(dtw_distances(np.asarray(x)[None], np.asarray(y)[None])[0])


def mfcc_dtw_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over coefficient tracks of per-track DTW: a [N, K, T], b [M, K, T'] -> [N, M]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1] != b.shape[1]:
        raise ValueError(f"MFCC tracks must be [N, K, T] with equal K, got {a.shape} and {b.shape}")
    n, k, _ = a.shape
    m = b.shape[0]
    xa = np.repeat(a, m, axis=0).reshape(n * m * k, -1)  # pairs (p, q, coeff)
    xb = np.tile(b, (n, 1, 1)).reshape(n * m * k, -1)
    return dtw_distances(xa, xb).reshape(n, m, k).mean(-1)


def mfcc_dtw_pairwise(tracks: np.ndarray) -> np.ndarray:
    """Symmetric pairwise matrix of :func:`mfcc_dtw_matrix` with zero diagonal: [N, K, T] -> [N, N].

    Only the upper triangle is computed (DTW with a symmetric step pattern is symmetric).
    """
    tracks = np.asarray(tracks, dtype=np.float64)
    n, k, t = tracks.shape
    iu, ju = np.triu_indices(n, 1)
    out = np.zeros((n, n))
    if iu.size:
        d = dtw_distances(tracks[iu].reshape(-1, t), tracks[ju].reshape(-1, t))
        d = d.reshape(iu.size, k).mean(-1)
        out[iu, ju] = d
        out[ju, iu] = d
    return out


# ----------------------------------------------------------------------------------------------
# Centroid consistency (eq. 5.1-5.3)


def centroid_dist(pairwise: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Eq. 5.3 for every clip of one class.

    pairwise: [n, n] DTW distances between the class's clips (diagonal ignored);
    center: [n] DTW distance of each clip to the sound decoded from the class centre.
    -> [n]: (center_j - mean_{k != j} pairwise_jk) / std_{k != j} pairwise_jk, std with N-1
    (MATLAB ``std``; it reproduces the c row of thesis Table 5.4). NaN for classes of < 3 clips.
    """
    pairwise = np.asarray(pairwise, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)
    n = center.shape[0]
    if pairwise.shape != (n, n):
        raise ValueError(f"pairwise must be [{n}, {n}], got {pairwise.shape}")
    if n < 3:
        return np.full(n, np.nan)
    off = ~np.eye(n, dtype=bool)
    others = pairwise[off].reshape(n, n - 1)
    return (center - others.mean(1)) / others.std(1, ddof=1)


@dataclass
class ClassConsistency:
    """Eq. 5.1-5.3 for one class: the numbers of thesis Table 5.4 and one row of Table 5.5."""

    pairwise: np.ndarray  # [n, n] MFCC-DTW between the class's clips
    center: np.ndarray  # [n] MFCC-DTW of each clip to the decoded class centre
    dist: np.ndarray  # [n] eq. 5.3
    mean: float
    std: float


@dataclass
class CentroidConsistency:
    """Eq. 5.3 over all classes: per-class results and Table 5.5's "average" row."""

    per_class: dict[str, ClassConsistency] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean over classes of the per-class mean dist (Table 5.5 "average")."""
        vals = [c.mean for c in self.per_class.values() if np.isfinite(c.mean)]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def std(self) -> float:
        """Mean over classes of the per-class std of dist (Table 5.5 "average")."""
        vals = [c.std for c in self.per_class.values() if np.isfinite(c.std)]
        return float(np.mean(vals)) if vals else float("nan")


def centroid_consistency(
    clips: np.ndarray,
    labels: np.ndarray,
    centre_audio: np.ndarray,
    sample_rate: float,
    class_names: list[str],
    params: MfccParams = HTK_MFCC,
    max_per_class: int | None = None,
    seed: int = 0,
    progress=None,
) -> CentroidConsistency:
    """Eq. 5.1-5.3 for every class that has clips.

    clips: [N, L] real clips; labels: [N] into ``class_names``; centre_audio: [C, L] the decoded
    class centres psi(mu(Z^i)), one per class name (rows of absent classes are ignored).
    ``max_per_class`` draws that many clips per class (seeded) to bound the O(n^2) DTW work.
    ``progress(n)`` is called after each class with the number of DTW pairs done.
    """
    clips = np.asarray(clips)
    labels = np.asarray(labels).astype(int)
    centre_audio = np.atleast_2d(np.asarray(centre_audio))
    if centre_audio.shape[0] != len(class_names):
        raise ValueError(
            f"centre_audio has {centre_audio.shape[0]} rows for {len(class_names)} classes"
        )
    rng = np.random.default_rng(seed)
    result = CentroidConsistency()
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        if max_per_class is not None and idx.size > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        tracks = mfcc_tracks(clips[idx], sample_rate, params)
        centre = mfcc_tracks(centre_audio[c : c + 1], sample_rate, params)
        pairwise = mfcc_dtw_pairwise(tracks)
        center = mfcc_dtw_matrix(tracks, centre)[:, 0]
        dist = centroid_dist(pairwise, center)
        finite = dist[np.isfinite(dist)]
        result.per_class[name] = ClassConsistency(
            pairwise=pairwise,
            center=center,
            dist=dist,
            mean=float(finite.mean()) if finite.size else float("nan"),
            std=float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
        )
        if progress is not None:
            progress(idx.size * (idx.size + 1) // 2)
    return result


def medoid_clips(
    clips: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    sample_rate: float,
    params: MfccParams = HTK_MFCC,
    max_per_class: int | None = None,
    seed: int = 0,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The most typical real clip of each class: the one with the least summed MFCC-DTW to the
    class's other clips. Scored as a centre by :func:`centroid_consistency`, it says what eq. 5.3
    reads for a perfect prototype of the class drawn from these clips.

    clips: [N, L]; labels: [N] -> (audio [n_classes, L] (zeros for absent classes),
    index [n_classes] into ``clips``, -1 for absent classes). ``max_per_class`` draws that many
    candidates per class (seeded); ``progress(n)`` gets the DTW pairs done per class.
    """
    clips = np.asarray(clips)
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    audio = np.zeros((n_classes, clips.shape[1]), clips.dtype)
    index = np.full(n_classes, -1)
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        if max_per_class is not None and idx.size > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        pairwise = mfcc_dtw_pairwise(mfcc_tracks(clips[idx], sample_rate, params))
        index[c] = idx[int(np.argmin(pairwise.sum(1)))]
        audio[c] = clips[index[c]]
        if progress is not None:
            progress(idx.size * (idx.size - 1) // 2)
    return audio, index


def rows_not_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a)] bool: which rows of a ([N, L]) are not, sample for sample, a row of b ([M, L])."""
    seen = {np.ascontiguousarray(row, np.float32).tobytes() for row in np.asarray(b)}
    return np.array([np.ascontiguousarray(row, np.float32).tobytes() not in seen
                     for row in np.asarray(a)], bool)


def real_take_candidates(train_clips: np.ndarray, train_labels: np.ndarray, clips: np.ndarray,
                         labels: np.ndarray) -> np.ndarray | None:
    """[M] bool over ``train_clips`` ([M, L]): the clips a real take may be drawn from, those
    that are not also scored (``clips`` [N, L]); None when a scored class (``labels`` [N]) has
    no candidate left."""
    keep = rows_not_in(train_clips, clips)
    kept_labels = np.asarray(train_labels).astype(int)[keep]
    if not all(np.any(kept_labels == c) for c in np.unique(np.asarray(labels).astype(int))):
        return None
    return keep


def real_take_consistency(
    train_clips: np.ndarray,
    train_labels: np.ndarray,
    clips: np.ndarray,
    labels: np.ndarray,
    sample_rate: float,
    class_names: list[str],
    max_per_class: int | None = None,
    seed: int = 0,
    progress=None,
) -> CentroidConsistency | None:
    """Eq. 5.1-5.3 on ``clips`` with each class's :func:`medoid_clips` among ``train_clips`` as
    the centre: a reference for a model's centroid dist (what a real take reaches).

    Training clips that are also scored are no candidates (a centre that is one of the scored
    clips sits at DTW 0 from it; :func:`real_take_candidates`). None when a scored class has no
    candidate left.
    train_clips: [M, L], train_labels: [M]; clips: [N, L], labels: [N] into ``class_names``.
    """
    keep = real_take_candidates(train_clips, train_labels, clips, labels)
    if keep is None:
        return None
    train_clips = np.asarray(train_clips)[keep]
    train_labels = np.asarray(train_labels).astype(int)[keep]
    medoids, _ = medoid_clips(train_clips, train_labels, len(class_names), sample_rate,
                              max_per_class=max_per_class, seed=seed, progress=progress)
    return centroid_consistency(clips, labels, medoids, sample_rate, class_names,
                                max_per_class=max_per_class, seed=seed, progress=progress)


# ----------------------------------------------------------------------------------------------
# Reconstruction, level, spectra


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Pooled signal-to-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - est)^2).

    reference, estimate: same shape ([L] or [N, L]). +inf for identical signals.
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {est.shape}")
    err = float(np.sum((ref - est) ** 2))
    sig = float(np.sum(ref**2))
    if err == 0.0:
        return float("inf")
    if sig == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(sig / err))


def snr_db_per_clip(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Per-clip SNR in dB: [N, L], [N, L] -> [N] (inf where identical)."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10((ref**2).sum(-1)) - 10.0 * np.log10(((ref - est) ** 2).sum(-1))


def rms_db(audio: np.ndarray, floor_db: float = -120.0) -> np.ndarray:
    """RMS level in dB re full scale: [N, L] -> [N] (or [L] -> scalar array), floored."""
    x = np.asarray(audio, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2, axis=-1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-30)), floor_db)


def centroid_level_db(centre_audio: np.ndarray, clips: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RMS level of each decoded class centre minus the median RMS level of its real clips.

    centre_audio: [C, L]; clips: [N, L]; labels: [N] -> [C] dB (NaN for classes without clips).
    A silent decoder shows as a large negative number.
    """
    centre_audio = np.atleast_2d(centre_audio)
    labels = np.asarray(labels).astype(int)
    clip_db = rms_db(clips)
    centre_db = rms_db(centre_audio)
    out = np.full(centre_audio.shape[0], np.nan)
    for c in range(centre_audio.shape[0]):
        if np.any(labels == c):
            out[c] = centre_db[c] - np.median(clip_db[labels == c])
    return out


@dataclass(frozen=True)
class LogMelParams:
    """Log-mel spectrogram used for the distances: about 32 ms Hann frames, 75 % overlap."""

    frame_ms: float = 32.0
    n_mels: int = 64
    # re full scale: quieter than this is "silence", so inaudible hiss in a decoded clip's padding
    # does not outweigh the sound itself
    floor_db: float = -60.0


def log_mel_db(audio: np.ndarray, sample_rate: float, params: LogMelParams = LogMelParams()) -> np.ndarray:
    """Log-mel power spectrogram in dB re full scale: [N, L] -> [N, n_mels, T] (floored).

    n_fft = next power of two >= frame_ms; hop n_fft / 4; periodic Hann; mel filters 0..sr/2
    (HTK mel scale, each filter normalised to unit sum so a full-scale sine reads about 0 dB).
    """
    x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    n_fft = 1 << int(np.ceil(np.log2(params.frame_ms * 1e-3 * sample_rate)))
    hop = n_fft // 4
    if x.shape[1] < n_fft:
        x = np.pad(x, ((0, 0), (0, n_fft - x.shape[1])))
    n_frames = (x.shape[1] - n_fft) // hop + 1
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spec = np.abs(np.fft.rfft(x[:, idx] * win, axis=-1)) ** 2  # [N, T, K]
    spec /= (win.sum() / 2.0) ** 2  # a full-scale sine peaks at 1
    fb = triangular_filterbank(params.n_mels, n_fft, sample_rate, 0.0, sample_rate / 2.0)
    fb /= np.maximum(fb.sum(1, keepdims=True), 1e-12)
    mel = spec @ fb.T  # [N, T, M]
    db = 10.0 * np.log10(np.maximum(mel, 10.0 ** (params.floor_db / 10.0)))
    return db.transpose(0, 2, 1)


def log_mel_distance(a: np.ndarray, b: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean absolute log-mel difference in dB between paired clips: [N, L], [N, L] -> [N]."""
    a = np.atleast_2d(a)
    b = np.atleast_2d(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return np.abs(log_mel_db(a, sample_rate) - log_mel_db(b, sample_rate)).mean(axis=(1, 2))


@dataclass
class ReconRatio:
    """recon_ratio = median reconstruction distance / median same-class real-pair distance."""

    ratio: float
    recon_median_db: float
    pair_median_db: float


def recon_ratio(
    clips: np.ndarray,
    recon: np.ndarray,
    labels: np.ndarray,
    sample_rate: float,
    max_pairs: int = 5000,
    seed: int = 0,
) -> ReconRatio:
    """How close reconstructions are to their sources, relative to two real clips of one class.

    clips, recon: [N, L]; labels: [N]. Below 1 means a reconstruction is nearer its own source than
    a typical other clip of the same class is: the model keeps what makes a clip itself.
    At most ``max_pairs`` same-class pairs (seeded draw) are measured.
    """
    clips = np.atleast_2d(clips)
    labels = np.asarray(labels).astype(int)
    rec = log_mel_distance(clips, recon, sample_rate)
    spec = log_mel_db(clips, sample_rate)
    pa, pb = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        iu, ju = np.triu_indices(idx.size, 1)
        pa.append(idx[iu])
        pb.append(idx[ju])
    pa = np.concatenate(pa) if pa else np.zeros(0, int)
    pb = np.concatenate(pb) if pb else np.zeros(0, int)
    if pa.size == 0:
        raise ValueError("recon_ratio needs at least one class with two clips")
    if pa.size > max_pairs:
        pick = np.random.default_rng(seed).choice(pa.size, max_pairs, replace=False)
        pa, pb = pa[pick], pb[pick]
    pair = np.abs(spec[pa] - spec[pb]).mean(axis=(1, 2))
    rm, pm = float(np.median(rec)), float(np.median(pair))
    return ReconRatio(ratio=rm / pm if pm > 0 else float("inf"), recon_median_db=rm, pair_median_db=pm)


def comb_excess_db(audio: np.ndarray, period: int) -> float:
    """How far the average spectrum of ``audio`` [N, L] peaks at multiples of sr / ``period``.

    Mean power spectrum of the clips (Hann window over the whole frame, so a component repeating
    every ``period`` samples falls exactly on the bins m * L / period); for each tooth
    m = 1 .. period/2 - 1: its bin's level in dB minus the mean level in dB of the bins between
    it and its neighbouring teeth (two bins clear); the mean over teeth. Both sides are levels
    of single bins, so sound without a comb reads about 0 dB however few clips there are; a
    decoder whose output repeats every ``period`` samples reads several dB (its buzz at
    sr / period Hz).
    """
    a = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    n = a.shape[1]
    if period < 4 or n % period:
        raise ValueError(f"period {period} must be >= 4 and divide the frame length {n}")
    step = n // period
    if step < 8:
        raise ValueError(f"frame of {n} samples too short for teeth every {step} bins")
    level = 10.0 * np.log10((np.abs(np.fft.rfft(a * np.hanning(n), axis=1)) ** 2).mean(0) + 1e-30)
    excess = []
    for m in range(1, period // 2):
        c = m * step
        between = np.r_[c - step // 2:c - 2, c + 3:c + step // 2]
        excess.append(level[c] - level[between].mean())
    return float(np.mean(excess))


HIGH_BAND_HZ = 11000.0  # above the 22.05 kHz presets' Nyquist: what a full-band decoder adds


# Below any drum's fundamental (kicks' 50-90 Hz): energy here is a sub-sonic lump that most
# speakers do not play but that counts in an RMS level (docs/notes/2026-12-05-fullband-sub-bass.md)
SUB_BASS_HZ = 40.0


def octave_edges(sample_rate: float, lowest_hz: float) -> list[float]:
    """Band edges in Hz: [0, lowest_hz, 2 lowest_hz, ...] while a band's top stays under 2/3 of
    Nyquist, then Nyquist (the last band is one to two octaves wide)."""
    nyquist = sample_rate / 2
    edges = [0.0, float(lowest_hz)]
    while 2 * edges[-1] < nyquist / 1.5:
        edges.append(2 * edges[-1])
    return edges + [nyquist]


def band_share(audio: np.ndarray, sample_rate: float, low_hz: float, high_hz: float = np.inf
               ) -> np.ndarray:
    """Share of each clip's energy in [low_hz, high_hz): audio [N, L] (or [L]) -> [N] in [0, 1]
    (0 for a silent clip). Power spectrum of the whole frame, no window: a one-shot starts and
    ends near silence."""
    a = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    power = np.abs(np.fft.rfft(a, axis=1)) ** 2
    freq = np.fft.rfftfreq(a.shape[1], 1.0 / sample_rate)
    total = power.sum(1)
    part = power[:, (freq >= low_hz) & (freq < high_hz)].sum(1)
    return np.where(total > 0, part / np.maximum(total, 1e-300), 0.0)


def high_band_share(audio: np.ndarray, sample_rate: float, cutoff_hz: float = HIGH_BAND_HZ
                    ) -> np.ndarray:
    """Share of each clip's energy above ``cutoff_hz`` (``band_share``; 0 for every clip when
    Nyquist is below the cutoff): audio [N, L] (or [L]) -> [N]."""
    return band_share(audio, sample_rate, cutoff_hz)


def sub_bass_share(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Share of each clip's energy below ``SUB_BASS_HZ``: audio [N, L] (or [L]) -> [N]."""
    return band_share(audio, sample_rate, 0.0, SUB_BASS_HZ)


def share_db(share, floor_db: float = -120.0):
    """10 log10(share), floored: shares [N] (or a scalar) -> dB."""
    return np.maximum(10.0 * np.log10(np.maximum(share, 1e-300)), floor_db)


def strongest_comb(audio: np.ndarray, min_period: int = 8) -> tuple[int, float]:
    """(period, excess dB) of the power-of-two period whose comb (``comb_excess_db``) is the
    strongest in ``audio`` [N, L]: periods from ``min_period`` to L / 8."""
    n = np.atleast_2d(audio).shape[1]
    periods = [p for p in (2 ** k for k in range(3, 20)) if min_period <= p <= n // 8 and not n % p]
    if not periods:
        raise ValueError(f"no power-of-two period fits a frame of {n} samples")
    scores = {p: comb_excess_db(audio, p) for p in periods}
    best = max(scores, key=scores.get)
    return best, scores[best]


# ----------------------------------------------------------------------------------------------
# Latent statistics and morphs


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray, prior_var: float = 1.0) -> np.ndarray:
    """Mean over clips of KL(N(mu, e^logvar) || N(0, prior_var)) per latent dimension, in nats.

    mu, logvar: [N, D] -> [D].
    """
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    kl = 0.5 * ((np.exp(logvar) + mu**2) / prior_var - 1.0 - logvar + np.log(prior_var))
    return kl.mean(0)


def active_dims(kl: np.ndarray, threshold: float = 0.01) -> int:
    """Number of latent dimensions whose mean KL exceeds ``threshold`` nats. kl: [D]."""
    return int(np.sum(np.asarray(kl) > threshold))


def morph_path(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from latent a [D] to b [D] in ``steps`` points, both ends included -> [steps, D]."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1.0 - t) * np.asarray(a)[None] + t * np.asarray(b)[None]).astype(np.float32)


def morph_steps_db(frames: np.ndarray, sample_rate: float) -> np.ndarray:
    """Log-mel distance between adjacent frames of a morph: [S, L] -> [S - 1] dB."""
    frames = np.asarray(frames)
    return log_mel_distance(frames[:-1], frames[1:], sample_rate)


def morph_smoothness(frames: np.ndarray, sample_rate: float) -> float:
    """Largest adjacent-step log-mel distance of a morph relative to the mean step: [S, L] -> float.

    1.0 is a perfectly even morph; a value near S - 1 means the whole change happens in one jump.
    A morph whose frames never change (mean step 0) counts as even (1.0).
    """
    steps = morph_steps_db(frames, sample_rate)
    mean = float(steps.mean())
    return 1.0 if mean <= 0 else float(steps.max() / mean)
