import copy
import math

import pytest

from continual.evaluation import metrics

# After exp 0: learned exp 0 well. After exp 1: exp 0 improved (positive backward effect), then
# dropped after exp 2. Chaudhry forgetting uses the best earlier value; BWT uses the diagonal.
R = [
    [0.8, 0.1, 0.2],
    [0.9, 0.7, 0.3],
    [0.5, 0.6, 0.9],
]
B = [0.1, 0.2, 0.25]


def test_average_accuracy_is_mean_of_last_row():
    assert metrics.average_accuracy(R) == pytest.approx((0.5 + 0.6 + 0.9) / 3)


def test_average_incremental_accuracy():
    expected = (0.8 + (0.9 + 0.7) / 2 + (0.5 + 0.6 + 0.9) / 3) / 3
    assert metrics.average_incremental_accuracy(R) == pytest.approx(expected)


def test_learning_accuracy_is_mean_of_diagonal():
    assert metrics.learning_accuracy(R) == pytest.approx((0.8 + 0.7 + 0.9) / 3)


def test_chaudhry_forgetting_differs_from_bwt():
    # exp 0: max(0.8, 0.9) - 0.5 = 0.4 ; exp 1: max(0.7) - 0.6 = 0.1
    assert metrics.forgetting_per_experience(R) == pytest.approx([0.4, 0.1])
    assert metrics.forgetting(R) == pytest.approx(0.25)
    # BWT: (0.5 - 0.8) and (0.6 - 0.7)
    assert metrics.bwt_per_experience(R) == pytest.approx([-0.3, -0.1])
    assert metrics.bwt(R) == pytest.approx(-0.2)
    assert metrics.forgetting(R) != pytest.approx(-metrics.bwt(R))


def test_forward_transfer_uses_initial_accuracy():
    # j=1: R[0][1] - b[1] = 0.1 - 0.2 ; j=2: R[1][2] - b[2] = 0.3 - 0.25
    assert metrics.fwt_per_experience(R, B) == pytest.approx([-0.1, 0.05])
    assert metrics.fwt(R, B) == pytest.approx(-0.025)


def test_single_experience_has_no_forgetting_or_transfer():
    assert metrics.forgetting([[0.7]]) is None
    assert metrics.bwt([[0.7]]) is None
    assert metrics.fwt([[0.7]], [0.1]) is None
    assert metrics.average_accuracy([[0.7]]) == pytest.approx(0.7)


def test_inputs_are_not_modified():
    matrix, initial = copy.deepcopy(R), list(B)
    metrics.summarize(matrix, initial)
    assert matrix == R and initial == B


def test_summarize_nulls_fwt_when_undefined():
    summary = metrics.summarize(R, B, fwt_defined=False)
    assert summary["fwt"] is None and summary["per_experience"]["fwt"] is None
    assert summary["forgetting"] == pytest.approx(0.25)
    assert all(not isinstance(v, float) or math.isfinite(v) for v in summary.values())


def test_non_square_matrix_is_refused():
    with pytest.raises(ValueError):
        metrics.average_accuracy([[0.1, 0.2]])


# Published variants (shown by continual.compare --metric-variant), on a hand-written matrix.
HAND_MATRIX = [[0.9, 0.1, 0.0], [0.6, 0.8, 0.2], [0.5, 0.7, 0.9]]


def test_avalanche_forgetting_is_minus_bwt_not_chaudhry():
    matrix = copy.deepcopy(HAND_MATRIX)
    assert metrics.avalanche_forgetting(matrix) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)
    assert metrics.avalanche_forgetting(matrix) == pytest.approx(-metrics.bwt(matrix))
    # max over i <= T-2 is on the diagonal here, so Chaudhry's forgetting agrees
    assert metrics.forgetting(matrix) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)
    assert matrix == HAND_MATRIX  # input untouched
    # where the maximum is not on the diagonal, Chaudhry's forgetting and Avalanche's differ
    peaked = [[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.4, 0.6, 0.9]]
    assert metrics.forgetting(peaked) == pytest.approx(((0.9 - 0.4) + (0.8 - 0.6)) / 2)
    assert metrics.avalanche_forgetting(peaked) == pytest.approx(((0.5 - 0.4) + (0.8 - 0.6)) / 2)


def test_diaz_rodriguez_bwt_averages_every_earlier_pair():
    matrix = copy.deepcopy(HAND_MATRIX)
    pairs = (0.6 - 0.9) + (0.5 - 0.9) + (0.7 - 0.8)  # (i, j) = (1, 0), (2, 0), (2, 1)
    assert metrics.diaz_rodriguez_bwt(matrix) == pytest.approx(pairs / 3)
    assert metrics.diaz_rodriguez_bwt(R) != pytest.approx(metrics.bwt(R))  # not the final row only
    assert matrix == HAND_MATRIX


def test_variants_undefined_for_one_experience():
    assert metrics.avalanche_forgetting([[0.7]]) is None
    assert metrics.diaz_rodriguez_bwt([[0.7]]) is None


# Whether FWT is defined follows from the scenario and the head together (docs/design.md, Metrics).
@pytest.mark.parametrize("scenario, head, defined", [
    ("class", "incremental", False),  # masked growing head: R[j-1][j] = 0 by construction
    ("class", "multi", False),  # the one task head grows the same way
    ("task", "multi", False),  # experience j's head is untrained before j
    ("class", "fixed", True),
    ("task", "fixed", True),
    ("domain", "fixed", True),
    ("domain", "incremental", True),
    ("domain", "multi", True),
    ("task", "incremental", True),  # one shared head, trained from the first task on
])
def test_fwt_is_defined_by_scenario_and_head(scenario, head, defined):
    reason = metrics.fwt_undefined_reason(scenario, head)
    assert (reason is None) == defined
    if reason is not None:
        assert reason.startswith("fwt is null") and "\n" not in reason
    summary = metrics.summarize(R, B, fwt_defined=reason is None)
    assert (summary["fwt"] is not None) == defined
    assert (summary["per_experience"]["fwt"] is not None) == defined
