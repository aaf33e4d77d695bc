"""Fit-mode geometry: exact output size, centred crops, no zero-size intermediates."""

import pytest

from resizer.geometry import plan


@pytest.mark.parametrize("src", [(1, 1), (1, 10000), (10000, 1), (6000, 2), (640, 480), (99, 101)])
@pytest.mark.parametrize("box", [(100, 100), (1, 1), (64, 32)])
@pytest.mark.parametrize("fit", ["cover", "contain", "fill"])
def test_every_plan_is_valid_for_extreme_shapes(src, box, fit):
    p = plan(src, box, fit)
    assert p.box == box
    assert all(s >= 1 for s in p.scaled) and p.scaled[0] <= box[0] and p.scaled[1] <= box[1]
    left, top, right, bottom = p.crop
    assert 0 <= left < right <= src[0] and 0 <= top < bottom <= src[1]
    assert p.offset[0] + p.scaled[0] <= box[0] and p.offset[1] + p.scaled[1] <= box[1]


def test_cover_crops_the_centre_of_a_wide_image():
    p = plan((400, 100), (100, 100), "cover")
    assert p.crop == (150.0, 0.0, 250.0, 100.0) and p.scaled == (100, 100)


def test_contain_scales_to_fit_and_centres():
    p = plan((400, 100), (100, 100), "contain")
    assert p.scaled == (100, 25) and p.offset == (0, 37)


def test_unknown_fit_and_empty_sizes_are_errors():
    with pytest.raises(ValueError):
        plan((10, 10), (10, 10), "stretch")
    with pytest.raises(ValueError):
        plan((0, 10), (10, 10), "cover")
