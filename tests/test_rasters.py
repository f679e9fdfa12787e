"""Image views: exact colours at known pixels, pitch upward."""
from __future__ import annotations

import numpy as np

from midi_rae.figures import EMPTY, FN_COLOUR, FP_COLOUR, HIGHLIGHT, MASKED, NON_EMPTY, NOTE, TP_COLOUR
from midi_rae.rasters import (difference_image, diverging, level_mask_images, reconstruction_images, rgb, upscale,
                              viridis)


def test_viridis_ends_are_dark_purple_and_yellow():
    assert viridis(np.array([0.0, 1.0])).tolist() == [[68, 1, 84], [253, 231, 37]]


def test_diverging_runs_from_dark_blue_through_near_white_to_dark_red():
    assert diverging(np.array([-1.0, 0.0, 1.0])).tolist() == [[5, 48, 97], [247, 247, 247], [103, 0, 31]]


def test_difference_image_is_red_where_b_is_higher_blue_where_a_is_and_sized_as_the_panels():
    a, b = np.zeros((128, 128)), np.zeros((128, 128))
    b[60, 5] = 1.0   # B sure of a note A does not see
    a[70, 9] = 1.0   # and the other way round
    img = difference_image(a, b, scale=1, aspect=1 / 128)
    panels = reconstruction_images(a > 0, np.zeros((128, 128), bool), a, a > 0, scale=1, aspect=1 / 128)
    assert img.shape == panels["probs"].shape == (130, 130, 3)
    img = img[1:-1, 1:-1]
    assert img[127 - 60, 5].tolist() == [103, 0, 31]
    assert img[127 - 70, 9].tolist() == [5, 48, 97]
    assert img[127 - 10, 10].tolist() == [247, 247, 247]


def test_upscale_repeats_pixels_into_blocks():
    assert upscale(np.array([[1, 2]]), 2, rows=3).tolist() == [[1, 1, 2, 2]] * 3


def test_error_panel_colours_right_extra_and_missed_notes():
    original = np.zeros((128, 128), np.uint8)
    binary = np.zeros((128, 128), np.uint8)
    original[10, 10] = binary[10, 10] = 1   # right
    binary[20, 20] = 1                      # extra
    original[30, 30] = 1                    # missed
    img = reconstruction_images(original, np.zeros((128, 128), bool), np.zeros((128, 128)), binary, scale=1,
                                aspect=1 / 128)["errors"]
    assert img.shape == (130, 130, 3)  # with its 1-pixel frame
    img = img[1:-1, 1:-1]
    # pitch upward: pitch p is image row 127 - p
    assert img[127 - 10, 10].tolist() == rgb(TP_COLOUR).tolist()
    assert img[127 - 20, 20].tolist() == rgb(FP_COLOUR).tolist()
    assert img[127 - 30, 30].tolist() == rgb(FN_COLOUR).tolist()
    assert img[127 - 40, 40].tolist() == [255, 255, 255]


def test_masked_input_paints_hidden_pixels_in_the_mask_colour_and_a_pitch_range_crops_rows():
    original = np.zeros((128, 128), np.uint8)
    original[60, :] = 1
    hidden = np.zeros((128, 128), bool)
    hidden[:, 64:] = True
    imgs = reconstruction_images(original, hidden, np.zeros((128, 128)), original, pitch_range=(48, 71), scale=1,
                                 aspect=24 / 128)
    masked = imgs["masked"][1:-1, 1:-1]
    assert masked.shape == (24, 128, 3)
    row = 71 - 60  # pitch 60 in a 48..71 crop, pitch upward
    assert masked[row, 0].tolist() == rgb(NOTE).tolist()
    assert masked[row, 100].tolist() == rgb(MASKED).tolist() == masked[0, 100].tolist()


def test_a_zoomed_range_keeps_its_panels_about_three_quarters_as_tall_as_wide():
    z = np.zeros((128, 128))
    img = reconstruction_images(z, z.astype(bool), z, z, pitch_range=(48, 71))["original"][1:-1, 1:-1]
    assert img.shape[1] == 256 and abs(img.shape[0] / img.shape[1] - 0.75) < 0.1


def test_level_masks_colour_non_empty_patches_and_outline_the_highlight():
    window = np.zeros((128, 128), np.uint8)
    window[100, 10] = 1  # a note in the top-left 2×2 patch (rows 64–127 of the pitch axis, steps 0–63)
    ne = [np.array([[True]]), np.array([[False, False], [True, False]])]
    imgs = level_mask_images(ne, window, highlight={1: [2]}, scale=1)
    assert len(imgs) == 2
    top_right, top_left_inner, bottom_right = imgs[1][10, 100], imgs[1][10, 10], imgs[1][100, 100]
    assert top_left_inner.tolist() == rgb(NON_EMPTY).tolist()
    assert top_right.tolist() == bottom_right.tolist() == rgb(EMPTY).tolist()
    assert imgs[1][27, 10].tolist() == rgb(NOTE).tolist()       # the note: pitch 100 is row 127 - 100
    assert imgs[1][0, 30].tolist() == rgb(HIGHLIGHT).tolist()  # outline along the highlighted patch's top
