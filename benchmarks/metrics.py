"""Image quality metrics shared by the benchmarks.

PSNR and SSIM come from :mod:`skimage.metrics`; the two detail metrics below are not in
scikit-image. Both take the clean reference first and accept 2-D images or colour images
with the channels on the last axis (``channel_axis=-1``).
"""
import numpy as np
from scipy import ndimage as ndi
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim", "gmsd", "epi"]


def _channels(image, channel_axis):
    image = np.asarray(image, dtype=np.float64)
    if channel_axis is None:
        return image[..., np.newaxis]
    return np.moveaxis(image, channel_axis, -1)


def psnr(clean, denoised, data_range=255.0):
    """Peak signal-to-noise ratio in dB over every pixel and channel."""
    return peak_signal_noise_ratio(np.asarray(clean, np.float64),
                                   np.asarray(denoised, np.float64), data_range=data_range)


def ssim(clean, denoised, data_range=255.0, channel_axis=None):
    """Mean structural similarity (Wang et al. 2004, scikit-image's defaults)."""
    return structural_similarity(np.asarray(clean, np.float64),
                                 np.asarray(denoised, np.float64),
                                 data_range=data_range, channel_axis=channel_axis)


def gmsd(clean, denoised, data_range=255.0, channel_axis=None):
    """Gradient magnitude similarity deviation; lower is better.

    Xue, Zhang, Mou & Bovik, "Gradient magnitude similarity deviation: a highly
    efficient perceptual image quality index", IEEE TIP 23(2), 2014: both images are
    averaged over 2x2 blocks and subsampled by two, gradient magnitudes come from the
    Prewitt operators scaled by 1/3, and the score is the standard deviation of the
    pointwise similarity map with stabilising constant c = 0.0026 * data_range**2
    (170 for 8-bit data). Colour channels are scored together: their similarity maps
    are pooled into one standard deviation.
    """
    c = 0.0026 * float(data_range) ** 2
    prewitt = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0
    maps = []
    for ref, dist in zip(np.moveaxis(_channels(clean, channel_axis), -1, 0),
                         np.moveaxis(_channels(denoised, channel_axis), -1, 0)):
        magnitudes = []
        for plane in (ref, dist):
            # The paper's 2x2 average then decimation; ``origin`` aligns the block.
            plane = ndi.uniform_filter(plane, 2, mode="nearest", origin=-1)[::2, ::2]
            gx = ndi.correlate(plane, prewitt, mode="nearest")
            gy = ndi.correlate(plane, prewitt.T, mode="nearest")
            magnitudes.append(np.hypot(gx, gy))
        mr, md = magnitudes
        maps.append((2.0 * mr * md + c) / (mr * mr + md * md + c))
    return float(np.std(np.concatenate([m.ravel() for m in maps])))


def epi(clean, denoised, channel_axis=None):
    """Edge preservation index: correlation of the Laplacians of the two images.

    The Laplacian is the 3x3 five-point stencil with nearest-neighbour borders; the
    index is the Pearson correlation of the two Laplacian images over all pixels (and
    channels), 1 for perfectly kept edges and fine detail, near 0 when they are lost.
    Laplacian-domain correlation as an edge-preservation measure follows Sattar et al.,
    "Image enhancement based on a nonlinear multiscale method", IEEE TIP 6(6), 1997.
    """
    lc, ld = [], []
    for ref, dist in zip(np.moveaxis(_channels(clean, channel_axis), -1, 0),
                         np.moveaxis(_channels(denoised, channel_axis), -1, 0)):
        lc.append(ndi.laplace(ref, mode="nearest").ravel())
        ld.append(ndi.laplace(dist, mode="nearest").ravel())
    a = np.concatenate(lc)
    b = np.concatenate(ld)
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator) if denominator > 0 else 0.0
