"""Agreement figures against values computed by hand (worked out in the comments)."""

import pytest

from synthempathy.epitome.agreement import accuracy, confusion, distribution, macro_f1, quadratic_weighted_kappa, report


def test_balanced_example():
    human = [0, 0, 1, 1, 2, 2]
    judge = [0, 1, 1, 2, 2, 0]
    assert confusion(human, judge) == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    assert accuracy(human, judge) == 0.5
    assert macro_f1(human, judge) == pytest.approx(0.5)  # every class: tp 1, 2 true, 2 predicted -> 2/4
    # observed weighted misses: 0->1 (1/4) + 1->2 (1/4) + 2->0 (1) = 1.5
    # expected: every cell 2*2/6 = 2/3, weights sum to 3 -> 2; kappa = 1 - 1.5/2
    assert quadratic_weighted_kappa(human, judge) == pytest.approx(0.25)


def test_unbalanced_example_skips_a_class_nobody_used():
    human = [0, 0, 0, 2]
    judge = [0, 0, 2, 2]
    # class 0: tp 2, 3 true, 2 predicted -> 4/5; class 2: tp 1, 1 true, 2 predicted -> 2/3; class 1 unused
    assert macro_f1(human, judge) == pytest.approx((0.8 + 2 / 3) / 2)
    # observed: one 0->2 miss (weight 1) = 1; expected: 0->2 3*2/4 + 2->0 1*2/4 = 2 -> kappa 0.5
    assert quadratic_weighted_kappa(human, judge) == pytest.approx(0.5)
    assert accuracy(human, judge) == 0.75


def test_kappa_bounds():
    assert quadratic_weighted_kappa([0, 1, 2, 2], [0, 1, 2, 2]) == 1.0
    assert quadratic_weighted_kappa([0, 1, 2], [1, 1, 1]) == pytest.approx(0.0)  # a constant judge is chance
    assert quadratic_weighted_kappa([1, 1], [1, 1]) == 0.0  # undefined: reported as 0
    assert quadratic_weighted_kappa([0, 2], [2, 0]) == pytest.approx(-1.0)


def test_report_and_errors():
    out = report([0, 1, 2, 2], [0, 2, 2, 2])
    assert out["n"] == 4 and out["accuracy"] == 0.75
    assert out["human_distribution"] == [0.25, 0.25, 0.5] and out["judge_distribution"] == [0.25, 0.0, 0.75]
    assert out["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert distribution([]) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="3 human labels but 2 judge labels"):
        confusion([0, 1, 2], [0, 1])
