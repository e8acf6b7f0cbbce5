"""Zero-shot retrieval (methods_spec_part2.md §7.9): P@k and full-ranking mAP against hand-computed values."""

import math

import pytest
import torch

from zsl_pipeline.evaluation.retrieval import class_queries, retrieval_metrics, zero_shot_retrieval

# A 1-d test-unseen database: positions 0..5 with labels of the two unseen classes 7 and 9.
UNSEEN_X = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
UNSEEN_Y = torch.tensor([7, 9, 7, 7, 9, 9])
QUERIES = torch.tensor([[0.0], [5.0]])  # class 7 at x = 0, class 9 at x = 5
QUERY_CLASSES = torch.tensor([7, 9])

# By hand (ZSR, database = UNSEEN):
#   query 7 @ 0: distances 0,1,2,3,4,5 -> labels in rank order 7,9,7,7,9,9; relevant at ranks 1,3,4, R = 3
#       P@2 = 1/2, P@3 = 2/3, AP = (1/1 + 2/3 + 3/4) / 3 = (29/12) / 3 = 29/36
#   query 9 @ 5: rank order x = 5,4,3,2,1,0 -> labels 9,9,7,7,9,7; relevant at ranks 1,2,5, R = 3
#       P@2 = 2/2 = 1, P@3 = 2/3, AP = (1/1 + 2/2 + 3/5) / 3 = (13/5) / 3 = 13/15
#   mean P@2 = (1/2 + 1) / 2 = 3/4, mean P@3 = (2/3 + 2/3) / 2 = 2/3, mAP = (29/36 + 13/15) / 2 = 301/360
ZSR_AP = [29 / 36, 13 / 15]


@pytest.mark.parametrize(
    ("k", "per_class_precision", "precision"),
    [(2, [1 / 2, 1.0], 3 / 4), (3, [2 / 3, 2 / 3], 2 / 3)],
)
def test_precision_at_k_and_map_by_hand(k, per_class_precision, precision):
    out = retrieval_metrics(QUERIES, QUERY_CLASSES, UNSEEN_X, UNSEEN_Y, k=k)
    assert out["k"] == k and out["classes"] == [7, 9]
    assert out["per_class_precision"] == pytest.approx(per_class_precision)
    assert out["precision_at_k"] == pytest.approx(precision)
    assert out["per_class_ap"] == pytest.approx(ZSR_AP)
    assert out["map"] == pytest.approx(301 / 360)
    assert isinstance(out["map"], float) and isinstance(out["precision_at_k"], float)


def test_chunking_does_not_change_the_result():
    full = retrieval_metrics(QUERIES, QUERY_CLASSES, UNSEEN_X, UNSEEN_Y, k=3)
    one_query_per_chunk = retrieval_metrics(QUERIES, QUERY_CLASSES, UNSEEN_X, UNSEEN_Y, k=3, max_elements=1)
    assert one_query_per_chunk == full


def test_two_dimensional_database_by_hand():
    # Query class 1 at the origin, class 2 at (10, 10); the database points' distance order is obvious.
    db_x = torch.tensor([[10.0, 9.0], [0.0, 1.0], [0.0, 3.0], [2.0, 0.0], [10.0, 10.0]])
    db_y = torch.tensor([2, 1, 2, 1, 1])
    queries = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    out = retrieval_metrics(queries, torch.tensor([1, 2]), db_x, db_y, k=2)
    # class 1 @ (0,0): distances 1 (y1), 2 (y1), 3 (y2), ~13.5 (y2), ~14.1 (y1) -> 1,1,2,2,1;
    #   relevant ranks 1,2,5, R = 3: P@2 = 1, AP = (1 + 1 + 3/5) / 3 = 13/15
    # class 2 @ (10,10): distances 0 (y1), 1 (y2), ~12.2 (y2), ~12.8 (y1), ~13.5 (y1) -> 1,2,2,1,1;
    #   relevant ranks 2,3, R = 2: P@2 = 1/2, AP = (1/2 + 2/3) / 2 = 7/12
    assert out["per_class_precision"] == pytest.approx([1.0, 0.5])
    assert out["per_class_ap"] == pytest.approx([13 / 15, 7 / 12])
    assert out["map"] == pytest.approx((13 / 15 + 7 / 12) / 2)


def test_ties_keep_database_order():
    # All three items at distance 1 from the query (x = 0): the stable sort keeps database order.
    db_x = torch.tensor([[1.0], [-1.0], [1.0]])
    # order 9, 7, 7: relevant at ranks 2, 3 (R = 2): P@1 = 0, P@2 = 1/2, AP = (1/2 + 2/3) / 2 = 7/12
    out = retrieval_metrics(torch.tensor([[0.0]]), torch.tensor([7]), db_x, torch.tensor([9, 7, 7]), k=1)
    assert out["precision_at_k"] == 0.0 and out["map"] == pytest.approx(7 / 12)
    # order 7, 9, 7: relevant at ranks 1, 3: P@1 = 1, AP = (1 + 2/3) / 2 = 5/6
    out = retrieval_metrics(torch.tensor([[0.0]]), torch.tensor([7]), db_x, torch.tensor([7, 9, 7]), k=1)
    assert out["precision_at_k"] == 1.0 and out["map"] == pytest.approx(5 / 6)


