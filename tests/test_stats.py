from synthempathy.records import Reject
from synthempathy.stats import funnel, word_stats


def test_word_stats_values():
    stats = word_stats(["one two", "one two three four", "a b c d e f"])
    assert stats == {"n": 3, "mean": 4.0, "std": 1.63, "p10": 2.0, "p50": 4.0, "p90": 6.0}
    assert word_stats([])["n"] == 0


def test_funnel_rebuilds_counts_from_rejects():
    rejects = [Reject(id=str(i), stage=s, reason="x") for i, s in enumerate(["brainstorm", "respond", "respond", "filter"])]
    assert funnel(5, rejects) == {"brainstorm_in": 9, "rewrite_in": 8, "respond_in": 8, "filter_in": 6, "corpus": 5}