def test_class_without_relevant_items_is_excluded_from_map():
    queries = torch.tensor([[0.0], [5.0], [2.5]])
    out = retrieval_metrics(queries, torch.tensor([7, 9, 8]), UNSEEN_X, UNSEEN_Y, k=2)
    assert out["per_class_ap"][:2] == pytest.approx(ZSR_AP) and math.isnan(out["per_class_ap"][2])
    assert out["map"] == pytest.approx(301 / 360)  # mean over classes 7 and 9 only
    # P@k still averages over all query classes; class 8 retrieves nothing relevant (0).
    assert out["per_class_precision"] == pytest.approx([1 / 2, 1.0, 0.0])
    assert out["precision_at_k"] == pytest.approx((1 / 2 + 1.0 + 0.0) / 3)
    only_missing = retrieval_metrics(queries[2:], torch.tensor([8]), UNSEEN_X, UNSEEN_Y, k=2)
    assert math.isnan(only_missing["map"]) and only_missing["precision_at_k"] == 0.0


def test_k_outside_the_database_is_rejected():
    with pytest.raises(ValueError):
        retrieval_metrics(QUERIES, QUERY_CLASSES, UNSEEN_X, UNSEEN_Y, k=7)
    with pytest.raises(ValueError):
        retrieval_metrics(QUERIES, QUERY_CLASSES, UNSEEN_X, UNSEEN_Y, k=0)


def test_class_queries_are_class_means():
    x = torch.tensor([[1.0, 2.0], [4.0, 0.0], [3.0, 4.0], [100.0, 100.0], [-2.0, 6.0], [0.0, 1.0]])
    y = torch.tensor([7, 9, 7, 1, 9, 9])  # class 1 is not queried and must be ignored
    q = class_queries(x, y, torch.tensor([9, 7]))
    # class 9: mean of (4,0), (-2,6), (0,1) = (2/3, 7/3); class 7: mean of (1,2), (3,4) = (2, 3)
    assert q.dtype == x.dtype and q.shape == (2, 2)
    assert torch.allclose(q, torch.tensor([[2 / 3, 7 / 3], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="no synthetic features"):
        class_queries(x, y, torch.tensor([7, 8]))


def test_zsr_and_gzsr_databases():
    # Synthetic features whose class means are the QUERIES above (seen class 1's samples are ignored).
    syn_x = torch.tensor([[-1.0], [4.0], [1.0], [6.0], [50.0]])
    syn_y = torch.tensor([7, 9, 7, 9, 1])
    # Seen-class distractors, each nearer to one query than all but the nearest unseen item.
    seen_x = torch.tensor([[-0.5], [5.25]])
    seen_y = torch.tensor([1, 1])
    tests = dict(test_seen_x=seen_x, test_seen_y=seen_y, test_unseen_x=UNSEEN_X, test_unseen_y=UNSEEN_Y)
    out2 = zero_shot_retrieval(syn_x, syn_y, **tests, unseen_classes=torch.tensor([7, 9]), k=2)
    out3 = zero_shot_retrieval(syn_x, syn_y, **tests, unseen_classes=torch.tensor([7, 9]), k=3)
    # ZSR: database = test-unseen only, the hand values of the first test.
    assert out2["zsr"]["precision_at_k"] == pytest.approx(3 / 4)
    assert out3["zsr"]["precision_at_k"] == pytest.approx(2 / 3)
    assert out2["zsr"]["map"] == pytest.approx(301 / 360)
    # GZSR: database = test-seen + test-unseen (8 items), R_c unchanged (3 each).
    #   query 7 @ 0: x = 0(7), -0.5(1), 1(9), 2(7), 3(7), 4(9), 5(9), 5.25(1) -> relevant ranks 1,4,5
    #       P@2 = 1/2, P@3 = 1/3, AP = (1 + 2/4 + 3/5) / 3 = 0.7
    #   query 9 @ 5: x = 5(9), 5.25(1), 4(9), 3(7), 2(7), 1(9), 0(7), -0.5(1) -> relevant ranks 1,3,6
    #       P@2 = 1/2, P@3 = 2/3, AP = (1 + 2/3 + 3/6) / 3 = 13/18
    #   mean P@2 = 1/2 (ZSR 3/4: -1/4), mean P@3 = 1/2 (ZSR 2/3: -1/6),
    #   mAP = (0.7 + 13/18) / 2 = 32/45 (ZSR 301/360: -45/360 = -1/8)
    assert out2["gzsr"]["per_class_ap"] == pytest.approx([0.7, 13 / 18])
    assert out2["gzsr"]["precision_at_k"] == pytest.approx(1 / 2)
    assert out3["gzsr"]["per_class_precision"] == pytest.approx([1 / 3, 2 / 3])
    assert out2["gzsr"]["map"] == pytest.approx(32 / 45)
    assert out2["zsr"]["map"] - out2["gzsr"]["map"] == pytest.approx(1 / 8)
    assert out2["zsr"]["precision_at_k"] - out2["gzsr"]["precision_at_k"] == pytest.approx(1 / 4)
    assert out3["zsr"]["precision_at_k"] - out3["gzsr"]["precision_at_k"] == pytest.approx(1 / 6)


def test_default_k_is_the_published_five():
    syn_x, syn_y = QUERIES.clone(), QUERY_CLASSES.clone()
    out = zero_shot_retrieval(
        syn_x,
        syn_y,
        test_seen_x=UNSEEN_X[:0],
        test_seen_y=UNSEEN_Y[:0],
        test_unseen_x=UNSEEN_X,
        test_unseen_y=UNSEEN_Y,
        unseen_classes=QUERY_CLASSES,
    )
    assert out["zsr"]["k"] == out["gzsr"]["k"] == 5
    # With no seen images the GZSR database equals the ZSR one.
    assert out["zsr"] == out["gzsr"]
